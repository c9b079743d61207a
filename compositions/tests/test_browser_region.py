"""Region edits and expands in a real browser: paint a region on a result or an input with a
mouse, a pen or a finger, run it through the local compositor and a fake Nano Banana provider,
and check pixel by pixel that only the region changed; expand keeps the original's pixels; bad
masks are refused with a message. Screenshots go to artifacts/screenshots/."""

import io
import re

import numpy as np
import pytest
from PIL import Image

from bananasite.model_catalog import build_models
from bananasite.tests.browser import DESKTOP, PHONE, new_context, shot, sign_in_context
from compositions import regions
from compositions.models import Composition, RegionEdit
from compositions.tasks import run_composition

from .factories import compose
from .fakes import FakeProvider, Reply, gemini_ok, png

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def read(field) -> np.ndarray:
    with field.open("rb") as fh:
        return np.asarray(Image.open(io.BytesIO(fh.read())).convert("RGB"), dtype=np.int16)


@pytest.fixture
def made(owner):
    composition = compose(owner, prompt="The cat from image 1 beside the cup from image 2")
    run_composition(composition.public_id)  # already run inline once committed, if so
    composition.refresh_from_db()
    assert composition.status == "succeeded"
    return composition


def open_region_page(browser, live_server, owner, viewport, link_index=0, **context_args):
    context = new_context(browser, viewport, **context_args)
    sign_in_context(context, live_server.url, owner)
    page = context.new_page()
    return context, page


def drag(page, points):
    page.mouse.move(*points[0])
    page.mouse.down()
    for point in points[1:]:
        page.mouse.move(*point, steps=4)
    page.mouse.up()


def image_box(page):
    # The canvas is laid over the picture once it has loaded: wait for it, not for luck.
    page.locator("#painter-canvas").wait_for(state="visible")
    page.wait_for_function(
        "() => (document.querySelector('#painter-canvas')?.getBoundingClientRect().width || 0) > 50"
    )
    box = page.locator("#painter-canvas").bounding_box()
    assert box and box["width"] > 50
    return box


def new_composition(source: Composition) -> Composition:
    return Composition.objects.exclude(pk=source.pk).order_by("-created_at").first()


def assert_only_region_changed(edit: Composition, original: np.ndarray):
    edit.refresh_from_db()
    assert edit.status == "succeeded", edit.error_message
    out = read(edit.results.get().file)
    mask = regions.read_mask(edit.region.mask.open("rb").read())
    assert out.shape == original.shape
    assert mask.any() and not mask.all()
    assert (out[~mask] == original[~mask]).all()
    assert np.abs(out[mask] - original[mask]).mean() > 8
    return mask


def test_paint_a_region_of_a_result_with_a_mouse_and_run_it_locally(
    browser, live_server, owner, made
):
    from playwright.sync_api import expect

    context, page = open_region_page(browser, live_server, owner, DESKTOP)
    page.goto(f"{live_server.url}{made.get_absolute_url()}")
    page.locator(".result").first.get_by_role("link", name="Edit a region").click()
    expect(page.get_by_role("heading", name="Change part of result 1")).to_be_visible()
    box = image_box(page)
    x, y, w, h = box["x"], box["y"], box["width"], box["height"]
    # A brush stroke, a rectangle, then a stroke undone: two shapes stay.
    drag(page, [(x + w * 0.2, y + h * 0.3), (x + w * 0.45, y + h * 0.35)])
    page.get_by_label("Rectangle").check()
    drag(page, [(x + w * 0.55, y + h * 0.55), (x + w * 0.8, y + h * 0.8)])
    page.get_by_label("Brush", exact=True).check()
    drag(page, [(x + w * 0.05, y + h * 0.9), (x + w * 0.3, y + h * 0.95)])
    page.get_by_role("button", name="Undo").click()
    expect(page.locator("#painter-status")).to_have_text("Undone.")
    page.get_by_label("What should change there").fill("make it blue")
    shot(page, "region-edit-desktop")
    page.get_by_role("button", name=re.compile("^Run")).click()
    page.wait_for_url(re.compile(r"/c/cmp_\w+/$"))
    edit = new_composition(made)
    assert page.url.endswith(edit.get_absolute_url())
    assert edit.parent == made and edit.origin == "region_edit"
    mask = assert_only_region_changed(edit, read(made.results.get().file))
    height, width = mask.shape
    # The undone stroke is not in the mask; the rectangle is.
    assert not mask[int(height * 0.93), int(width * 0.15)]
    assert mask[int(height * 0.7), int(width * 0.7)]
    expect(page.get_by_text("region edit of")).to_be_visible()
    shot(page, "region-edit-result-desktop")
    context.close()


def test_a_finger_and_a_pen_paint_an_input_on_a_phone(browser, live_server, owner, made):
    from playwright.sync_api import expect

    context, page = open_region_page(browser, live_server, owner, PHONE)
    page.goto(f"{live_server.url}{made.get_absolute_url()}")
    page.locator(".inputs li").first.get_by_role("link", name=re.compile("Edit a region")).click()
    expect(page.get_by_role("heading", name="Change part of this input")).to_be_visible()
    page.locator("#painter-canvas").scroll_into_view_if_needed()
    box = image_box(page)
    x, y, w, h = box["x"], box["y"], box["width"], box["height"]
    cdp = context.new_cdp_session(page)
    # A finger: real touch events, which the browser turns into pointer events of type touch.
    touch = [(x + w * 0.3, y + h * 0.4), (x + w * 0.4, y + h * 0.45), (x + w * 0.5, y + h * 0.5)]
    cdp.send(
        "Input.dispatchTouchEvent",
        {"type": "touchStart", "touchPoints": [{"x": touch[0][0], "y": touch[0][1]}]},
    )
    for px, py in touch[1:]:
        cdp.send(
            "Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": px, "y": py}]}
        )
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    # A pen: mouse events of pointer type pen.
    pen = [(x + w * 0.6, y + h * 0.2), (x + w * 0.75, y + h * 0.3)]
    for kind, (px, py) in (
        ("mousePressed", pen[0]),
        ("mouseMoved", pen[1]),
        ("mouseReleased", pen[1]),
    ):
        cdp.send(
            "Input.dispatchMouseEvent",
            {
                "type": kind,
                "x": px,
                "y": py,
                "button": "left",
                "buttons": 1 if kind != "mouseReleased" else 0,
                "clickCount": 1,
                "pointerType": "pen",
                "force": 0.5,
            },
        )
    expect(page.locator("#painter-status")).to_have_text(re.compile("Shapes painted: 2"))
    page.get_by_label("What should change there").fill("make it red")
    shot(page, "region-edit-phone")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]
    page.get_by_role("button", name=re.compile("^Run")).click()
    page.wait_for_url(re.compile(r"/c/cmp_\w+/$"))
    edit = new_composition(made)
    source = made.inputs.get(position=1).upload
    assert edit.parent == made
    mask = assert_only_region_changed(edit, read(source.file))
    height, width_px = mask.shape
    assert mask[int(height * 0.45), int(width_px * 0.4)]  # the finger's stroke
    assert mask[int(height * 0.25), int(width_px * 0.67)]  # the pen's
    context.close()


def test_a_region_edit_through_a_fake_nano_banana_provider(browser, live_server, owner, settings):
    fake = FakeProvider()
    try:
        providers = {"gemini": {"api_key": "k", "base_url": fake.url, "max_attempts": 1}}
        settings.BANANASITE_PROVIDERS = providers
        settings.BANANASITE_MODELS = build_models(providers)
        settings.BANANASITE_DEFAULT_MODEL = settings.BANANASITE_MODELS[0]["id"]
        # The model repaints the whole crop (green): only the region may take it.
        fake.script(Reply(200, gemini_ok(png((20, 180, 60), (1024, 1024)))))
        made = compose(owner, model="nano-banana-2", image_size="1K")
        run_composition(made.public_id)  # already run inline once committed, if so
        made.refresh_from_db()
        assert made.status == "succeeded"
        fake.requests.clear()
        context, page = open_region_page(browser, live_server, owner, DESKTOP)
        page.goto(f"{live_server.url}{made.get_absolute_url()}")
        page.locator(".inputs li").nth(1).get_by_role(
            "link", name=re.compile("Edit a region")
        ).click()
        box = image_box(page)
        x, y, w, h = box["x"], box["y"], box["width"], box["height"]
        page.get_by_label("Lasso").check()
        drag(
            page,
            [
                (x + w * 0.4, y + h * 0.3),
                (x + w * 0.6, y + h * 0.35),
                (x + w * 0.55, y + h * 0.6),
                (x + w * 0.35, y + h * 0.55),
            ],
        )
        page.get_by_label("What should change there").fill("put a lid on the cup")
        page.get_by_role("button", name=re.compile("^Run")).click()
        page.wait_for_url(re.compile(r"/c/cmp_\w+/$"))
        edit = new_composition(made)
        assert_only_region_changed(edit, read(made.inputs.get(position=2).upload.file))
        # The model was sent one image, the crop, and told to keep the rest.
        [request] = fake.requests
        parts = request["json"]["contents"][0]["parts"]
        assert sum("inlineData" in p for p in parts) == 1
        assert "put a lid on the cup" in str(parts) and "keep everything else" in str(parts)
        context.close()
    finally:
        fake.close()


def test_expand_a_result_to_16_9_keeps_its_pixels(browser, live_server, owner, made):
    from playwright.sync_api import expect

    context, page = open_region_page(browser, live_server, owner, DESKTOP)
    page.goto(f"{live_server.url}{made.get_absolute_url()}")
    page.locator(".result").first.get_by_role("link", name="Expand").click()
    expect(page.get_by_label("Expand the picture")).to_be_checked()
    expect(page.locator("#painter-canvas")).to_be_hidden()
    page.get_by_label("New aspect ratio").select_option("16:9")
    shot(page, "region-expand-desktop")
    page.get_by_role("button", name=re.compile("^Run")).click()
    page.wait_for_url(re.compile(r"/c/cmp_\w+/$"))
    edit = new_composition(made)
    edit.refresh_from_db()
    assert edit.status == "succeeded" and edit.origin == "expand" and edit.aspect_ratio == "16:9"
    original = read(made.results.get().file)
    out = read(edit.results.get().file)
    canvas = edit.region.canvas
    assert out.shape[:2] == (canvas["height"], canvas["width"])
    top, left = canvas["top"], canvas["left"]
    assert (out[top : top + original.shape[0], left : left + original.shape[1]] == original).all()
    context.close()


def test_bad_masks_are_refused_with_a_message_and_nothing_made(
    browser, live_server, owner, made, tmp_path
):
    from playwright.sync_api import expect

    # With JavaScript: nothing painted.
    context, page = open_region_page(browser, live_server, owner, DESKTOP)
    page.goto(f"{live_server.url}{made.get_absolute_url()}")
    page.locator(".result").first.get_by_role("link", name="Edit a region").click()
    page.get_by_label("What should change there").fill("make it blue")
    page.get_by_role("button", name=re.compile("^Run")).click()
    expect(page.locator("#region-error")).to_have_text(
        "Paint the region to change on the picture first."
    )
    # Painted, then erased again: the server finds the mask empty.
    box = image_box(page)
    x, y, w, h = box["x"], box["y"], box["width"], box["height"]
    page.get_by_label("Rectangle").check()
    drag(page, [(x + w * 0.4, y + h * 0.4), (x + w * 0.5, y + h * 0.5)])
    page.get_by_label("Eraser").check()
    page.locator("#brush-size").fill("100")
    drag(page, [(x + w * 0.3, y + h * 0.45), (x + w * 0.6, y + h * 0.45)])
    page.get_by_role("button", name=re.compile("^Run")).click()
    expect(page.get_by_role("alert").filter(has_text="The mask marks no region")).to_be_visible()
    context.close()

    # Without JavaScript: a mask file of another size, then one covering everything.
    context, page = open_region_page(
        browser, live_server, owner, DESKTOP, java_script_enabled=False
    )
    result = made.results.get()
    page.goto(f"{live_server.url}/c/{made.public_id}/region/{result.public_id}")
    expect(page.locator("#painter-tools")).to_be_hidden()  # painting needs JavaScript
    expect(page.get_by_label("Mask (PNG)")).to_be_visible()
    for size, fill, message in (
        ((10, 10), 255, "The mask is 10×10 pixels"),
        ((result.width, result.height), 255, "The mask covers the whole picture"),
    ):
        path = tmp_path / f"mask-{size[0]}.png"
        Image.new("L", size, fill).save(path)
        page.get_by_label("What should change there").fill("make it blue")
        page.set_input_files('input[name="mask_file"]', str(path))
        page.get_by_role("button", name=re.compile("^Run")).click()
        expect(page.get_by_text(message)).to_be_visible()
    shot(page, "region-bad-mask-nojs")
    context.close()
    assert Composition.objects.count() == 1 and not RegionEdit.objects.exists()
    assert made.workspace.uploads.count() == 2  # the refused masks were not kept


def test_a_strangers_picture_has_no_region_page(browser, live_server, owner, stranger, made):
    context, page = open_region_page(browser, live_server, stranger, DESKTOP)
    response = page.goto(
        f"{live_server.url}/c/{made.public_id}/region/{made.results.get().public_id}"
    )
    assert response.status == 404
    context.close()
