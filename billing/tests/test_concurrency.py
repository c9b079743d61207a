"""Races, with real threads and real connections (SQLite here, PostgreSQL in the services run)."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from billing.models import LedgerEntry, Plan, Wallet
from billing.services import (
    InsufficientCredits,
    QuotaExceeded,
    adjust_credits,
    settle_credits,
)
from compositions.lifecycle import claim_next, fail_composition
from compositions.models import Composition
from compositions.tasks import run_composition
from compositions.tests.factories import compose

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)
THREADS = 8


def race(fn, count=THREADS):
    """Run fn in `count` threads released at the same moment; return results or exceptions."""
    barrier = threading.Barrier(count)

    def one(i):
        try:
            barrier.wait()
            return fn(i)
        except Exception as exc:  # the outcome under test
            return exc
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def test_concurrent_submissions_never_overdraw(owner):
    wallet = Wallet.objects.get(workspace=owner.current_workspace)
    adjust_credits(wallet=wallet, amount=-45, reason="leave 5 credits")
    outcomes = race(lambda i: compose(owner, prompt=f"race {i}"))
    made = [o for o in outcomes if isinstance(o, Composition)]
    refused = [o for o in outcomes if isinstance(o, InsufficientCredits)]
    assert len(made) == 5 and len(refused) == THREADS - 5, outcomes
    wallet.refresh_from_db()
    assert wallet.balance == 0
    assert LedgerEntry.objects.filter(kind="reserve").count() == 5


def test_concurrent_submissions_never_exceed_the_daily_quota(owner):
    Plan.objects.filter(code="free").update(daily_images_per_member=3)
    outcomes = race(lambda i: compose(owner, prompt=f"quota {i}"))
    made = [o for o in outcomes if isinstance(o, Composition)]
    refused = [o for o in outcomes if isinstance(o, QuotaExceeded)]
    assert len(made) == 3 and len(refused) == THREADS - 3, outcomes
    assert Composition.objects.count() == 3


def test_concurrent_claims_respect_the_concurrency_limit(owner, settings):
    settings.BANANASITE_TASKS_SYNC = False
    Plan.objects.filter(code="free").update(concurrent_compositions=2)
    made = [compose(owner, prompt=f"slot {i}") for i in range(6)]
    outcomes = race(lambda i: claim_next(workspace_id=owner.current_workspace.pk), count=6)
    claimed = [o for o in outcomes if isinstance(o, Composition)]
    assert len(claimed) == 2, outcomes
    assert {c.pk for c in claimed} == {made[0].pk, made[1].pk}  # the oldest two


def test_task_and_sweep_racing_settle_a_composition_exactly_once(owner, settings):
    settings.BANANASITE_TASKS_SYNC = False  # leave the tasks in the broker; we play them
    close_old_connections()
    for round_ in range(4):
        composition = compose(owner, prompt=f"round {round_}")
        composition.claim()
        composition.advance("storing", token=composition.attempts)
        # The lease has expired, so the sweep may fail it while the task tries to finish it.
        Composition.objects.filter(pk=composition.pk).update(
            lease_expires_at=timezone.now() - timedelta(seconds=1)
        )

        def finish(i, composition=composition):
            fresh = Composition.objects.get(pk=composition.pk)
            if i % 2:
                return fail_composition(
                    composition=fresh,
                    code="internal_error",
                    message="worker gone",
                    from_statuses=Composition.ACTIVE,
                    expired_only=True,  # as the sweep does
                )
            with transaction.atomic():
                if fresh.succeed(token=fresh.attempts):
                    settle_credits(
                        workspace_id=fresh.workspace_id,
                        composition_ref=fresh.public_id,
                        held=fresh.credits_reserved,
                        requested_images=fresh.num_images,
                        delivered_images=1,
                        user_id=fresh.created_by_id,
                    )
                    return True
            return False

        outcomes = race(finish, count=4)
        assert outcomes.count(True) == 1, outcomes
        entries = LedgerEntry.objects.filter(composition_ref=composition.public_id)
        assert entries.filter(kind="release").count() == 1
        assert entries.filter(kind="capture").count() <= 1
    wallet = Wallet.objects.get(workspace=owner.current_workspace)
    assert wallet.balance >= 46


def test_a_second_delivery_racing_the_first_runs_the_composition_once(owner, settings):
    settings.BANANASITE_TASKS_SYNC = False
    composition = compose(owner)
    outcomes = race(lambda i: run_composition(composition.public_id), count=4)
    assert outcomes.count("succeeded") == 1, outcomes
    composition.refresh_from_db()
    assert composition.attempts == 1 and composition.results.count() == 1
