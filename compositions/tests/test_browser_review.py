"""See what you made, in a real browser at desktop and phone sizes: compare (side by side and a
keyboard-operable slider), lineage, history search and filters in the URL, a share link seen
signed out, revoked at once, and the usage page's per-composition lines. Screenshots go to
artifacts/screenshots/."""

import os
import re
from pathlib import Path

import pytest
from django.conf import settings

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # sync Playwright runs an event loop
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SHOTS = Path(settings.BASE_DIR) / "artifacts" / "screenshots"
SIZES = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(scope="session")
def browser_type_launch_args():
    return {
        "executable_path": "/usr/bin/chromium",
        "args": ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
    }


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"review-{name}.png"), full_page=True)


def no_sideways_scroll(page):
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{page.url} is {width}px wide"


def sign_in(context, live_server, user):
    from django.conf import settings as dj
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = dj.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    host = live_server.url.split("//")[1].split(":")[0]
    context.add_cookies(
        [
            {
                "name": dj.SESSION_COOKIE_NAME,
                "value": session.session_key,
                "domain": host,
                "path": "/",
            }
        ]
    )


@pytest.fixture
def made(owner):
    from billing.models import Plan
    from compositions.services import create_variation
    from compositions.tasks import run_composition
    from compositions.tests.factories import compose

    Plan.objects.update(daily_images_per_member=100)
    parent = compose(owner, prompt="The cat from image 1 beside the cup from image 2")
    run_composition(parent.public_id)
    child = create_variation(source=parent, user=owner)
    run_composition(child.public_id)
    for i in range(13):
        compose(owner, prompt=f"lighthouse at dusk number {i}", preset="collage")
    parent.refresh_from_db()
    child.refresh_from_db()
    return parent, child


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_compare_lineage_history_share_usage(browser, live_server, owner, made, size):
    from playwright.sync_api import expect

    parent, child = made
    context = browser.new_context(viewport=SIZES[size])
    sign_in(context, live_server, owner)
    page = context.new_page()

    # Compare: side by side, then the slider, moved with the keyboard.
    page.goto(live_server.url + child.get_absolute_url())
    compare = page.locator("#compare")
    expect(compare.get_by_role("heading", name="Compare")).to_be_visible()
    expect(page.locator("#side-left")).to_be_visible()
    page.select_option("#compare-right", label=f"Parent {parent.public_id}, result 1")
    expect(page.locator("#side-right-label")).to_have_text(f"Parent {parent.public_id}, result 1")
    page.get_by_label("Slider").check()
    slider = page.get_by_role("slider")
    expect(slider).to_be_visible()
    expect(page.locator("#compare-side")).to_be_hidden()
    slider.focus()
    for _ in range(10):
        page.keyboard.press("ArrowRight")
    expect(slider).to_have_value("60")
    assert "inset(0px 40%" in page.locator("#wipe-left").evaluate("e => e.style.clipPath")
    page.keyboard.press("Home")
    expect(slider).to_have_value("0")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.locator("#compare").scroll_into_view_if_needed()
    # Lineage: the parent above this one, linked.
    lineage = page.locator(".lineage")
    expect(lineage.get_by_role("link", name=re.compile(parent.public_id))).to_be_visible()
    no_sideways_scroll(page)
    shot(page, f"detail-compare-{size}")

    # Keep: star it and add it to a new collection.
    page.get_by_role("button", name="☆ Add to favourites").click()
    expect(page.get_by_role("button", name="★ Favourite")).to_be_visible()
    page.get_by_label("Add to a new collection").fill("Cats")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator(".chips")).to_contain_text("Cats")

    # History: search and filters live in the URL; the next page keeps them; back works.
    page.goto(live_server.url + "/history/")
    page.get_by_label("Search prompts").fill("lighthouse")
    page.get_by_label("Preset").select_option(label="Collage")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"q=lighthouse.*preset=collage"))
    expect(page.locator(".history .card")).to_have_count(12)
    no_sideways_scroll(page)
    shot(page, f"history-filtered-{size}")
    page.get_by_role("link", name="Older →").click()
    page.wait_for_url(re.compile(r"q=lighthouse.*page=2"))
    expect(page.locator(".history .card")).to_have_count(1)
    page.go_back()
    expect(page.locator(".history .card")).to_have_count(12)
    page.goto(live_server.url + "/history/?fav=1")
    expect(page.locator(".history .card")).to_have_count(1)
    expect(page.locator(".fav-mark")).to_have_count(1)

    # Share the collection; see it signed out; revoke; it is gone at once.
    page.goto(live_server.url + "/sharing/")
    page.locator(".collection-row summary").click()
    page.get_by_label("Show the prompt").check()
    page.get_by_role("button", name="Create link").click()
    url = page.locator("#share-url").input_value()
    assert "/s/shr_" in url
    no_sideways_scroll(page)
    shot(page, f"share-created-{size}")
    stranger = browser.new_context(viewport=SIZES[size])
    public = stranger.new_page()
    public.goto(url)
    expect(public.locator(".shared-results img")).to_have_count(1)
    assert public.locator(".shared-results img").evaluate("i => i.naturalWidth") > 0
    expect(public.get_by_role("link", name="History")).to_have_count(0)
    assert public.locator('meta[name="robots"]').get_attribute("content").startswith("noindex")
    no_sideways_scroll(public)
    shot(public, f"share-public-{size}")
    page.goto(live_server.url + "/sharing/")
    page.get_by_role("button", name="Revoke").click()
    expect(page.locator(".messages")).to_contain_text("stopped working")
    response = public.goto(url)
    assert response.status == 404
    stranger.close()

    # Usage: one line per composition, the raw ledger behind a toggle.
    page.goto(live_server.url + "/billing/usage/")
    expect(page.locator(".per-composition tbody tr").first).to_be_visible()
    raw = page.locator("details.raw-ledger")
    expect(raw.locator("table.ledger")).to_be_hidden()
    raw.locator("summary").click()
    expect(raw.locator("table.ledger")).to_be_visible()
    no_sideways_scroll(page)
    shot(page, f"usage-{size}")
    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile("Download CSV")).click()
    assert download.value.suggested_filename.endswith(".csv")
    context.close()
