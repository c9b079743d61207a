"""Content Credentials in Chromium: the composition page's section and the check page, at
desktop and phone widths (screenshots in artifacts/screenshots/credentials-*.png)."""

import io

import pytest

from bananasite.tests.browser import (
    DESKTOP,
    PHONE,
    axe_problems,
    new_context,
    overflow,
    shot,
    sign_in_context,
)
from compositions.options import CompositionOptions, NewImage
from compositions.services import create_refinement
from compositions.tasks import run_composition
from conftest import sample_bytes

from .factories import compose

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def refinement(owner):
    """A refinement: its manifest lists the earlier result (with that result's own
    credentials) and a new photo."""
    first = compose(owner)
    run_composition(first.public_id)  # outside a transaction it ran when it was committed
    first.refresh_from_db()
    assert first.status == "succeeded"
    photo = NewImage(name="coffee.png", fileobj=io.BytesIO(sample_bytes("coffee.png")), size=None)
    second = create_refinement(
        source=first.results.get(),
        user=owner,
        options=CompositionOptions(prompt="Warmer light", model="local", image_size="512"),
        new_images=[photo],
    )
    run_composition(second.public_id)
    second.refresh_from_db()
    assert second.status == "succeeded"
    return second


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_credentials_section_and_the_check_page(
    browser, live_server, owner, refinement, viewport, tmp_path
):
    from playwright.sync_api import expect

    context = new_context(browser, viewport)
    sign_in_context(context, live_server.url, owner)
    page = context.new_page()
    size = "desktop" if viewport is DESKTOP else "phone"

    page.goto(live_server.url + refinement.get_absolute_url() + "#credentials")
    section = page.locator("#credentials")
    expect(section.get_by_role("heading", name="Content Credentials")).to_be_visible()
    expect(section.locator(".badge.ok")).to_have_text("Valid")
    expect(section.locator(".ingredients li")).to_have_count(2)
    expect(section.locator(".ingredients li").first).to_contain_text("its own credentials, valid")
    assert overflow(page) is None, overflow(page)
    assert axe_problems(page) == []
    section.screenshot(path=str(shot(page, f"credentials-section-{size}")))

    # Check the result's file, then the same file with one bit changed.
    with refinement.results.get().file.open("rb") as fh:
        data = fh.read()
    at = data.index(b"IDAT") + 20
    tampered = tmp_path / "edited.png"
    tampered.write_bytes(data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :])
    section.get_by_role("link", name="Check any image's credentials").click()
    page.get_by_label("Image").set_input_files(str(tampered))
    page.get_by_role("button", name="Check").click()
    expect(page.locator(".badge.bad")).to_have_text("Tampered")
    assert overflow(page) is None, overflow(page)
    assert axe_problems(page) == []
    shot(page, f"credentials-check-tampered-{size}")
    context.close()
