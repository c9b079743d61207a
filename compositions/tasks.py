"""Background work: run a composition, and sweep those whose worker went away.

Tasks take ids and own their state on the composition row: a task claims its row with a
conditional UPDATE, so a second delivery of the same task finds nothing to claim and returns.
The steps themselves are in `compositions.pipeline`, the ends in `compositions.lifecycle`.
"""

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from bananasite.errors import AppError
from bananasite.logs import composition_context
from moderation.policy import record_refusal

from . import pipeline
from .catalog import get_model
from .lifecycle import (
    Heartbeat,
    claim_next,
    enqueue_composition,
    fail_composition,
    requeue_composition,
    succeed_composition,
)
from .models import Composition
from .providers import ProviderError
from .providers.base import ProviderSafetyBlock

logger = logging.getLogger(__name__)

INTERNAL_ERROR = "Something went wrong on our side while making this composition."


def run_composition(public_id: str) -> str:
    """Run the next composition of this one's workspace, if its plan has a free slot.

    Each task is one chance for the workspace to start its oldest queued composition (usually
    this one). Over the limit, the task returns at once without holding a worker, and the
    composition waits its turn: a finishing composition starts the next one.
    """
    workspace_id = (
        Composition.objects.filter(public_id=public_id)
        .values_list("workspace_id", flat=True)
        .first()
    )
    if workspace_id is None:
        return "nothing to do"
    composition = claim_next(workspace_id=workspace_id)
    if composition is None:
        return "nothing to do"
    # The claimed composition may be another of the workspace's: every log line names it.
    with composition_context(composition.public_id):
        return _run_claimed(composition)


def _run_claimed(composition: Composition) -> str:
    token = composition.attempts  # this attempt's lease: every later change is fenced on it
    try:
        with Heartbeat(composition, token=token):
            return make(composition, token=token)
    except ProviderError as exc:
        logger.warning(
            "Composition %s failed at the provider: %s %s", composition, exc.code, exc.detail
        )
        failed = fail_composition(
            composition=composition, code=exc.code, message=exc.message, token=token
        )
        if failed and isinstance(exc, ProviderSafetyBlock):
            # Counted per account; enough of them hold the account's new work for review.
            record_refusal(
                user_id=composition.created_by_id,
                composition_ref=composition.public_id,
                provider=composition.provider,
            )
        return exc.code
    except AppError as exc:
        fail_composition(composition=composition, code=exc.code, message=exc.message, token=token)
        return exc.code
    except Exception:
        logger.exception("Composition %s failed", composition)
        fail_composition(
            composition=composition, code="internal_error", message=INTERNAL_ERROR, token=token
        )
        return "internal_error"


def make(composition: Composition, *, token: int) -> str:
    """A claimed composition, from its inputs to its results: prepare → provider → store.

    Every change is fenced on `token`: once the composition is canceled, deleted or handed to
    another worker, the next step changes nothing and this worker's files are removed."""
    deadline = time.monotonic() + settings.BANANASITE_ATTEMPT_SECONDS
    model = get_model(composition.model)
    if model is None:
        fail_composition(
            composition=composition,
            code="provider_error",
            message="This model is no longer offered here; nothing was charged.",
            token=token,
        )
        return "model_gone"
    routes = pipeline.routes_for(model, composition, token=token)
    images = pipeline.prepare_inputs(composition, remote=routes[0].provider != "local")
    if not composition.advance(Composition.Status.GENERATING, token=token):
        return "canceled"
    generated = pipeline.generate(composition, routes, images, token=token, deadline=deadline)
    composition.record_provider(generated.provider, token=token)  # a fallback may have made it
    if not composition.advance(Composition.Status.STORING, token=token):
        return "canceled"
    results = pipeline.store_results(composition, generated)
    composition.record_timing(token=token, stored_at=timezone.now())
    outcome = generated.result
    usage = {**outcome.usage, "cost_usd": outcome.cost_usd}
    if generated.fallback_from:
        usage["fallback_from"] = generated.fallback_from
    if not succeed_composition(
        composition=composition,
        token=token,
        results=results,
        text=outcome.text,
        usage=usage,
        request_id=outcome.request_id,
    ):
        pipeline.discard_results(results)  # canceled, deleted or taken over while storing
        return "canceled"
    return "succeeded"


def sweep_compositions() -> dict:
    """Scheduled every minute: make sure every composition ends. A composition whose lease
    expired (its worker stopped renewing it) goes back to the queue while attempts remain,
    else fails; a queued one the broker may have lost is enqueued again."""
    now = timezone.now()
    requeued = failed = nudged = 0
    expired = Composition.objects.filter(status__in=Composition.ACTIVE, lease_expires_at__lt=now)
    for composition in expired:
        if composition.attempts < settings.BANANASITE_MAX_ATTEMPTS:
            requeued += requeue_composition(composition=composition)
        elif fail_composition(
            composition=composition,
            code="internal_error",
            message="The worker making this composition stopped responding. Nothing was charged.",
            from_statuses=Composition.ACTIVE,
            expired_only=True,
        ):
            failed += 1

    # Queued too long: the broker may have lost the task (Redis loses a killed worker's task).
    stale_before = now - timedelta(seconds=settings.BANANASITE_REQUEUE_AFTER_SECONDS)
    for composition in Composition.objects.filter(
        status=Composition.Status.QUEUED, enqueued_at__lt=stale_before
    ):
        with transaction.atomic():
            if Composition.objects.filter(
                pk=composition.pk, status=Composition.Status.QUEUED, enqueued_at__lt=stale_before
            ).update(enqueued_at=now):
                enqueue_composition(composition)
                nudged += 1
    if requeued or failed or nudged:
        logger.info("Sweep: %s re-queued, %s failed, %s enqueued again", requeued, failed, nudged)
    return {"requeued": requeued, "failed": failed, "enqueued_again": nudged}
