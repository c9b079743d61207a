"""Retention: compositions past their workspace's life (or their own shorter one) are purged
with their files by the scheduled task; the ledger keeps its rows."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.files.storage import default_storage
from django_q.models import Schedule

from accounts.services import set_retention
from bananasite.errors import ValidationFailed
from billing.models import LedgerEntry, Wallet
from billing.services import ledger_sum
from compositions.models import Composition, Result, Upload
from compositions.options import NewImage
from compositions.services import create_upload
from compositions.tasks import purge_expired_compositions, run_composition
from conftest import SAMPLES
from moderation.models import AuditEntry, BlockedHash
from moderation.services import remove_content

from .factories import compose

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 1, 12, tzinfo=UTC)


def finished(user, **options):
    composition = compose(user, **options)
    run_composition(composition.public_id)
    composition.refresh_from_db()
    assert composition.status == "succeeded"
    return composition


def stored_names(composition):
    names = [n for r in composition.results.all() for n in (r.file.name, r.thumbnail.name)]
    names += [
        n for i in composition.inputs.all() for n in (i.upload.file.name, i.upload.thumbnail.name)
    ]
    return [n for n in names if n]


def test_the_purge_is_scheduled_hourly():
    schedule = Schedule.objects.get(func="compositions.tasks.purge_expired_compositions")
    assert schedule.schedule_type == Schedule.HOURLY and schedule.repeats == -1


def test_old_compositions_go_with_their_files_newer_and_running_ones_stay(
    owner, django_capture_on_commit_callbacks
):
    workspace = owner.current_workspace
    with time_machine.travel(START, tick=False):
        old = finished(owner)
    with time_machine.travel(START + timedelta(days=20), tick=False):
        newer = finished(owner)
    with time_machine.travel(START + timedelta(minutes=1), tick=False):
        running = compose(owner)  # as old as `old`, but unfinished: it holds its credits
    set_retention(actor=owner, workspace=workspace, days=30)
    old_names = stored_names(old)
    assert old_names and all(default_storage.exists(n) for n in old_names)
    wallet = Wallet.objects.get(workspace=workspace)
    balance_before = wallet.balance
    entries_before = LedgerEntry.objects.filter(wallet=wallet).count()

    with (
        time_machine.travel(START + timedelta(days=31), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert purge_expired_compositions() == 1

    assert not Composition.objects.filter(pk=old.pk).exists()
    assert not Result.all_objects.filter(composition_id=old.pk).exists()
    assert not any(default_storage.exists(n) for n in old_names)
    assert Composition.objects.filter(pk=newer.pk).exists()
    assert all(default_storage.exists(n) for n in stored_names(newer))
    kept = Composition.objects.get(pk=running.pk)
    assert kept.status == "queued" and kept.inputs.count() == 2
    # The money is untouched: every row stays, naming the purged composition by its id.
    wallet.refresh_from_db()
    assert wallet.balance == balance_before == ledger_sum(wallet)
    assert LedgerEntry.objects.filter(wallet=wallet).count() == entries_before
    assert set(
        LedgerEntry.objects.filter(composition_ref=old.public_id).values_list("kind", flat=True)
    ) == {"reserve", "release", "capture"}


def test_a_running_composition_past_its_life_waits_until_it_ends(owner):
    with time_machine.travel(START, tick=False):
        composition = compose(owner)
    set_retention(actor=owner, workspace=owner.current_workspace, days=7)
    with time_machine.travel(START + timedelta(days=10), tick=False):
        assert composition.claim()  # a worker has it
        assert purge_expired_compositions() == 0
        assert Composition.objects.get(pk=composition.pk).status == "preparing"


def test_forever_keeps_everything(owner):
    with time_machine.travel(START, tick=False):
        composition = finished(owner)
    with time_machine.travel(START + timedelta(days=3000), tick=False):
        assert purge_expired_compositions() == 0
    assert Composition.objects.filter(pk=composition.pk).exists()
    composition.refresh_from_db()
    assert composition.expires_at() is None


def test_a_composition_can_ask_for_a_shorter_life(owner):
    set_retention(actor=owner, workspace=owner.current_workspace, days=30)
    with time_machine.travel(START, tick=False):
        short = finished(owner, retention_days=3)
        usual = finished(owner)
    assert short.keep_until == START + timedelta(days=3)
    assert short.expires_at() == START + timedelta(days=3)
    assert usual.expires_at() == START + timedelta(days=30)
    with time_machine.travel(START + timedelta(days=4), tick=False):
        assert purge_expired_compositions() == 1
    assert not Composition.objects.filter(pk=short.pk).exists()
    assert Composition.objects.filter(pk=usual.pk).exists()


def test_a_life_longer_than_the_workspaces_is_refused_and_nothing_is_stored(owner, media_files):
    set_retention(actor=owner, workspace=owner.current_workspace, days=30)
    with pytest.raises(ValidationFailed) as refused:
        compose(owner, retention_days=31)
    assert refused.value.code == "retention_too_long"
    assert Composition.objects.count() == 0 and Upload.all_objects.count() == 0
    assert media_files() == []
    assert Wallet.objects.get(workspace=owner.current_workspace).balance == 50


def test_unused_uploads_older_than_the_retention_go_too(owner, django_capture_on_commit_callbacks):
    set_retention(actor=owner, workspace=owner.current_workspace, days=7)
    with time_machine.travel(START, tick=False):
        old = create_upload(
            workspace=owner.current_workspace,
            user=owner,
            image=NewImage(name="cat.png", fileobj=(SAMPLES / "chelsea.png").open("rb"), size=None),
        )
    with time_machine.travel(START + timedelta(days=6), tick=False):
        recent = create_upload(
            workspace=owner.current_workspace,
            user=owner,
            image=NewImage(name="cup.png", fileobj=(SAMPLES / "coffee.png").open("rb"), size=None),
        )
    with (
        time_machine.travel(START + timedelta(days=8), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        purge_expired_compositions()
    assert not Upload.all_objects.filter(pk=old.pk).exists()
    assert not default_storage.exists(old.file.name)
    assert Upload.all_objects.filter(pk=recent.pk).exists()
    assert default_storage.exists(recent.file.name)


def test_removed_content_keeps_its_blocklist_hash_and_audit_entry(owner, make_user):
    moderator = make_user("mod@example.com")
    set_retention(actor=owner, workspace=owner.current_workspace, days=7)
    with time_machine.travel(START, tick=False):
        composition = finished(owner)
        result = composition.results.get()
        remove_content(target=result, actor=moderator, reason="Not allowed")
    with time_machine.travel(START + timedelta(days=8), tick=False):
        assert purge_expired_compositions() == 1
    assert BlockedHash.objects.filter(source=result.public_id).exists()
    assert AuditEntry.objects.filter(target_id=result.public_id).exists()


def test_retention_bounds_are_checked(owner):
    from bananasite.errors import AppError

    for days in (0, 3651):
        with pytest.raises(AppError):
            set_retention(actor=owner, workspace=owner.current_workspace, days=days)


def test_the_composition_page_says_how_long_it_is_kept(owner, client):
    client.force_login(owner)
    with time_machine.travel(START, tick=False):
        composition = finished(owner)
    assert b'id="expires"' not in client.get(composition.get_absolute_url()).content
    set_retention(actor=owner, workspace=owner.current_workspace, days=30)
    page = client.get(composition.get_absolute_url()).content.decode()
    assert "kept until 31 March 2026" in page


def test_a_reported_composition_waits_for_the_moderator(owner):
    from moderation.models import Report
    from moderation.tests.helpers import report

    with time_machine.travel(START, tick=False):
        composition = finished(owner)
    with time_machine.travel(START + timedelta(days=1), tick=False):
        filed = report(owner, composition.results.get())
    set_retention(actor=owner, workspace=owner.current_workspace, days=7)
    with time_machine.travel(START + timedelta(days=10), tick=False):
        assert purge_expired_compositions() == 0  # the report is open: the evidence stays
        Report.objects.filter(pk=filed.pk).update(status="dismissed")
        assert purge_expired_compositions() == 1
    assert not Composition.objects.filter(pk=composition.pk).exists()
