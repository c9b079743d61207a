"""A refused region edit keeps what was painted and the prompt, in a real browser at desktop
(1366x900) and phone (390x844) sizes: the page comes back with the refusal, the region painted
again from sessionStorage and the prompt as typed; Run then sends that region, and once the edit
is made the kept region is forgotten. Screenshots go to artifacts/screenshots/."""

import re

import pytest

from bananasite.tests.browser import DESKTOP, PHONE, new_context, shot, sign_in_context
from billing.models import Wallet
from billing.services import adjust_credits
from compositions import regions
from compositions.models import Composition
from compositions.tasks import run_composition

from .factories import compose
from .test_browser_region import drag, image_box

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def made(owner):
    composition = compose(owner, prompt="The cat from image 1 beside the cup from image 2")
    run_composition(composition.public_id)  # already run inline once committed, if so
    composition.refresh_from_db()
    assert composition.status == "succeeded"
    return composition


def open_region_page(browser, live_server, owner, composition, viewport):
    context = new_context(browser, viewport)
    sign_in_context(context, live_server.url, owner)
    page = context.new_page()
    result = composition.results.get()
    page.goto(f"{live_server.url}/c/{composition.public_id}/region/{result.public_id}")
    return context, page


def paint_a_rectangle(page):
    box = image_box(page)
    x, y, w, h = box["x"], box["y"], box["width"], box["height"]
    page.get_by_label("Rectangle").check()
    drag(page, [(x + w * 0.55, y + h * 0.55), (x + w * 0.8, y + h * 0.8)])


def painted_share(page) -> float:
    """The share of the canvas's pixels painted (the overlay is transparent elsewhere)."""
    return page.evaluate(
        """() => {
          const c = document.querySelector('#painter-canvas');
          const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          let painted = 0;
          for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted += 1;
          return painted / (c.width * c.height);
        }"""
    )


def the_edit(source: Composition) -> Composition:
    return Composition.objects.exclude(pk=source.pk).get()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_refusal_for_credits_keeps_the_region_and_the_prompt(
    browser, live_server, owner, made, viewport
):
    from playwright.sync_api import expect

    name = "desktop" if viewport is DESKTOP else "phone"
    context, page = open_region_page(browser, live_server, owner, made, viewport)
    paint_a_rectangle(page)
    page.get_by_label("What should change there").fill("make the cup blue")
    wallet = Wallet.objects.get(workspace=made.workspace)
    balance = wallet.balance
    adjust_credits(wallet=wallet, amount=-balance, reason="spent elsewhere")

    page.get_by_role("button", name=re.compile("^Run")).click()
    expect(page.get_by_role("alert").filter(has_text="the workspace has 0")).to_be_visible()
    expect(page.get_by_label("What should change there")).to_have_value("make the cup blue")
    expect(page.locator("#painter-status")).to_have_text(
        "Your painted region is kept: change it or run again."
    )
    image_box(page)
    page.wait_for_function(
        "() => { const c = document.querySelector('#painter-canvas'); return c.width > 50; }"
    )
    share = painted_share(page)
    assert 0.03 < share < 0.12, share  # the rectangle: a quarter by a quarter of the picture
    assert Composition.objects.count() == 1
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    shot(page, f"region-refused-credits-{name}")

    # Credits back: Run sends the kept region, without painting again.
    adjust_credits(wallet=wallet, amount=balance, reason="refund")
    page.get_by_role("button", name=re.compile("^Run")).click()
    page.wait_for_url(re.compile(r"/c/cmp_\w+/$"))
    edit = the_edit(made)
    assert page.url.endswith(edit.get_absolute_url())
    assert "make the cup blue" in edit.prompt
    mask = regions.read_mask(edit.region.mask.open("rb").read())
    height, width = mask.shape
    assert mask[int(height * 0.7), int(width * 0.7)]
    assert not mask[int(height * 0.3), int(width * 0.3)]

    # The edit was made: the region is no longer kept for this picture.
    page.goto(f"{live_server.url}/c/{made.public_id}/region/{made.results.get().public_id}")
    image_box(page)
    expect(page.locator("#painter-status")).not_to_have_text(re.compile("kept"))
    assert painted_share(page) == 0
    context.close()


def test_a_refused_prompt_keeps_the_region_to_run_again_with_new_words(
    browser, live_server, owner, made, settings
):
    from playwright.sync_api import expect

    settings.BANANASITE_BLOCKED_TERMS = ["forbidden"]
    context, page = open_region_page(browser, live_server, owner, made, DESKTOP)
    paint_a_rectangle(page)
    page.get_by_label("What should change there").fill("make it forbidden")
    page.get_by_role("button", name=re.compile("^Run")).click()
    expect(page.locator(".errorlist")).to_have_text(re.compile("Please rephrase it"))
    expect(page.get_by_label("What should change there")).to_have_value("make it forbidden")
    expect(page.locator("#painter-status")).to_have_text(re.compile("kept"))
    assert painted_share(page) > 0.03
    shot(page, "region-refused-prompt-desktop")
    page.get_by_label("What should change there").fill("make it green")
    page.get_by_role("button", name=re.compile("^Run")).click()
    page.wait_for_url(re.compile(r"/c/cmp_\w+/$"))
    mask = regions.read_mask(the_edit(made).region.mask.open("rb").read())
    height, width = mask.shape
    assert mask[int(height * 0.7), int(width * 0.7)]
    context.close()
