"""The new settings in a browser: the workspace page's retention and export section, and the
account deletion page, at a desktop's and a phone's width; bad input shown beside its field."""

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

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

PASSWORD = "a long browser pass 42"


@pytest.fixture
def owner_with_team(make_user):
    from accounts.models import Membership
    from accounts.services import create_team, switch_workspace
    from compositions.tests.factories import compose
    from privacy.services import request_export

    owner = make_user("owner@example.com", PASSWORD)
    team = create_team(owner=owner, name="Studio North")
    Membership.objects.create(workspace=team, user=make_user("mate@example.com", PASSWORD))
    switch_workspace(
        user=owner, workspace=owner.memberships.get(workspace__kind="personal").workspace
    )
    owner.refresh_from_db()
    compose(owner)  # runs inline: a finished composition to export
    request_export(user=owner, workspace=owner.current_workspace, page_url="")
    return owner


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_retention_export_and_deletion_pages(browser, live_server, owner_with_team, viewport):
    context = new_context(browser, viewport)
    sign_in_context(context, live_server.url, owner_with_team)
    page = context.new_page()
    width = viewport["width"]
    try:
        page.goto(live_server.url + "/workspace/")
        section = page.locator("#retention")
        assert section.get_by_role("link", name="Download").count() == 1
        assert "Ready to download" in section.inner_text()
        section.scroll_into_view_if_needed()
        assert not overflow(page), overflow(page)
        assert not axe_problems(page)
        shot(page, f"privacy-workspace-{width}")

        # Out of bounds, the browser itself refuses the number; "Custom" with no number is
        # refused by the server beside its field, and nothing changes.
        page.select_option("#retention-choice", "custom")
        page.fill("#retention-custom", "0")
        assert not page.eval_on_selector("#retention-custom", "e => e.validity.valid")
        page.fill("#retention-custom", "")
        page.once("dialog", lambda dialog: dialog.accept())
        page.locator("#retention-form button[type=submit]").click()
        page.wait_for_selector("#retention-custom-error")
        assert "1 to 3650" in page.inner_text("#retention-custom-error")
        assert page.locator("#retention-custom").get_attribute("aria-invalid") == "true"
        shot(page, f"privacy-retention-error-{width}")

        page.select_option("#retention-choice", "30")
        page.once("dialog", lambda dialog: dialog.accept())
        page.locator("#retention-form button[type=submit]").click()
        page.wait_for_selector(".message")
        assert "30 days" in page.inner_text(".messages")
        assert page.locator("#retention-choice").input_value() == "30"

        page.goto(live_server.url + "/account/delete")
        assert "New owner of Studio North" in page.inner_text("main")
        assert not overflow(page), overflow(page)
        assert not axe_problems(page)
        shot(page, f"privacy-delete-account-{width}")

        # Without a new owner for the team: refused, naming it; the account stays.
        page.fill("#delete-password", PASSWORD)
        page.get_by_role("button", name="Delete my account").click()
        page.wait_for_selector("#owners-error")
        assert "Studio North" in page.inner_text("#owners-error")
        assert not axe_problems(page)
        shot(page, f"privacy-delete-account-refused-{width}")
    finally:
        context.close()
