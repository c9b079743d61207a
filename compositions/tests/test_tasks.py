from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from compositions import tasks
from compositions.models import Composition, Result
from compositions.providers import get_provider
from compositions.providers.base import ProviderSafetyBlock

from .factories import compose

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(owner):
    """A queued composition whose task has not run: the test's transaction never commits, so
    the on-commit enqueue has not fired (as if the broker still held the task)."""
    return compose(owner)


def test_task_runs_a_composition_to_success(queued, media_files):
    assert queued.status == "queued"
    assert tasks.run_composition(queued.public_id) == "succeeded"
    queued.refresh_from_db()
    assert queued.status == "succeeded"
    assert queued.progress == 100
    assert queued.attempts == 1
    assert queued.started_at and queued.finished_at and queued.lease_expires_at is None
    result = queued.results.get()
    assert (result.width, result.height) == (512, 512)
    assert result.content_type == "image/png"
    assert result.file.storage.exists(result.file.name)
    assert result.thumbnail.storage.exists(result.thumbnail.name)
    assert "no AI model" in queued.text


def test_second_delivery_of_the_same_task_changes_nothing(queued):
    tasks.run_composition(queued.public_id)
    queued.refresh_from_db()
    before = (queued.status, queued.attempts, queued.finished_at, Result.objects.count())
    assert tasks.run_composition(queued.public_id) == "nothing to do"
    queued.refresh_from_db()
    assert (queued.status, queued.attempts, queued.finished_at, Result.objects.count()) == before


def test_only_one_claim_wins(queued):
    first = Composition.objects.get(pk=queued.pk)
    second = Composition.objects.get(pk=queued.pk)
    assert first.claim() is True
    assert second.claim() is False
    first.refresh_from_db()
    assert first.status == "preparing" and first.attempts == 1


def test_progress_only_grows(queued):
    queued.claim()
    queued.advance("generating", token=1)
    assert queued.report_progress(60, token=1)
    assert queued.report_progress(40, token=1)
    queued.refresh_from_db()
    assert queued.progress == 60


def test_cancel_during_the_run_discards_the_outcome(queued, media_files, monkeypatch):
    real_compose = get_provider("local").compose

    def cancel_then_compose(self, request, progress=None):
        Composition.objects.get(pk=queued.pk).cancel()
        return real_compose(request, progress)

    monkeypatch.setattr("compositions.providers.local.LocalCompositor.compose", cancel_then_compose)
    inputs_only = media_files()
    assert tasks.run_composition(queued.public_id) == "canceled"
    queued.refresh_from_db()
    assert queued.status == "canceled"
    assert queued.results.count() == 0
    assert media_files() == inputs_only  # nothing stored for the canceled run


def test_a_provider_refusal_fails_with_its_code(queued, monkeypatch):
    def refuse(self, request, progress=None):
        raise ProviderSafetyBlock()

    monkeypatch.setattr("compositions.providers.local.LocalCompositor.compose", refuse)
    assert tasks.run_composition(queued.public_id) == "provider_safety_block"
    queued.refresh_from_db()
    assert queued.status == "failed"
    assert queued.error_code == "provider_safety_block"
    assert "safety" in queued.error_message


def test_an_unexpected_error_fails_plainly_without_internals(queued, monkeypatch):
    def explode(self, request, progress=None):
        raise RuntimeError("/srv/secret/path.py line 3: key=sk-123")

    monkeypatch.setattr("compositions.providers.local.LocalCompositor.compose", explode)
    assert tasks.run_composition(queued.public_id) == "internal_error"
    queued.refresh_from_db()
    assert queued.status == "failed" and queued.error_code == "internal_error"
    assert "sk-123" not in queued.error_message and "/srv" not in queued.error_message


def test_missing_composition_is_a_no_op():
    assert tasks.run_composition("cmp_doesnotexist") == "nothing to do"


def test_sweep_requeues_an_abandoned_composition_which_then_finishes(
    queued, django_capture_on_commit_callbacks
):
    queued.claim()  # a worker took it, then died
    with (
        time_machine.travel(timezone.now() + timedelta(hours=1)),
        django_capture_on_commit_callbacks(execute=True) as enqueued,
    ):
        outcome = tasks.sweep_compositions()
    assert len(enqueued) == 1
    assert outcome["requeued"] == 1
    queued.refresh_from_db()
    # Tasks run inline in tests, so the re-queued composition has been run again.
    assert queued.status == "succeeded"
    assert queued.attempts == 2


def test_sweep_fails_a_composition_out_of_attempts(queued, settings):
    settings.BANANASITE_MAX_ATTEMPTS = 1
    queued.claim()
    with time_machine.travel(timezone.now() + timedelta(hours=1)):
        outcome = tasks.sweep_compositions()
    assert outcome == {"requeued": 0, "failed": 1, "enqueued_again": 0}
    queued.refresh_from_db()
    assert queued.status == "failed"
    assert queued.error_code == "internal_error"
    assert "stopped responding" in queued.error_message


def test_sweep_leaves_live_leases_alone(queued):
    queued.claim()
    assert tasks.sweep_compositions() == {"requeued": 0, "failed": 0, "enqueued_again": 0}
    queued.refresh_from_db()
    assert queued.status == "preparing"


def test_sweep_enqueues_again_a_composition_the_broker_lost(
    queued, django_capture_on_commit_callbacks
):
    with (
        time_machine.travel(timezone.now() + timedelta(hours=1)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        outcome = tasks.sweep_compositions()
    assert outcome["enqueued_again"] == 1
    queued.refresh_from_db()
    assert queued.status == "succeeded"


def test_sweep_is_scheduled_by_migration():
    from django_q.models import Schedule

    schedule = Schedule.objects.get(func="compositions.tasks.sweep_compositions")
    assert schedule.schedule_type == Schedule.MINUTES and schedule.minutes == 1
    assert schedule.repeats < 0


def test_uploads_never_used_are_purged_with_their_files_after_the_grace_days(
    owner, media_files, settings, django_capture_on_commit_callbacks
):
    from compositions.options import NewImage
    from compositions.services import create_upload
    from conftest import SAMPLES

    settings.BANANASITE_UNUSED_UPLOAD_DAYS = 7
    used = compose(owner)  # its two uploads are inputs: they stay
    with open(SAMPLES / "rocket.jpg", "rb") as f:
        lonely = create_upload(
            workspace=owner.current_workspace,
            user=owner,
            image=NewImage(name="rocket.jpg", fileobj=f, size=None),
        )
    lonely_file = lonely.file.name
    before = media_files()
    assert any(str(p).endswith(lonely_file) for p in before)
    with time_machine.travel(timezone.now() + timedelta(days=6)):
        assert tasks.purge_unused_uploads() == 0  # still within the grace days
    with (
        time_machine.travel(timezone.now() + timedelta(days=8)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert tasks.purge_unused_uploads() == 1
    from compositions.models import Upload

    assert not Upload.all_objects.filter(pk=lonely.pk).exists()
    assert Upload.objects.filter(uses__composition=used).count() == 2
    after = media_files()
    assert len(after) == len(before) - 2  # the photo and its thumbnail
    assert not any(str(p).endswith(lonely_file) for p in after)
