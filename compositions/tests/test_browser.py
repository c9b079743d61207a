"""End to end in a real browser: Debian's Chromium driven by Playwright, a live server and a
real qcluster worker process. Screenshots go to artifacts/screenshots/."""

import os
import re
import time
from pathlib import Path

import pytest
from django.conf import settings

from conftest import SAMPLES

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # sync Playwright runs an event loop
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SHOTS = Path(settings.BASE_DIR) / "artifacts" / "screenshots"


@pytest.fixture
def browser_context_args(browser_context_args):
    return {
        **browser_context_args,
        "viewport": {"width": 1280, "height": 900},
        "accept_downloads": True,
    }


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_up(page, live_server, email="browser@example.com"):
    page.goto(f"{live_server.url}/accounts/signup/")
    page.get_by_label("Email:").fill(email)
    page.get_by_label("Password:", exact=True).fill("a long browser pass 42")
    page.get_by_label("Password (again):").fill("a long browser pass 42")
    page.get_by_role("button", name="Sign Up").click()
    page.wait_for_url(re.compile(r"/compose/$"))


def test_sign_up_compose_watch_download_history_delete(page, live_server, worker, media_files):
    from playwright.sync_api import expect

    sign_up(page, live_server)
    expect(page.get_by_role("heading", name="Compose")).to_be_visible()

    page.set_input_files(
        'input[name="images"]', [SAMPLES / "rocket.jpg", SAMPLES / "astronaut.png"]
    )
    previews = page.locator("#previews li")
    expect(previews).to_have_count(2)
    # Reorder: the astronaut becomes image 1.
    previews.nth(0).get_by_role("button", name="Move image 1 (rocket.jpg) later").click()
    expect(previews.nth(0).locator(".preview-name")).to_have_text("astronaut.png")
    expect(previews.nth(0).locator(".preview-index")).to_have_text("Image 1")
    # A preset with people asks for the consent statement before the form is sent.
    consent = page.get_by_label(re.compile("I have the right to use these photos"))
    expect(consent).to_be_hidden()
    page.get_by_label("Preset").select_option("face_swap")
    expect(consent).to_be_visible()
    assert consent.evaluate("(box) => box.required")
    page.get_by_label("Preset").select_option("product_in_scene")
    expect(consent).to_be_hidden()
    assert not consent.evaluate("(box) => box.required")
    prompt = page.get_by_role("textbox", name="Prompt")
    expect(prompt).to_have_value(
        re.compile(r"^Place the product from image 1 into the scene from image 2")
    )
    expect(page.locator("#prompt-count")).not_to_have_text("0")
    page.get_by_label("Aspect ratio").select_option("16:9")
    page.get_by_label("Image size").select_option("2K")
    page.get_by_label("Number of images").select_option("4")
    expect(page.locator("#estimate")).to_have_text(
        "This will use 4 credits (1 per image); balance 50."
    )
    shot(page, "composer")
    page.get_by_role("button", name="Compose").click()

    page.wait_for_url(re.compile(r"/c/cmp_"))
    expect(page.locator("#progress")).to_be_visible()
    shot(page, "composition-running")
    # The page follows the stages by itself and shows the results when they are ready.
    expect(page.get_by_role("heading", name="Results")).to_be_visible(timeout=90_000)
    expect(page.locator(".result")).to_have_count(4)
    expect(page.locator("#status-badge .badge")).to_have_text(re.compile("Succeeded", re.I))
    names = page.locator(".inputs li span").all_inner_texts()
    assert names[0].startswith("Image 1") and "Product" in names[0]
    shot(page, "composition-done")

    expect(page.locator("#charged")).to_have_text("Charged 4 credits.")
    with page.expect_download() as download_info:
        page.locator(".result").first.get_by_role("link", name="Download").click()
    download = download_info.value
    assert re.fullmatch(r"bananasite-cmp_\w+-1\.png", download.suggested_filename)
    assert Path(download.path()).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Credits").click()
    expect(page.locator("#balance")).to_have_text("46")
    expect(page.locator(".ledger tbody tr")).to_have_count(4)  # grant, reserve, release, capture
    shot(page, "usage")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="History").click()
    cards = page.locator(".history .card")
    expect(cards).to_have_count(1)
    expect(cards.first.locator(".badge")).to_have_text(re.compile("Succeeded", re.I))
    shot(page, "history")

    cards.first.locator("a").click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete").click()
    page.wait_for_url(re.compile(r"/history/$"))
    expect(page.get_by_text("Deleted the composition and its images.")).to_be_visible()
    expect(page.locator(".history .card")).to_have_count(0)
    assert media_files() == []


def test_bad_input_is_explained_next_to_the_field(page, live_server, media_files):
    sign_up(page, live_server, "careful@example.com")
    from playwright.sync_api import expect

    page.set_input_files('input[name="images"]', [SAMPLES / "coffee.png"])
    expect(page.locator("#photo-count")).to_contain_text("Add at least one more")
    page.get_by_role("textbox", name="Prompt").fill("x" * 10)
    # The page knows one photo is not enough: Compose waits, with the reason beside it (the
    # server's own refusal, which keeps the photos, is in test_browser_composer).
    expect(page.get_by_role("button", name="Compose")).to_be_disabled()
    expect(page.locator("#blockers")).to_have_text("Add at least 2 photos to combine (you have 1).")
    shot(page, "composer-error")
    # The photo was stored when it was picked; taking it out leaves nothing behind.
    page.locator("#previews li").get_by_role("button", name=re.compile("Remove")).click()
    expect(page.locator("#previews li")).to_have_count(0)
    deadline = time.monotonic() + 10
    while media_files() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert media_files() == []
