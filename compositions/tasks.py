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
from django.utils.translation import gettext_noop

from bananasite.errors import AppError
from bananasite.logs import composition_context
from moderation.policy import record_refusal

from . import pipeline, services
from .catalog import ModelSpec, Route, batch_route, get_model
from .lifecycle import (
    Heartbeat,
    claim_next,
    enqueue_composition,
    fail_composition,
    requeue_composition,
    start_next_in_workspace,
    succeed_composition,
)
from .models import Composition, Upload
from .providers import ProviderError, get_provider
from .providers.base import (
    BatchPoll,
    BatchProvider,
    ComposeResult,
    ProviderSafetyBlock,
    ProviderUnavailable,
)
from .services import check_references as check_composition_references

logger = logging.getLogger(__name__)

# Stored in English (a worker has no reader's language); the pages translate them on display.
INTERNAL_ERROR = gettext_noop("Something went wrong on our side while making this composition.")


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


def check_references(public_id: str) -> str:
    """The reference check of a succeeded composition (`services.check_references`); a second
    delivery finds it done and returns."""
    composition = Composition.objects.filter(
        public_id=public_id, status=Composition.Status.SUCCEEDED
    ).first()
    if composition is None:
        return "nothing to do"
    if composition.checks.get("status") == "done":
        return "checked already"
    with composition_context(public_id):
        try:
            checks = check_composition_references(composition=composition)
        except Exception:
            # A result or input that cannot be read (deleted meanwhile): say the check could
            # not run rather than leave it pending for ever.
            logger.exception("The reference check of %s failed", public_id)
            composition.record_checks({"status": "failed", "references": []})
            return "failed"
    missed = sum(1 for check in checks["references"] if not check["found"])
    return f"{missed} missed" if missed else "all found"


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
            message=gettext_noop("This model is no longer offered here; nothing was charged."),
            token=token,
        )
        return "model_gone"
    routes = pipeline.routes_for(model, composition, token=token)
    if composition.priority == Composition.Priority.BATCH:
        return submit_batch(composition, model, routes, token=token, deadline=deadline)
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
            message=gettext_noop(
                "The worker making this composition stopped responding. Nothing was charged."
            ),
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


# --- The batch tier ------------------------------------------------------------------------------

BATCH_EXPIRED = (
    "The image service did not finish this batch composition within {hours} hours, so we "
    "stopped waiting; nothing was charged."
)
BATCH_FAILED = (
    "The image service's batch tier could not make this composition; nothing was charged."
)


def _batch_provider(name: str) -> BatchProvider:
    provider = get_provider(name)
    if not isinstance(provider, BatchProvider):
        raise ProviderUnavailable(f"The image service {name!r} has no batch tier.")
    return provider


def submit_batch(
    composition: Composition,
    model: ModelSpec,
    routes: list[Route],
    *,
    token: int,
    deadline: float,
) -> str:
    """Hand a batch composition to its provider's batch tier; it then waits (status batched,
    no lease) for `poll_batches`."""
    route = batch_route(model)
    if route is None or route not in routes:
        raise ProviderUnavailable(
            "The batch tier for this model is unavailable right now; nothing was charged."
        )
    images = pipeline.prepare_inputs(composition, remote=True)
    if not composition.advance(Composition.Status.GENERATING, token=token):
        return "canceled"
    request = pipeline.compose_request(composition, route, images, deadline=deadline)
    provider = _batch_provider(route.provider)
    name = provider.submit_batch(request, key=composition.public_id)
    composition.record_provider(route.provider, token=token)
    if not composition.wait_in_batch(token=token, batch=name, provider_model=route.provider_model):
        provider.cancel_batch(name)  # canceled while submitting: the provider need not run it
        return "canceled"
    # It no longer takes one of the plan's running slots: the workspace's next one may start.
    start_next_in_workspace(workspace_id=composition.workspace_id)
    return "batched"


def poll_batches() -> dict:
    """Scheduled every minute: ask the provider about every composition waiting in a batch,
    store the results of those done, and fail those the provider failed or that waited longer
    than BANANASITE_BATCH_MAX_HOURS (their credits are released)."""
    counts = {"waiting": 0, "succeeded": 0, "failed": 0}
    for composition in Composition.objects.filter(status=Composition.Status.BATCHED):
        with composition_context(composition.public_id):
            try:
                counts[poll_batch(composition)] += 1
            except Exception:
                # One answer we cannot read must not stop the others being polled; past its
                # limit it still ends (credits released) rather than waiting for ever.
                logger.exception("Batch poll of %s failed", composition)
                if _batch_expired(composition):
                    counts[_expire_batch(composition)] += 1
                else:
                    counts["waiting"] += 1
    if counts["succeeded"] or counts["failed"]:
        logger.info("Batch poll: %s", counts)
    return counts


def poll_batch(composition: Composition) -> str:
    """One batch composition: "waiting", "succeeded" or "failed"."""
    batch = composition.provider_request_id
    expired = _batch_expired(composition)
    try:
        provider = _batch_provider(composition.provider)
        polled = provider.poll_batch(batch, model=composition.provider_model)
    except ProviderError as exc:
        if not exc.retryable:  # a refusal, every request of the batch failed, a lost batch
            return _fail_batch(composition, exc)
        if not expired:  # no answer, or busy (429), this time: the next poll asks again
            logger.warning("Batch %s of %s: poll failed (%s)", batch, composition, exc.detail)
            return "waiting"
        polled = BatchPoll(state="expired")
    if polled.state == "succeeded" and polled.result is not None:
        return _store_batch(composition, polled.result)
    if polled.state == "running":
        if not expired:
            return "waiting"
        provider.cancel_batch(batch)
        polled = BatchPoll(state="expired")
    if polled.state == "expired":
        return _expire_batch(composition)
    logger.warning("Batch %s of %s ended %s: %s", batch, composition, polled.state, polled.detail)
    return _fail_batch(composition, ProviderError(BATCH_FAILED))


def cancel_provider_batch(provider: str, batch: str) -> None:
    """A canceled batch composition's job at the provider: canceled too (best effort)."""
    _batch_provider(provider).cancel_batch(batch)


def _batch_expired(composition: Composition) -> bool:
    started = composition.provider_started_at or composition.created_at
    return timezone.now() - started > timedelta(hours=settings.BANANASITE_BATCH_MAX_HOURS)


def _expire_batch(composition: Composition) -> str:
    hours = settings.BANANASITE_BATCH_MAX_HOURS
    return _fail_batch(
        composition, ProviderError(BATCH_EXPIRED.format(hours=hours)), "batch_expired"
    )


def _fail_batch(composition: Composition, error: ProviderError, code: str | None = None) -> str:
    if fail_composition(
        composition=composition,
        code=code or error.code,
        message=error.message,
        from_statuses=[Composition.Status.BATCHED],
    ) and isinstance(error, ProviderSafetyBlock):
        record_refusal(
            user_id=composition.created_by_id,
            composition_ref=composition.public_id,
            provider=composition.provider,
        )
    return "failed"


def _store_batch(composition: Composition, result: ComposeResult) -> str:
    """Store a finished batch's images and end the composition, as a worker does."""
    if not composition.take_batch_result():
        return "waiting"  # canceled meanwhile, or another poll took it
    token = composition.attempts
    try:
        with Heartbeat(composition, token=token):
            results = pipeline.store_results(
                composition, pipeline.Generated(result=result, provider=composition.provider)
            )
            composition.record_timing(token=token, stored_at=timezone.now())
            if not succeed_composition(
                composition=composition,
                token=token,
                results=results,
                text=result.text,
                usage={**result.usage, "cost_usd": result.cost_usd},
                request_id=composition.provider_request_id,
            ):
                pipeline.discard_results(results)
                return "failed"
    except Exception:
        logger.exception("Batch composition %s could not be stored", composition)
        fail_composition(
            composition=composition, code="internal_error", message=INTERNAL_ERROR, token=token
        )
        return "failed"
    return "succeeded"


def purge_unused_uploads() -> int:
    """Scheduled daily: uploads never used as an input (a composer tab closed before Compose,
    an API upload never referenced) go with their files after BANANASITE_UNUSED_UPLOAD_DAYS.
    An upload that became an input meanwhile is kept (`delete_upload` checks under its lock)."""
    cutoff = timezone.now() - timedelta(days=settings.BANANASITE_UNUSED_UPLOAD_DAYS)
    purged = services.purge_unused_uploads(Upload.all_objects.filter(created_at__lt=cutoff))
    if purged:
        logger.info(
            "Purged %d unused uploads older than %d days",
            purged,
            settings.BANANASITE_UNUSED_UPLOAD_DAYS,
        )
    return purged


def purge_expired_compositions() -> int:
    """Scheduled hourly: compositions past their workspace's retention or their own shorter
    life go with their files (`services.purge_expired_compositions`)."""
    purged = services.purge_expired_compositions()
    if purged:
        logger.info("Purged %d compositions past their retention", purged)
    return purged
