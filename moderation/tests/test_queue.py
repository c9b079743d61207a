"""The moderation panel in the admin: who may see it, what it lists, how actions apply."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.models import Group
from django.test import Client

from compositions.models import Result
from compositions.tests.factories import compose
from conftest import give_totp
from moderation.apps import MODERATOR_PERMISSIONS, MODERATORS_GROUP
from moderation.models import AuditEntry, Report

from .helpers import finished, make_moderator, report

pytestmark = pytest.mark.django_db

QUEUE = "/admin/moderation/moderationqueue/"


@pytest.fixture
def moderator(make_user):
    return make_moderator(make_user)


@pytest.fixture
def mod_client(moderator):
    client = Client()
    client.force_login(moderator)
    return client


def test_the_moderators_group_has_only_what_the_queue_needs(moderator):
    group = Group.objects.get(name=MODERATORS_GROUP)
    granted = {
        (p.content_type.app_label, p.codename)
        for p in group.permissions.select_related("content_type")
    }
    assert granted == set(MODERATOR_PERMISSIONS)
    assert moderator.is_staff and not moderator.is_superuser


def test_moderators_reach_the_queue_and_nothing_else(mod_client):
    index = mod_client.get("/admin/").content.decode()
    assert "Moderation queue" in index and "Audit log" in index
    assert "Wallets" not in index and "Users" not in index
    assert mod_client.get(QUEUE).status_code == 200
    assert mod_client.get("/admin/moderation/auditentry/").status_code == 200
    for forbidden in ("/admin/accounts/user/", "/admin/billing/wallet/", "/admin/auth/group/"):
        assert mod_client.get(forbidden).status_code == 403, forbidden


def test_staff_without_the_role_and_members_cannot_open_the_queue(make_user, owner_client):
    staff = make_user("staff@example.com")
    staff.is_staff = True
    staff.save()
    give_totp(staff)  # two-factor lets staff into the admin; the role is still missing
    client = Client()
    client.force_login(staff)
    assert client.get(QUEUE).status_code == 403
    assert owner_client.get(QUEUE).status_code == 302  # to the admin's login


def rows(page) -> list[str]:
    return re.findall(r'data-key="([^"]+)"', page)


def test_the_queue_lists_reports_and_held_compositions_oldest_first(
    settings, owner, make_user, mod_client, time_machine
):
    time_machine.move_to("2026-11-20 09:00:00+00:00", tick=False)
    result = finished(owner).results.get()
    upload = result.composition.inputs.first().upload
    report(owner, result, reason="violence", details="Blood everywhere")
    time_machine.move_to("2026-11-20 10:00:00+00:00", tick=False)
    settings.BANANASITE_FLAGGED_TERMS = ["sniffing"]
    held = compose(owner)
    time_machine.move_to("2026-11-20 11:00:00+00:00", tick=False)
    report(owner, upload, reason="privacy")
    time_machine.move_to("2026-11-22 11:00:00+00:00", tick=False)

    page = mod_client.get(QUEUE).content.decode()
    assert rows(page) == [
        f"result:{result.public_id}",
        f"held:{held.public_id}",
        f"upload:{upload.public_id}",
    ]
    # Thumbnails, reason, count, reporter, age, and the owner.
    assert f"media/result/{result.public_id}/thumb/" in page
    assert f"media/upload/{upload.public_id}/thumb/" in page
    assert "Violence" in page and "Blood everywhere" in page and "Flagged prompt term" in page
    assert "owner@example.com" in page and "2\xa0days" in page
    assert mod_client.get(QUEUE + "?show=held").content.decode().count('data-key="') == 1


def test_the_same_item_reported_by_several_people_is_one_row_with_a_count(
    owner, make_user, mod_client
):
    from accounts.services import accept_invitation, create_team, invite_member
    from billing.services import grant_credits, open_wallet

    team = create_team(owner=owner, name="Studio")
    grant_credits(wallet=open_wallet(workspace=team), amount=10, reason="test")
    owner.refresh_from_db()
    result = finished(owner).results.get()
    for email in ("a@example.com", "b@example.com"):
        member = make_user(email)
        _invitation, raw = invite_member(workspace=team, inviter=owner, email=email, role="member")
        EmailAddress.objects.create(user=member, email=member.email, verified=True, primary=True)
        accept_invitation(user=member, raw_token=raw)
        member.refresh_from_db()
        assert member.current_workspace == team
        report(member, result, reason="hate")
    report(owner, result, reason="spam")
    page = mod_client.get(QUEUE).content.decode()
    assert rows(page) == [f"result:{result.public_id}"]
    assert re.search(r'class="mq-count">3<', page)
    assert "Hate ×2" in page and "a@example.com" in page and "b@example.com" in page


def test_moderator_media_serves_any_workspace_but_only_to_moderators(owner, mod_client, make_user):
    result = finished(owner).results.get()
    url = f"{QUEUE}media/result/{result.public_id}/thumb/"
    response = mod_client.get(url)
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    staff = make_user("staff@example.com")
    staff.is_staff = True
    staff.save()
    give_totp(staff)  # two-factor lets staff into the admin; the role is still missing
    other = Client()
    other.force_login(staff)
    assert other.get(url).status_code == 403
    assert mod_client.get(f"{QUEUE}media/result/res_nope/thumb/").status_code == 404


def test_a_row_button_acts_on_that_row(owner, mod_client, django_capture_on_commit_callbacks):
    result = finished(owner).results.get()
    report(owner, result)
    with django_capture_on_commit_callbacks(execute=True):
        response = mod_client.post(
            QUEUE, {"do": f"remove|result:{result.public_id}", "reason": "Explicit"}, follow=True
        )
    assert "Remove: done for 1 item." in response.content.decode()
    assert not Result.objects.filter(pk=result.pk).exists()
    assert AuditEntry.objects.get().action == "remove"


def test_bulk_actions_apply_to_every_ticked_item_and_skip_what_does_not_fit(
    settings, owner, mod_client
):
    first = finished(owner)
    second = finished(owner)
    a, b = first.results.get(), second.results.get()
    report(owner, a)
    report(owner, b)
    settings.BANANASITE_HOLD_FIRST_COMPOSITIONS = 99
    held = compose(owner)
    response = mod_client.post(
        QUEUE,
        {
            "action": "dismiss",
            "items": [f"result:{a.public_id}", f"result:{b.public_id}", f"held:{held.public_id}"],
            "reason": "",
        },
        follow=True,
    )
    page = response.content.decode()
    assert "Dismiss: done for 2 items." in page
    assert "does not apply" in page and held.public_id in page
    assert not Report.objects.filter(status="open").exists()
    assert AuditEntry.objects.filter(action="dismiss").count() == 2


def test_remove_without_a_reason_changes_nothing(owner, mod_client):
    result = finished(owner).results.get()
    report(owner, result)
    response = mod_client.post(
        QUEUE, {"action": "remove", "items": [f"result:{result.public_id}"]}, follow=True
    )
    assert "needs a reason" in response.content.decode()
    assert Result.objects.filter(pk=result.pk).exists() and not AuditEntry.objects.exists()


def test_suspend_from_the_queue_then_restore_from_the_suspended_tab(owner, mod_client):
    result = finished(owner).results.get()
    report(owner, result)
    mod_client.post(QUEUE, {"do": f"suspend|result:{result.public_id}", "reason": "Spam account"})
    owner.refresh_from_db()
    assert owner.is_suspended
    page = mod_client.get(QUEUE + "?show=suspended").content.decode()
    assert rows(page) == [f"account:{owner.email}"] and "Spam account" in page
    mod_client.post(QUEUE + "?show=suspended", {"do": f"account|{owner.email}"})  # malformed
    mod_client.post(QUEUE + "?show=suspended", {"do": f"restore|account:{owner.email}"})
    owner.refresh_from_db()
    assert not owner.is_suspended and owner.is_active
    assert [e.action for e in AuditEntry.objects.order_by("id")] == ["suspend", "restore"]


def test_the_queue_pages_oldest_first_without_a_query_per_item(
    settings, owner, mod_client, monkeypatch
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from compositions.services import create_variation
    from compositions.tasks import run_composition
    from moderation import queue

    made = compose(owner, num_images=4)
    run_composition(made.public_id)
    results = list(made.results.all())

    def queries_for_page(url):
        with CaptureQueriesContext(connection) as queries:
            page = mod_client.get(url).content.decode()
        return len(queries.captured_queries), page

    for result in results[:2]:
        report(owner, result)
    two, _ = queries_for_page(QUEUE + "?show=reports")
    for result in results[2:]:
        report(owner, result)
    four, page = queries_for_page(QUEUE + "?show=reports")
    assert len(rows(page)) == 4
    assert four == two  # the details are read per page, not per report

    monkeypatch.setattr(queue, "PAGE_SIZE", 5)
    settings.BANANASITE_HOLD_FIRST_COMPOSITIONS = 1000
    first = compose(owner)
    held = [first] + [create_variation(source=first, user=owner) for _ in range(6)]
    page = mod_client.get(QUEUE + "?show=held").content.decode()
    assert rows(page) == [f"held:{c.public_id}" for c in held[:5]]
    assert "Page 1 of 2 (7 items)" in page
    second = mod_client.get(QUEUE + "?show=held&page=2").content.decode()
    assert rows(second) == [f"held:{c.public_id}" for c in held[5:]]


def test_queue_actions_need_the_csrf_token(owner, moderator):
    result = finished(owner).results.get()
    report(owner, result)
    client = Client(enforce_csrf_checks=True)
    client.force_login(moderator)
    response = client.post(QUEUE, {"do": f"remove|result:{result.public_id}", "reason": "x"})
    assert response.status_code == 403
    assert Result.objects.filter(pk=result.pk).exists() and not AuditEntry.objects.exists()
