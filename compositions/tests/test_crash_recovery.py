"""A crashed worker's compositions end within minutes, each charged at most once, and a worker
whose lease was taken over changes nothing (issue 11: leases, heartbeats, fencing)."""

import threading
import time
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from billing.models import LedgerEntry
from compositions import pipeline
from compositions.lifecycle import Heartbeat, fail_composition
from compositions.models import Composition
from compositions.tasks import run_composition, sweep_compositions

from .factories import compose
from .fakes import FakeProvider, Reply, gemini_ok, png
from .test_providers_end_to_end import configure

OUT = png((30, 160, 90), (64, 64))


def _expire(composition: Composition) -> None:
    Composition.objects.filter(pk=composition.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )


def _wait_for(condition, *, seconds: float, step: float = 0.2) -> bool:
    """Wait on another process or thread (not on the clock) until `condition()` holds."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(step)
    return condition()


# --- Fencing ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_worker_whose_lease_was_taken_over_changes_nothing_and_leaves_no_files(
    owner, media_files, monkeypatch
):
    composition = compose(owner)
    real_store = pipeline.store_results
    taken_over = {}

    def store_then_lose_the_lease(stale, generated):
        results = real_store(stale, generated)
        # Meanwhile the worker was presumed dead: its lease ran out, the sweep re-queued the
        # composition and a second worker made it.
        monkeypatch.setattr(pipeline, "store_results", real_store)
        _expire(stale)
        assert sweep_compositions()["requeued"] == 1
        taken_over["outcome"] = run_composition(stale.public_id)
        taken_over["files"] = {n for r in results for n in (r.file.name, r.thumbnail.name)}
        return results

    monkeypatch.setattr(pipeline, "store_results", store_then_lose_the_lease)
    assert run_composition(composition.public_id) == "canceled"  # the first worker gives up
    assert taken_over["outcome"] == "succeeded"

    composition.refresh_from_db()
    assert composition.status == "succeeded" and composition.attempts == 2
    assert composition.results.count() == 1
    assert media_files()  # the storage is there, and holds the second worker's files only
    assert not any(default_storage.exists(name) for name in taken_over["files"])
    assert all(default_storage.exists(r.file.name) for r in composition.results.all())
    ledger = LedgerEntry.objects.filter(composition_ref=composition.public_id)
    assert sorted(ledger.values_list("kind", flat=True)) == ["capture", "release", "reserve"]


@pytest.mark.django_db
def test_a_stale_token_cannot_advance_report_fail_or_succeed(owner):
    composition = compose(owner)
    assert composition.claim()
    stale = composition.attempts
    _expire(composition)
    assert sweep_compositions()["requeued"] == 1
    fresh = Composition.objects.get(pk=composition.pk)
    assert fresh.claim() and fresh.attempts == stale + 1

    assert not composition.advance("generating", token=stale)
    assert not composition.report_progress(50, token=stale)
    assert not composition.renew_lease(token=stale)
    assert not fail_composition(composition=composition, code="x", message="x", token=stale)
    assert not composition.succeed(token=stale)
    assert fresh.advance("generating", token=fresh.attempts)
    fresh.refresh_from_db()
    assert fresh.status == "generating" and not fresh.error_code


@pytest.mark.django_db
def test_the_sweep_leaves_a_lease_that_was_renewed_in_time(owner):
    composition = compose(owner)
    composition.claim()
    # Listed by the sweep as expired, but renewed by its heartbeat before the sweep acts.
    _expire(composition)
    listed = list(Composition.objects.filter(pk=composition.pk))
    assert composition.renew_lease(token=composition.attempts)
    assert not listed[0].requeue()
    assert not fail_composition(
        composition=listed[0],
        code="x",
        message="x",
        from_statuses=("preparing",),
        expired_only=True,
    )
    composition.refresh_from_db()
    assert composition.status == "preparing"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_heartbeat_renews_the_lease_and_notices_when_it_is_lost(owner, settings):
    settings.BANANASITE_TASKS_SYNC = False  # a real thread, as in a worker
    settings.BANANASITE_HEARTBEAT_SECONDS = 0.1
    composition = compose(owner)
    composition.claim()
    _expire(composition)
    with Heartbeat(composition, token=composition.attempts) as beat:
        assert _wait_for(
            lambda: Composition.objects.get(pk=composition.pk).lease_expires_at > timezone.now(),
            seconds=10,
            step=0.05,
        )
        assert not beat.lost.is_set()
        # Another worker took it over.
        Composition.objects.filter(pk=composition.pk).update(attempts=composition.attempts + 1)
        assert beat.lost.wait(10)
    assert not any(t.name == "lease-heartbeat" for t in threading.enumerate())


# --- The attempt's deadline ------------------------------------------------------------------


@pytest.mark.django_db
def test_an_attempt_past_its_deadline_calls_no_provider(owner, monkeypatch):
    from compositions.catalog import get_model

    composition = compose(owner)
    composition.claim()
    called = []
    monkeypatch.setattr(pipeline, "get_provider", lambda name: called.append(name))
    routes = pipeline.routes_for(get_model(composition.model), composition)
    with pytest.raises(pipeline.ProviderTimeout):
        pipeline.generate(
            composition, routes, [], token=composition.attempts, deadline=time.monotonic() - 1
        )
    assert called == []


# --- A real cluster killed mid-call ----------------------------------------------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_killed_cluster_s_compositions_all_end_charged_once(owner, settings, start_worker):
    fake = FakeProvider()
    try:
        configure(settings, {"gemini": fake}, "gemini")
        settings.BANANASITE_LEASE_SECONDS = 10
        settings.BANANASITE_REQUEUE_AFTER_SECONDS = 30
        ok = gemini_ok(OUT)
        # The first two calls hang (the provider is slow); every later one answers at once.
        fake.script(Reply(200, ok, delay=600), Reply(200, ok, delay=600), Reply(200, ok))
        env = {
            "GEMINI_API_KEY": "k",
            "GEMINI_BASE_URL": fake.url,
            "BANANASITE_WORKERS": "2",
            "BANANASITE_LEASE_SECONDS": "10",
            "BANANASITE_HEARTBEAT_SECONDS": "2",
        }
        first = start_worker(env)
        made = [compose(owner, prompt=f"crash {i}", model="nano-banana-2") for i in range(6)]
        in_flight = _wait_for(lambda: len(fake.requests) >= 2, seconds=60)
        assert in_flight, first.log()
        first.kill()  # SIGKILL of every process of the cluster, mid-call
        crashed_at = time.monotonic()
        time.sleep(2)  # a fresh cluster two seconds later, as an operator would start it
        second = start_worker(env)

        def all_ended():
            sweep_compositions()  # what the every-minute schedule does, here every second
            return all(c.is_finished for c in _refreshed(made))

        assert _wait_for(all_ended, seconds=170, step=1), second.log()
        took = time.monotonic() - crashed_at
        assert took < 180
        for composition in _refreshed(made):
            assert composition.status == "succeeded", (composition, second.log())
            kinds = list(
                LedgerEntry.objects.filter(composition_ref=composition.public_id).values_list(
                    "kind", flat=True
                )
            )
            assert sorted(kinds) == ["capture", "release", "reserve"]  # charged once
            calls = [r for r in fake.requests if composition.prompt in str(r["json"])]
            assert 1 <= len(calls) <= composition.attempts
    finally:
        fake.close()


def _refreshed(compositions):
    for composition in compositions:
        composition.refresh_from_db()
    return compositions


# --- One lock order ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_claims_racing_cancels_and_failures_never_deadlock(owner, settings):
    """A claim locks the wallet, then the composition; cancel and fail must too. In the other
    order PostgreSQL detects a deadlock and aborts one side (SQLite serialises writers)."""
    from billing.tests.test_concurrency import race
    from compositions.lifecycle import cancel_composition, claim_next

    settings.BANANASITE_TASKS_SYNC = False  # nothing runs inline; the race is ours
    made = [compose(owner, prompt=f"race {i}") for i in range(6)]
    workspace_id = owner.current_workspace.pk

    def one(i):
        composition = Composition.objects.get(pk=made[i // 2 % len(made)].pk)
        if i % 3 == 0:
            return claim_next(workspace_id=workspace_id)
        if i % 3 == 1:
            try:
                return cancel_composition(composition=composition)
            except Exception as exc:  # InvalidState: already finished is fine
                if type(exc).__name__ == "InvalidState":
                    return None
                raise
        return fail_composition(composition=composition, code="x", message="x")

    for _ in range(3):
        outcomes = race(one, count=12)
        errors = [o for o in outcomes if isinstance(o, Exception)]
        assert not errors, errors
    for composition in made:
        composition.refresh_from_db()
        ledger = LedgerEntry.objects.filter(composition_ref=composition.public_id)
        assert ledger.filter(kind="release").count() <= 1


@pytest.mark.django_db
def test_a_hung_provider_is_given_up_on_at_the_attempt_s_deadline(owner, settings):
    fake = FakeProvider()
    try:
        configure(settings, {"gemini": fake}, "gemini", max_attempts=4)
        settings.BANANASITE_ATTEMPT_SECONDS = 2
        fake.script(Reply(200, gemini_ok(OUT), delay=30))  # every call hangs for 30 s
        composition = compose(owner, model="nano-banana-2", image_size="1K")
        started = time.monotonic()
        assert run_composition(composition.public_id) == "provider_timeout"
        assert time.monotonic() - started < 8  # not 4 calls x 30 s, nor the client's budget
        composition.refresh_from_db()
        assert composition.status == "failed" and composition.credits_charged == 0
    finally:
        fake.close()


# --- Settings that agree with each other ------------------------------------------------------

SHOW_QUEUE = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'lease': s.BANANASITE_LEASE_SECONDS, "
    "'beat': s.BANANASITE_HEARTBEAT_SECONDS, "
    "'attempt': s.BANANASITE_ATTEMPT_SECONDS, 'timeout': s.Q_CLUSTER['timeout'], "
    "'retry': s.Q_CLUSTER['retry']}))"
)


def _settings_with(**env):
    import json
    import os
    import subprocess
    import sys

    from django.conf import settings

    clean = {k: v for k, v in os.environ.items() if not k.startswith("BANANASITE_")}
    return subprocess.run(
        [sys.executable, "-c", SHOW_QUEUE],
        cwd=settings.BASE_DIR,
        env={**clean, "DJANGO_SETTINGS_MODULE": "bananasite.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    ), json


def test_the_lease_the_heartbeat_and_the_broker_agree_by_default():
    run, json = _settings_with()
    shown = json.loads(run.stdout)
    assert shown["lease"] == 60 and shown["beat"] * 2 <= shown["lease"]
    # The broker kills a task only after its attempt and time to prepare and store, and
    # redelivers it only after that.
    assert shown["attempt"] < shown["timeout"] < shown["retry"]


def test_a_heartbeat_too_slow_for_its_lease_is_refused_at_start():
    run, _ = _settings_with(BANANASITE_LEASE_SECONDS="30", BANANASITE_HEARTBEAT_SECONDS="20")
    assert run.returncode != 0 and "BANANASITE_HEARTBEAT_SECONDS" in run.stderr
    run, _ = _settings_with(BANANASITE_ATTEMPT_SECONDS="600", BANANASITE_TASK_TIMEOUT="300")
    assert run.returncode != 0 and "BANANASITE_TASK_TIMEOUT" in run.stderr
