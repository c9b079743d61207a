"""Mark-up in the composer, in a real browser (issue 15): open the editor from the keyboard,
draw an arrow, a box and a note with the pointer, undo, add the marked-up copy and compose.
The composition gets the clean photo and the copy, linked; the photo itself is unchanged.
Screenshots go to artifacts/screenshots/markup-*.png."""

import hashlib
import io
import re

import numpy as np
import pytest
from PIL import Image

from bananasite.tests.browser import shot
from conftest import SAMPLES

from .test_browser import sign_up
from .test_browser_composer import SIZES, expect, no_sideways_scroll, user_of, wait_uploaded

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture(params=list(SIZES))
def size(request, page):
    page.set_viewport_size(SIZES[request.param])
    return request.param


def drag(page, canvas, start, end):
    """Press at `start` and release at `end`, fractions of the canvas, moving in steps."""
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + box["width"] * start[0], box["y"] + box["height"] * start[1])
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * end[0], box["y"] + box["height"] * end[1], steps=6)
    page.mouse.up()


def test_draw_a_markup_and_compose(page, live_server, size):
    from compositions.models import Composition, Upload

    email = f"markup-{size}@example.com"
    sign_up(page, live_server, email)
    page.set_input_files('input[name="images"]', [SAMPLES / "coffee.png", SAMPLES / "logo.png"])
    wait_uploaded(page, 2)
    photos = page.locator("#previews li")
    coffee = Upload.objects.get(original_name="coffee.png")
    with coffee.file.open("rb") as fh:
        before = hashlib.sha256(fh.read()).hexdigest()
    photos.nth(1).get_by_label("Role of image 2").select_option("logo")

    # The keyboard opens and closes the editor; focus comes back to the button.
    opener = photos.nth(0).get_by_role("button", name=re.compile("Mark up image 1"))
    opener.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name=re.compile("Mark up"))
    expect()(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect()(dialog).to_be_hidden()
    expect()(opener).to_be_focused()

    opener.click()
    expect()(dialog).to_be_visible()
    expect()(page.locator("#markup-status")).to_contain_text("Drag to draw")
    canvas = page.locator("#markup-canvas")
    save = dialog.get_by_role("button", name="Add marked-up copy")
    expect()(save).to_be_disabled()  # nothing drawn yet
    drag(page, canvas, (0.15, 0.15), (0.55, 0.45))  # an arrow
    dialog.get_by_label("Box").check()
    drag(page, canvas, (0.6, 0.3), (0.85, 0.7))
    drag(page, canvas, (0.1, 0.7), (0.3, 0.9))  # a second box, undone below
    expect()(page.locator("#markup-status")).to_have_text("Box added.")
    dialog.get_by_role("button", name="Undo").click()
    expect()(page.locator("#markup-status")).to_have_text("Last mark removed.")
    dialog.get_by_label("Note", exact=True).check()
    dialog.get_by_label("Note text").fill("logo here")
    box = canvas.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.62, box["y"] + box["height"] * 0.2)
    expect()(page.locator("#markup-status")).to_contain_text("logo here")
    no_sideways_scroll(page)
    shot(page, f"markup-{size}-editor", full_page=False)
    save.click()
    expect()(dialog).to_be_hidden()
    wait_uploaded(page, 3)
    expect()(photos.nth(2).locator(".preview-markup")).to_have_text("Mark-up of image 1")
    expect()(photos.nth(2).locator(".preview-name")).to_have_text("coffee (marked up).png")
    # A mark-up is not marked up again.
    expect()(photos.nth(2).get_by_role("button", name=re.compile("Mark up"))).to_be_hidden()

    page.get_by_role("textbox", name="Prompt").fill(
        "Print the logo from image 2 on the cup in image 1, where the marks show"
    )
    no_sideways_scroll(page)
    shot(page, f"markup-{size}-composer")
    page.get_by_role("button", name="Compose").click()
    page.wait_for_url(re.compile(r"/c/cmp_"))
    expect()(page.get_by_text("mark-up of image 1")).to_be_visible()
    shot(page, f"markup-{size}-detail")

    composition = Composition.objects.get(workspace=user_of(email).current_workspace)
    inputs = list(composition.inputs.select_related("upload"))
    assert [(i.position, i.role, i.markup_of) for i in inputs] == [
        (1, "other", None),
        (2, "logo", None),
        (3, "other", 1),
    ]
    original, _, marked = (i.upload for i in inputs)
    assert original == coffee
    with original.file.open("rb") as fh:  # the stored photo is the same, byte for byte
        assert hashlib.sha256(fh.read()).hexdigest() == before == original.sha256
    with marked.file.open("rb") as fh:
        pixels = np.asarray(Image.open(io.BytesIO(fh.read())).convert("RGB")).astype(int)
    clean = np.asarray(Image.open(SAMPLES / "coffee.png").convert("RGB")).astype(int)
    assert pixels.shape == clean.shape  # the copy is the photo's own size
    red = (pixels[..., 0] > 200) & (pixels[..., 1] < 60) & (pixels[..., 2] < 60)
    assert red.sum() > 500  # the marks were drawn on the copy
    assert red[int(0.3 * red.shape[0]) : int(0.7 * red.shape[0]), int(0.84 * red.shape[1])].any()
    # The undone box left nothing in its corner.
    assert not red[
        int(0.75 * red.shape[0]) : int(0.88 * red.shape[0]), int(0.1 * red.shape[1])
    ].any()


def test_a_missed_logo_is_shown_and_retried_free(page, live_server, size, settings):
    from billing.models import LedgerEntry, Wallet
    from compositions.models import Composition
    from compositions.tasks import run_composition

    from .fakes import FakeProvider, Reply, gemini_ok
    from .test_providers_end_to_end import configure
    from .test_reference_check import encoded, logo_composition, logo_on_coffee

    server = FakeProvider()
    try:
        configure(settings, {"gemini": server}, "gemini")
        email = f"retry-{size}@example.com"
        sign_up(page, live_server, email)
        owner = user_of(email)
        server.script(Reply(200, gemini_ok(encoded(Image.open(SAMPLES / "chelsea.png")))))
        first = logo_composition(owner)
        first.refresh_from_db()
        if not first.is_finished:
            run_composition(first.public_id)
        first.refresh_from_db()
        assert first.checks["status"] == "done"
        before = Wallet.objects.get(workspace=owner.current_workspace).balance
        page.goto(f"{live_server.url}{first.get_absolute_url()}")
        check = page.locator("#reference-check")
        expect()(check).to_contain_text("Logo from image 2: not found in result 1.")
        no_sideways_scroll(page)
        shot(page, f"reference-check-{size}-missed")
        server.script(Reply(200, gemini_ok(logo_on_coffee())))
        check.get_by_role("button", name="Retry free of charge").click()
        page.wait_for_url(re.compile(r"/c/cmp_"))
        retry = Composition.objects.get(free_retry_of=first)
        assert page.url.endswith(retry.get_absolute_url())
        page.reload()
        expect()(page.locator("#reference-check")).to_contain_text("found in result 1.")
        shot(page, f"reference-check-{size}-retry")
        assert retry.status == "succeeded"
        assert Wallet.objects.get(workspace=owner.current_workspace).balance == before
        capture = LedgerEntry.objects.get(composition_ref=retry.public_id, kind="capture")
        assert capture.amount == 0 and "free retry of " + first.public_id in capture.reason
    finally:
        server.close()
