"""Saved references in a real browser (issue 16), at 1366x900 and 390x844: save a product to
the library, find it, pick it into the composer from the library and compose with the local
compositor; a person's reference asks for consent. Screenshots go to
artifacts/screenshots/references-*.png."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from bananasite.tests.browser import DESKTOP, PHONE, overflow, shot
from compositions.tests.test_browser import sign_up
from conftest import SAMPLES

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SIZES = {"desktop": DESKTOP, "phone": PHONE}


@pytest.fixture(params=list(SIZES))
def size(request, page):
    page.set_viewport_size(SIZES[request.param])
    return request.param


def expect():
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


def test_save_a_reference_pick_it_into_the_composer_and_compose(page, live_server, size):
    from compositions.models import Composition

    sign_up(page, live_server, f"library-{size}@example.com")
    if size == "desktop":
        page.get_by_role("navigation", name="Main").get_by_role("link", name="References").click()
    else:  # the phone's menu is the layout's, tested there
        page.goto(f"{live_server.url}/references/")
    expect()(page.get_by_text("No references yet")).to_be_visible()
    page.get_by_role("link", name="New reference").first.click()

    # A real person without consent is refused, beside the field, and nothing is saved.
    page.get_by_label("Name").fill("Eileen")
    page.get_by_label("Kind").select_option("character")
    page.set_input_files('input[name="images"]', [SAMPLES / "astronaut.png"])
    page.get_by_label("It shows a real person").check()
    expect()(page.get_by_label("Consent holds until")).to_be_visible()
    page.get_by_role("button", name="Save reference").click()
    expect()(page.get_by_text("agreed to this use")).to_be_visible()
    assert overflow(page) is None
    shot(page, f"references-{size}-consent-refused")

    page.get_by_label("Name").fill("Blue mug")
    page.get_by_label("Kind").select_option("product")
    page.set_input_files('input[name="images"]', [SAMPLES / "coffee.png"])
    page.get_by_label("It shows a real person").uncheck()
    page.get_by_label("Notes").fill("The ceramic one from the shop")
    page.get_by_role("button", name="Save reference").click()
    page.wait_for_url(re.compile(r"/references/ref_\w+/$"))
    expect()(page.get_by_role("heading", name="Blue mug")).to_be_visible()
    expect()(page.get_by_text("Saved “Blue mug” to the library.")).to_be_visible()
    shot(page, f"references-{size}-detail")

    page.goto(f"{live_server.url}/references/")
    page.get_by_label("Search names and notes").fill("ceramic")
    page.get_by_role("button", name="Search").click()
    cards = page.locator(".reference-grid .card")
    expect()(cards).to_have_count(1)
    expect()(cards.first.locator("img")).to_have_count(1)
    assert cards.first.locator("img").evaluate("(img) => img.naturalWidth > 0")
    assert overflow(page) is None
    shot(page, f"references-{size}-library")

    page.goto(f"{live_server.url}/compose/")
    page.set_input_files('input[name="images"]', [SAMPLES / "chelsea.png"])
    expect()(page.locator("#previews li")).to_have_count(1)
    expect()(page.locator("#previews li.uploading")).to_have_count(0, timeout=20_000)
    page.get_by_text("From library").click()
    page.get_by_role("button", name="Add Blue mug").click()
    photos = page.locator("#previews li")
    expect()(photos).to_have_count(2)
    expect()(photos.nth(1).locator(".preview-name")).to_have_text("Blue mug")
    expect()(photos.nth(1).get_by_label("Role of image 2")).to_have_value("product")
    page.get_by_role("textbox", name="Prompt").fill(
        "The cat from image 1 next to the mug in image 2"
    )
    page.get_by_label("Image size").select_option("512")
    assert overflow(page) is None
    shot(page, f"references-{size}-composer")
    page.get_by_role("button", name="Compose").click()

    page.wait_for_url(re.compile(r"/c/cmp_"))
    expect()(page.get_by_role("heading", name="Results")).to_be_visible(timeout=90_000)
    expect()(page.locator(".result")).to_have_count(1)
    composition = Composition.objects.get(created_by__email=f"library-{size}@example.com")
    picked = composition.inputs.get(position=2)
    assert picked.reference_version.reference.name == "Blue mug"
    assert picked.reference_version.number == 1 and picked.role == "product"
    shot(page, f"references-{size}-composed")


def test_a_lapsed_persons_reference_is_not_offered_and_its_page_says_why(page, live_server, size):
    from accounts.models import User
    from compositions.options import NewImage
    from references.models import ReferenceConsent
    from references.services import create_reference

    sign_up(page, live_server, f"lapsed-{size}@example.com")
    user = User.objects.get(email=f"lapsed-{size}@example.com")
    with (SAMPLES / "astronaut.png").open("rb") as fh:
        reference = create_reference(
            workspace=user.current_workspace,
            user=user,
            name="Eileen",
            kind="character",
            images=[NewImage(name="astronaut.png", fileobj=fh, size=None)],
            depicts_person=True,
            consent=True,
            consent_until=timezone.now() + timedelta(days=3),
        )
    ReferenceConsent.objects.filter(reference=reference).update(
        valid_until=timezone.now() - timedelta(minutes=1)
    )
    page.goto(f"{live_server.url}/compose/")
    page.get_by_text("From library").click()
    expect()(page.get_by_text("No saved references yet.")).to_be_visible()
    page.goto(f"{live_server.url}{reference.get_absolute_url()}")
    expect()(page.locator("#reference-problem")).to_contain_text("expired")
    assert overflow(page) is None
    shot(page, f"references-{size}-lapsed")
