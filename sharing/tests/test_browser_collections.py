"""In Chromium: the collections page with each collection's count of compositions, at a
desktop's and a phone's width."""

import pytest

from bananasite.tests.browser import DESKTOP, PHONE, new_context, overflow, shot, sign_in_context
from compositions.tests.factories import compose
from sharing import services

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_the_collections_page_shows_each_collection_s_count(browser, live_server, owner):
    from playwright.sync_api import expect

    pictures = [compose(owner, prompt=f"picture {n}") for n in range(2)]
    for name, members in (("Drafts", pictures), ("Picks", pictures[:1]), ("Empty", [])):
        collection = services.create_collection(
            workspace=owner.current_workspace, user=owner, name=name
        )
        for composition in members:
            services.add_to_collection(collection=collection, composition=composition)
    for viewport, label in ((DESKTOP, "desktop"), (PHONE, "phone")):
        context = new_context(browser, viewport)
        sign_in_context(context, live_server.url, owner)
        page = context.new_page()
        page.goto(f"{live_server.url}/sharing/")
        rows = page.locator(".collection-row")
        expect(rows).to_have_count(3)
        expect(rows.filter(has_text="Drafts")).to_contain_text("2 compositions")
        expect(rows.filter(has_text="Picks")).to_contain_text("1 composition")
        expect(rows.filter(has_text="Empty")).to_contain_text("0 compositions")
        shot(page, f"sharing-collections-{label}")
        assert overflow(page) is None
        context.close()
