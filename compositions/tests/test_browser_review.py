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


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"review-{name}.png"), full_page=True)


def no_serious_axe_violations(page):
    """axe-core on the page's main content (the header and footer are base.html's, checked by
    the layout's own browser tests): no serious or critical violation."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, context="main")
    bad = [
        f"{v['id']}: {v['help']} ({len(v['nodes'])}x, e.g. {v['nodes'][0]['html'][:120]})"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, f"{page.url}: " + "; ".join(bad)


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
    no_serious_axe_violations(page)
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
    no_serious_axe_violations(page)
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
    no_serious_axe_violations(page)
    shot(page, f"share-created-{size}")
    stranger = browser.new_context(viewport=SIZES[size])
    public = stranger.new_page()
    public.goto(url)
    expect(public.locator(".shared-results img")).to_have_count(1)
    assert public.locator(".shared-results img").evaluate("i => i.naturalWidth") > 0
    expect(public.get_by_role("link", name="History")).to_have_count(0)
    assert public.locator('meta[name="robots"]').get_attribute("content").startswith("noindex")
    no_sideways_scroll(public)
    no_serious_axe_violations(public)
    shot(public, f"share-public-{size}")
    page.goto(live_server.url + "/sharing/")
    no_sideways_scroll(page)
    no_serious_axe_violations(page)
    shot(page, f"collections-{size}")
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
    no_serious_axe_violations(page)
    shot(page, f"usage-{size}")
    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile("Download CSV")).click()
    assert download.value.suggested_filename.endswith(".csv")
    context.close()


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_share_one_result_then_a_moderator_removes_it(browser, live_server, owner, make_user, size):
    from playwright.sync_api import expect

    from compositions.tasks import run_composition
    from compositions.tests.factories import compose
    from moderation.services import create_report, remove_content

    composition = compose(owner, prompt="a private prompt")
    run_composition(composition.public_id)
    result = composition.results.get()
    context = browser.new_context(viewport=SIZES[size])
    sign_in(context, live_server, owner)
    page = context.new_page()
    page.goto(live_server.url + composition.get_absolute_url())
    page.get_by_text("Share a result by link…").click()
    page.get_by_role("button", name="Create link").click()
    url = page.locator("#share-url").input_value()
    visitor = browser.new_context(viewport=SIZES[size]).new_page()
    visitor.goto(url)
    expect(visitor.locator(".shared-results img")).to_have_count(1)
    expect(visitor.get_by_text("a private prompt")).to_have_count(0)  # not chosen

    create_report(
        reporter=owner,
        workspace=owner.current_workspace,
        target_type="result",
        target_id=result.public_id,
        reason="copyright",
    )
    remove_content(target=result, actor=make_user("mod@example.com"), reason="a copy")
    visitor.goto(url)
    expect(visitor.locator(".shared-results img")).to_have_count(0)
    expect(visitor.get_by_text("Nothing to show here any more.")).to_be_visible()
    image = visitor.request.get(f"{url}{result.public_id}/image")
    assert image.status == 404

    page.goto(live_server.url + composition.get_absolute_url())
    notice = page.locator(".notice.removal")
    expect(notice).to_contain_text("removed by a moderator on")
    expect(notice).to_contain_text("Copyright")
    no_sideways_scroll(page)
    no_serious_axe_violations(page)
    shot(page, f"detail-removed-{size}")
    page.goto(live_server.url + "/history/")
    expect(page.locator(".history .removal-notice")).to_contain_text("Copyright")
    shot(page, f"history-removed-{size}")
    context.close()
