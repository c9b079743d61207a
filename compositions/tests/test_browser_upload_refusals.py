"""The composer's upload cards when the server says no, in a real browser at desktop
(1366x900) and phone (390x844) sizes: a refusal no retry can fix shows the server's message and
offers only Remove; a dropped line, a busy server, 408 and 429 keep Retry; a lost session says
so, with a link to sign in that comes back to the composer and its draft.
Screenshots go to artifacts/screenshots/composer-*.png."""

import json
import re

import pytest

from conftest import SAMPLES

from .test_browser import shot, sign_up
from .test_browser_composer import (
    SIZES,
    expect,
    no_serious_axe_violations,
    no_sideways_scroll,
    wait_uploaded,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture(params=list(SIZES))
def size(request, page):
    page.set_viewport_size(SIZES[request.param])  # desktop 1366x900, phone 390x844
    return request.param


def answer_uploads(page, status, code, detail):
    """The upload endpoint answers every photo with this problem+json."""
    body = {"type": "about:blank", "title": "Error", "status": status, "code": code}
    body["detail"] = detail

    def fulfil(route):
        route.fulfill(status=status, content_type="application/problem+json", body=json.dumps(body))

    page.route("**/compose/uploads", fulfil)


def test_a_real_refusal_shows_the_servers_words_and_only_remove(page, live_server, size, tmp_path):
    sign_up(page, live_server, f"refused-{size}@example.com")
    notes = tmp_path / "notes.jpg"
    notes.write_text("a shopping list, not a photo")
    page.set_input_files('input[name="images"]', [notes])
    wait_uploaded(page, 1)
    card = page.locator("#previews li")
    expect()(card).to_have_class(re.compile("failed"))
    expect()(card.locator(".preview-error")).to_contain_text("notes.jpg")
    expect()(card.get_by_role("button", name=re.compile("^Retry"))).to_be_hidden()
    expect()(card.get_by_role("button", name="Remove image 1 (notes.jpg)")).to_be_visible()
    expect()(page.locator("#blockers")).to_have_text(re.compile(r"notes.jpg could not be added"))
    expect()(page.locator("#blockers")).not_to_contain_text("retry")
    no_sideways_scroll(page)
    shot(page, f"composer-{size}-refused-415")


@pytest.mark.parametrize(
    ("status", "code", "detail"),
    [
        (415, "unsupported_image_type", "brick.png is not a JPEG, PNG or WebP photo."),
        (413, "image_too_large", "brick.png is 31 MB; the limit is 30 MB."),
        (400, "image_corrupt", "brick.png is damaged and cannot be read."),
        (422, "moderation_refused", "This photo cannot be used here."),
    ],
)
def test_a_refusal_retry_cannot_fix_offers_only_remove(
    page, live_server, size, status, code, detail
):
    sign_up(page, live_server, f"r{status}-{size}@example.com")
    answer_uploads(page, status, code, detail)
    page.set_input_files('input[name="images"]', [SAMPLES / "brick.png"])
    card = page.locator("#previews li")
    expect()(card).to_have_class(re.compile("failed"))
    expect()(card.locator(".preview-error")).to_have_text(detail)
    expect()(card.get_by_role("button", name=re.compile("^Retry"))).to_be_hidden()
    expect()(card.get_by_role("button", name="Remove image 1 (brick.png)")).to_be_visible()
    expect()(page.locator("#blockers")).to_have_text(
        re.compile(r"brick.png could not be added: remove it")
    )
    if status == 413:
        shot(page, f"composer-{size}-refused-413")


@pytest.mark.parametrize("status", [408, 429, 503])
def test_a_busy_or_slow_server_keeps_retry(page, live_server, size, status):
    sign_up(page, live_server, f"busy{status}-{size}@example.com")
    attempts = []

    def busy_once(route):
        attempts.append(route.request.url)
        if len(attempts) == 1:
            body = {"status": status, "code": "busy", "detail": "Please try again in a moment."}
            route.fulfill(
                status=status, content_type="application/problem+json", body=json.dumps(body)
            )
        else:
            route.continue_()

    page.route("**/compose/uploads", busy_once)
    page.set_input_files('input[name="images"]', [SAMPLES / "brick.png"])
    card = page.locator("#previews li")
    expect()(card).to_have_class(re.compile("failed"))
    expect()(card.locator(".preview-error")).to_have_text("Please try again in a moment.")
    card.get_by_role("button", name="Retry uploading brick.png").click()
    wait_uploaded(page, 1)
    expect()(card).not_to_have_class(re.compile("failed"))
    expect()(card.locator('input[name="uploads"]')).to_have_value(re.compile(r"^up_"))
    assert len(attempts) == 2


def test_a_lost_session_says_so_and_signing_in_keeps_the_draft(page, live_server, size):
    email = f"signed-out-{size}@example.com"
    sign_up(page, live_server, email)
    page.set_input_files('input[name="images"]', [SAMPLES / "chelsea.png"])
    wait_uploaded(page, 1)
    page.get_by_role("textbox", name="Prompt").fill("The cat from image 1 beside the brick")
    # The session ends in another tab: the next upload is sent to the sign-in page.
    page.context.clear_cookies(name="sessionid")
    page.set_input_files('input[name="images"]', [SAMPLES / "brick.png"])
    wait_uploaded(page, 2)
    card = page.locator("#previews li").nth(1)
    expect()(card).to_have_class(re.compile("failed"))
    error = card.locator(".preview-error")
    expect()(error).to_contain_text("You were signed out")
    expect()(error).to_contain_text("your draft is kept")
    expect()(error).not_to_contain_text("200")
    expect()(card.get_by_role("button", name=re.compile("^Retry"))).to_be_hidden()
    no_sideways_scroll(page)
    no_serious_axe_violations(page)
    shot(page, f"composer-{size}-signed-out")
    error.get_by_role("link", name="Sign in").click()
    page.wait_for_url(re.compile(r"/accounts/login/\?next=%2Fcompose%2F$"))
    page.get_by_label("Email:").fill(email)
    page.get_by_label("Password:", exact=True).fill("a long browser pass 42")
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(re.compile(r"/compose/$"))
    wait_uploaded(page, 1)
    expect()(page.locator("#previews li .preview-name")).to_have_text(["chelsea.png"])
    expect()(page.get_by_role("textbox", name="Prompt")).to_have_value(
        "The cat from image 1 beside the brick"
    )


@pytest.mark.parametrize("status", [401, 403])
def test_a_401_or_403_upload_says_sign_in_again(page, live_server, size, status):
    sign_up(page, live_server, f"s{status}-{size}@example.com")
    page.route(
        "**/compose/uploads",
        lambda route: route.fulfill(status=status, content_type="text/html", body="<p>no</p>"),
    )
    page.set_input_files('input[name="images"]', [SAMPLES / "brick.png"])
    card = page.locator("#previews li")
    expect()(card).to_have_class(re.compile("failed"))
    expect()(card.locator(".preview-error")).to_contain_text("You were signed out")
    link = card.locator(".preview-error").get_by_role("link", name="Sign in")
    expect()(link).to_have_attribute("href", "/accounts/login/?next=%2Fcompose%2F")
