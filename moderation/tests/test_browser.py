"""A moderator works the queue end to end in the admin, in Debian's Chromium (Playwright).
Screenshots go to artifacts/screenshots/."""

import os
import re

import pytest
from django.test import Client

from compositions.models import Composition, Result
from compositions.tests.factories import compose
from compositions.tests.test_browser import (  # noqa: F401 (Playwright fixtures)
    browser_context_args,
    shot,
)
from conftest import totp_code
from moderation.models import AuditEntry, Report

from .helpers import finished, make_moderator, report

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]
PASSWORD = "correct horse battery"


def test_a_moderator_works_the_queue(page, live_server, make_user, settings, media_files):
    from playwright.sync_api import expect

    owner = make_user("owner@example.com")
    spammer = make_user("spammer@example.com")
    moderator = make_moderator(make_user)
    reported = finished(owner).results.get()
    report(owner, reported, reason="violence", details="Graphic injury in the background")
    spam = finished(spammer).results.get()
    report(spammer, spam, reason="spam")
    settings.BANANASITE_FLAGGED_TERMS = ["sniffing"]
    held = compose(owner)
    assert held.status == "held"

    # The admin signs in through the site's sign-in, with the moderator's second factor.
    page.goto(f"{live_server.url}/admin/")
    page.get_by_label("Email:").fill(moderator.email)
    page.get_by_label("Password:").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_label("Code").fill(totp_code(moderator.totp_secret))
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_role("link", name="Moderation queue").click()
    rows = page.locator("tr.mq-row")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text("Graphic injury")
    expect(rows.nth(2)).to_contain_text("Flagged prompt term")
    # Thumbnails really load (not broken images).
    first_thumb = rows.first.locator("img").first
    expect(first_thumb).to_be_visible()
    assert page.evaluate("(img) => img.naturalWidth", first_thumb.element_handle()) > 0
    shot(page, "moderation-queue")

    # A destructive action without a reason changes nothing.
    rows.first.get_by_role("button", name="Remove").click()
    expect(page.locator(".messagelist")).to_contain_text("needs a reason")
    expect(rows).to_have_count(3)

    # Remove the reported result, with a reason.
    page.get_by_label(re.compile("^Reason")).fill("Graphic violence")
    rows.first.get_by_role("button", name="Remove").click()
    expect(page.locator(".messagelist")).to_contain_text("Remove: done for 1 item.")
    expect(rows).to_have_count(2)

    # Approve the held composition.
    page.locator(f'tr[data-key="held:{held.public_id}"]').get_by_role(
        "button", name="Approve"
    ).click()
    expect(page.locator(".messagelist")).to_contain_text("Approve: done for 1 item.")
    expect(rows).to_have_count(1)

    # Bulk: tick the spam report and suspend its owner.
    page.get_by_label(f"Tick result:{spam.public_id}").check()
    page.get_by_label("Action for ticked items").select_option("suspend")
    page.get_by_label(re.compile("^Reason")).fill("Spam account")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator(".messagelist")).to_contain_text("Suspend account: done for 1 item.")
    shot(page, "moderation-after-actions")

    # Restore from the suspended accounts tab.
    page.get_by_role("link", name="Suspended accounts").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("spammer@example.com")
    rows.first.get_by_role("button", name="Restore account").click()
    expect(page.locator(".messagelist")).to_contain_text("Restore account: done for 1 item.")
    expect(page.get_by_text("Nothing waiting here.")).to_be_visible()

    # Every action is in the audit log, which offers no way to change it.
    page.goto(f"{live_server.url}/admin/moderation/auditentry/")
    expect(page.locator("#result_list tbody tr")).to_have_count(4)
    expect(page.get_by_role("link", name=re.compile("Add audit log entry"))).to_have_count(0)
    shot(page, "moderation-audit-log")

    # And the removed result is gone for its owner.
    client = Client()
    client.force_login(owner)
    assert client.get(f"/r/{reported.public_id}/image").status_code == 404
    assert not Result.objects.filter(pk=reported.pk).exists()
    assert Report.objects.get(result=reported).status == "actioned"
    held.refresh_from_db()
    assert held.status != "held"
    assert Composition.objects.get(pk=held.pk).status in ("queued", "succeeded")
    assert [e.action for e in AuditEntry.objects.order_by("id")] == [
        "remove",
        "approve",
        "suspend",
        "restore",
    ]
