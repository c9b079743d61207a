"""The compose page's model options in a real browser (issue 14): the grounding checkbox and the
thinking level appear only for models that offer them, and the estimate adds the held search.
Screenshots go to artifacts/screenshots/model-options-*.png."""

import pytest

from .test_browser import shot, sign_up
from .test_browser_composer import SIZES, expect

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture(params=list(SIZES))
def size(request, page):
    page.set_viewport_size(SIZES[request.param])
    return request.param


def test_options_follow_the_model_and_the_estimate_holds_a_search(
    page, live_server, size, settings
):
    # The database catalogue (the seed), served by the Gemini API: nothing is called here.
    settings.BANANASITE_PROVIDERS = {"gemini": {"api_key": "unused", "max_attempts": 1}}
    settings.BANANASITE_MODELS = None
    sign_up(page, live_server, f"options-{size}@example.com")
    page.goto(f"{live_server.url}/compose/")
    grounding = page.locator("#grounding-field")
    thinking = page.locator("#thinking-field")

    page.select_option('select[name="model"]', "local")
    expect()(page.locator("#model-options")).to_be_hidden()

    page.select_option('select[name="model"]', "nano-banana-2")
    page.select_option('select[name="image_size"]', "1K")
    expect()(grounding).to_be_visible()
    expect()(grounding).to_contain_text("2 credits per search")
    expect()(page.locator("#estimate")).to_contain_text("6 credits (6 per image)")
    page.get_by_label("Search the web").check()
    expect()(page.locator("#estimate")).to_contain_text(
        "8 credits (6 per image and 2 for one web search)"
    )
    page.select_option('select[name="thinking_level"]', "high")
    expect()(thinking).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(page, f"model-options-{size}")
    # A reload keeps the choices (kept in sessionStorage like the other options).
    page.reload()
    assert page.get_by_label("Search the web").is_checked()
    assert page.locator('select[name="thinking_level"]').input_value() == "high"
    expect()(page.locator("#estimate")).to_contain_text("2 for one web search")

    # A model without them: both are hidden, unticked and reset, the estimate back to images.
    page.select_option('select[name="model"]', "local")
    expect()(page.locator("#model-options")).to_be_hidden()
    assert not page.get_by_label("Search the web").is_checked()
    assert page.locator('select[name="thinking_level"]').input_value() == ""
    expect()(page.locator("#estimate")).not_to_contain_text("web search")
