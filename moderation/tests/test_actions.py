"""Moderator actions and what each one does for the people concerned."""

import pytest
from django.db import DatabaseError, transaction
from django.test import Client
from django.urls import reverse

from accounts.models import ApiToken
from api.tests.api_clients import token_client
from billing.models import Wallet
from compositions.models import Composition, Result, Upload
from compositions.tests.factories import compose
from conftest import give_totp
from moderation import services
from moderation.models import AuditEntry, BlockedHash, Report

from .helpers import finished, make_moderator, reencoded, report

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"


@pytest.fixture
def moderator(make_user):
    return make_moderator(make_user)


def balance(user):
    return Wallet.objects.get(workspace=user.current_workspace).balance


def file_exists(field):
    from django.core.files.storage import default_storage

    return default_storage.exists(field.name)


# --- remove ----------------------------------------------------------------------------------


def test_removing_a_result_takes_it_out_of_storage_history_and_api(
    owner, owner_client, stranger_client, moderator, django_capture_on_commit_callbacks
):
    composition = finished(owner)
    result = composition.results.get()
    image_url = reverse("compositions:result_file", args=[result.public_id, "image"])
    assert owner_client.get(image_url).status_code == 200
    report(owner, result, details="not what I asked for")

    with django_capture_on_commit_callbacks(execute=True):
        removed = services.remove_content(target=result, actor=moderator, reason="Nudity")
    assert removed == [result.public_id]

    # The file and thumbnail left storage; the item is gone for its owner and for strangers.
    assert not file_exists(result.file) and not file_exists(result.thumbnail)
    assert owner_client.get(image_url).status_code == 404
    assert stranger_client.get(image_url).status_code == 404
    assert not Result.objects.filter(pk=result.pk).exists()
    page = owner_client.get(composition.get_absolute_url()).content.decode()
    assert result.public_id not in page
    history = owner_client.get(reverse("compositions:history")).content.decode()
    assert result.public_id not in history
    api = token_client(owner)
    listed = api.get(f"/api/v1/compositions/{composition.public_id}").json()
    assert listed["results"] == []
    assert all(r["results"] == [] for r in api.get("/api/v1/compositions").json()["results"])

    # Its likeness is on the blocklist, its reports are closed, the action is on record.
    assert BlockedHash.objects.get().phash == result.phash
    assert Report.objects.get().status == Report.Status.ACTIONED
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.action, entry.target_id, entry.reason) == (
        moderator,
        "remove",
        result.public_id,
        "Nudity",
    )


def test_removed_content_cannot_come_back_as_an_upload(owner, moderator, uploaded):
    composition = finished(owner, samples=("chelsea.png", "coffee.png"))
    upload = composition.inputs.first().upload
    services.remove_content(target=upload, actor=moderator, reason="Not theirs to share")
    api = token_client(owner)
    again = api.post("/api/v1/uploads", {"file": uploaded("again.jpg", reencoded("chelsea.png"))})
    assert again.status_code == 400 and again.json()["code"] == "image_blocked"


def test_removing_an_upload_fails_waiting_work_and_releases_its_credits(
    owner, owner_client, stranger_client, moderator, django_capture_on_commit_callbacks
):
    before = balance(owner)
    waiting = compose(owner)
    assert balance(owner) < before
    upload = waiting.inputs.first().upload
    with django_capture_on_commit_callbacks(execute=True):
        services.remove_content(target=upload, actor=moderator, reason="Stolen photo")
    waiting.refresh_from_db()
    assert waiting.status == "failed" and waiting.error_code == "input_rejected"
    assert balance(owner) == before
    assert not file_exists(upload.file)
    url = reverse("compositions:upload_file", args=[upload.public_id, "image"])
    assert owner_client.get(url).status_code == 404
    assert stranger_client.get(url).status_code == 404
    api = token_client(owner)
    assert api.get(f"/api/v1/uploads/{upload.public_id}").status_code == 404
    detail = api.get(f"/api/v1/compositions/{waiting.public_id}").json()
    assert upload.public_id not in str(detail["inputs"])
    # A variation cannot quietly run on the photos that are left.
    response = api.post(f"/api/v1/compositions/{waiting.public_id}/variations", {}, format="json")
    assert response.status_code == 409, response.json()


def test_removal_takes_exact_copies_with_it(owner, owner_client, moderator):
    """A result reused as an input ("use as input") is the same bytes: it goes too."""
    from compositions.services import upload_from_result

    result = finished(owner).results.get()
    copy = upload_from_result(result=result, user=owner)
    copy.save()
    removed = services.remove_content(target=result, actor=moderator, reason="Gore")
    assert set(removed) == {result.public_id, copy.public_id}
    assert not Upload.objects.filter(pk=copy.pk).exists()
    assert AuditEntry.objects.get().details["removed"] == removed


def test_removing_twice_says_so(owner, moderator):
    result = finished(owner).results.get()
    services.remove_content(target=result, actor=moderator, reason="Gore")
    with pytest.raises(services.InvalidState):
        services.remove_content(target=result, actor=moderator, reason="Gore")
    assert AuditEntry.objects.count() == 1


def test_remove_and_suspend_need_a_reason(owner, moderator):
    result = finished(owner).results.get()
    with pytest.raises(services.ReasonRequired):
        services.remove_content(target=result, actor=moderator, reason="  ")
    with pytest.raises(services.ReasonRequired):
        services.suspend_account(user=owner, actor=moderator, reason="")
    assert Result.objects.filter(pk=result.pk).exists() and not AuditEntry.objects.exists()


# --- dismiss ---------------------------------------------------------------------------------


def test_dismissing_closes_every_open_report_on_the_item(owner, moderator):
    result = finished(owner).results.get()
    report(owner, result, reason="spam")
    second = report(owner, result.composition.inputs.first().upload, reason="privacy")
    closed = services.dismiss_reports(target=result, actor=moderator, reason="Looks fine")
    assert closed == 1
    assert Report.objects.get(result=result).status == Report.Status.DISMISSED
    second.refresh_from_db()
    assert second.status == Report.Status.OPEN  # another item, still waiting
    assert Result.objects.filter(pk=result.pk).exists()
    assert AuditEntry.objects.get().details == {"reports": 1}
    with pytest.raises(services.InvalidState):  # a second moderator, or a double submit
        services.dismiss_reports(target=result, actor=moderator)
    assert AuditEntry.objects.count() == 1


# --- held compositions -----------------------------------------------------------------------


def test_approving_a_held_composition_queues_and_runs_it(
    settings, owner, moderator, django_capture_on_commit_callbacks
):
    settings.BANANASITE_HOLD_FIRST_COMPOSITIONS = 1
    held = compose(owner)
    assert held.status == "held"
    with django_capture_on_commit_callbacks(execute=True):
        services.approve_composition(composition=held, actor=moderator, reason="")
    held.refresh_from_db()
    assert held.status == "succeeded" and held.results.count() == 1
    entry = AuditEntry.objects.get()
    assert entry.action == "approve" and "New account" in entry.details["held_reason"]
    with pytest.raises(services.InvalidState):
        services.approve_composition(composition=held, actor=moderator)


def test_rejecting_a_held_composition_fails_it_and_releases_everything(settings, owner, moderator):
    settings.BANANASITE_HOLD_FIRST_COMPOSITIONS = 1
    before = balance(owner)
    held = compose(owner)
    assert balance(owner) < before
    services.reject_composition(composition=held, actor=moderator, reason="Sexualised minor")
    held.refresh_from_db()
    assert held.status == "failed" and held.error_code == "moderation_rejected"
    assert held.credits_charged == 0 and balance(owner) == before
    assert AuditEntry.objects.get().action == "reject"


def test_a_rejected_near_match_cannot_be_used_again(owner, moderator, uploaded):
    from PIL import Image

    from compositions.images import perceptual_hash
    from conftest import SAMPLES

    from .helpers import cropped

    BlockedHash.objects.create(
        phash=perceptual_hash(Image.open(SAMPLES / "chelsea.png").convert("RGB")), source="x"
    )
    api = token_client(owner)
    near = api.post("/api/v1/uploads", {"file": uploaded("c.png", cropped("chelsea.png"))}).json()
    other = api.post("/api/v1/uploads", {"file": uploaded(sample="coffee.png")}).json()
    body = {"model": "local", "prompt": "cat and cup"}
    body["inputs"] = [{"upload": near["id"]}, {"upload": other["id"]}]
    held = Composition.objects.get(
        public_id=api.post("/api/v1/compositions", body, format="json").json()["id"]
    )
    services.reject_composition(composition=held, actor=moderator, reason="Same removed photo")
    assert api.get(f"/api/v1/uploads/{near['id']}").json()["status"] == "rejected"
    assert api.get(f"/api/v1/uploads/{other['id']}").json()["status"] == "ready"
    again = api.post("/api/v1/compositions", body, format="json")
    assert again.status_code == 400 and again.json()["code"] == "image_rejected"


# --- suspend and restore ---------------------------------------------------------------------


def test_suspension_signs_out_revokes_tokens_cancels_work_and_refuses_login(
    owner, owner_client, moderator
):
    api = token_client(owner)
    assert api.get("/api/v1/me").status_code == 200
    before = balance(owner)
    done = finished(owner)
    waiting = [compose(owner), compose(owner)]

    outcome = services.suspend_account(user=owner, actor=moderator, reason="Repeated abuse")
    assert outcome["tokens_revoked"] == 1
    assert sorted(outcome["compositions_canceled"]) == sorted(c.public_id for c in waiting)

    # Waiting work canceled and released; finished work untouched.
    for composition in waiting:
        composition.refresh_from_db()
        assert composition.status == "canceled"
    assert balance(owner) == before - done.credits_charged
    # Sessions: the signed-in browser is signed out.
    response = owner_client.get(reverse("compositions:compose"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    # Tokens: refused, with the reason.
    refused = api.get("/api/v1/me")
    assert refused.status_code == 403 and refused.json()["code"] == "account_suspended"
    assert not ApiToken.objects.active().filter(user=owner).exists()
    # Login: refused with a clear message (the right password, so no guessing is helped).
    login = Client().post(
        reverse("account_login"), {"login": owner.email, "password": PASSWORD}, follow=True
    )
    body = login.content.decode()
    assert login.status_code == 403 and "This account is suspended" in body
    assert "Repeated abuse" in body and "_auth_user_id" not in login.client.session
    wrong = Client().post(reverse("account_login"), {"login": owner.email, "password": "nope"})
    assert "suspended" not in wrong.content.decode()

    entry = AuditEntry.objects.get(action="suspend")
    assert entry.target_id == owner.email and entry.details["tokens_revoked"] == 1


def test_restoring_lets_the_person_back_in_but_not_old_sessions_or_tokens(
    owner, owner_client, moderator
):
    api = token_client(owner)
    services.suspend_account(user=owner, actor=moderator, reason="Mistaken report")
    services.restore_account(user=owner, actor=moderator, reason="Appeal accepted")
    owner.refresh_from_db()
    assert owner.is_active and not owner.is_suspended
    # Old sessions and tokens stay dead; a fresh sign-in works.
    assert owner_client.get(reverse("compositions:compose")).status_code == 302
    assert api.get("/api/v1/me").status_code == 401
    fresh = Client()
    fresh.post(reverse("account_login"), {"login": owner.email, "password": PASSWORD})
    assert fresh.get(reverse("compositions:compose")).status_code == 200
    assert [e.action for e in AuditEntry.objects.order_by("id")] == ["suspend", "restore"]


def test_moderators_cannot_suspend_themselves_or_staff(moderator, make_user):
    with pytest.raises(services.InvalidState):
        services.suspend_account(user=moderator, actor=moderator, reason="oops")
    admin = make_user("admin@example.com")
    admin.is_staff = True
    admin.save()
    with pytest.raises(services.InvalidState):
        services.suspend_account(user=admin, actor=moderator, reason="power grab")
    assert not AuditEntry.objects.exists()


# --- the audit log ---------------------------------------------------------------------------


def test_the_audit_log_refuses_edits_at_every_level(owner, moderator):
    services.suspend_account(user=owner, actor=moderator, reason="Spam")
    entry = AuditEntry.objects.get()
    entry.reason = "nothing happened"
    with pytest.raises(ValueError, match="append-only"):
        entry.save()
    with pytest.raises(ValueError, match="append-only"):
        entry.delete()
    with pytest.raises(ValueError, match="append-only"):
        AuditEntry.objects.filter(pk=entry.pk).update(reason="edited")
    with pytest.raises(ValueError, match="append-only"):
        AuditEntry.objects.all().delete()
    # Below the ORM: the database's trigger.
    from django.db import connection

    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE moderation_auditentry SET reason = %s WHERE id = %s", ["edited", entry.pk]
        )
    if connection.vendor == "postgresql":  # (SQLite: updates only; the test flush deletes)
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM moderation_auditentry WHERE id = %s", [entry.pk])
    assert AuditEntry.objects.get().reason == "Spam"


def test_the_audit_log_is_read_only_in_the_admin_even_for_superusers(owner, moderator):
    services.suspend_account(user=owner, actor=moderator, reason="Spam")
    entry = AuditEntry.objects.get()
    from accounts.models import User

    boss = User.objects.create_superuser("boss@example.com", "a long boss password")
    give_totp(boss)  # staff reach the admin only with two-factor sign-in
    client = Client()
    client.force_login(boss)
    url = reverse("admin:moderation_auditentry_change", args=[entry.pk])
    page = client.get(url)
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert client.post(url, {"reason": "edited"}).status_code == 403
    delete = reverse("admin:moderation_auditentry_delete", args=[entry.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert client.get(reverse("admin:moderation_auditentry_add")).status_code == 403
    assert AuditEntry.objects.get().reason == "Spam"
