"""Background work: run a composition, and sweep those whose worker went away.

Tasks take ids and own their state on the composition row: a task claims its row with a
conditional UPDATE, so a second delivery of the same task finds nothing to claim and returns.
"""

import hashlib
import io
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from PIL import Image

from bananasite.errors import AppError
from billing.services import settle_credits
from moderation.policy import record_refusal

from . import webhooks
from .catalog import get_model
from .images import make_thumbnail, normalise_mode, perceptual_hash, prepare_image
from .models import Composition, Result
from .provenance import with_provenance
from .providers import ComposeRequest, InputImage, ProviderError, get_provider
from .providers.base import (
    ProviderRateLimited,
    ProviderSafetyBlock,
    ProviderTimeout,
    ProviderUnavailable,
)
from .providers.http import CircuitBreaker
from .services import (
    claim_next,
    delete_files,
    enqueue_composition,
    fail_composition,
    start_next_in_workspace,
)

logger = logging.getLogger(__name__)

# Longest edge of an input: the local compositor works up to 4K output; the models see inputs
# at a fixed token cost per image, so a longer edge than this only makes requests bigger.
LOCAL_EDGE = 2048
REMOTE_EDGE = 1536
REMOTE_QUALITY = 88


def _prepare_one(name: str, role: str, *, remote: bool) -> InputImage:
    from django.core.files.storage import default_storage

    with default_storage.open(name, "rb") as fh:
        source = io.BytesIO(fh.read())
    if remote:
        prepared = prepare_image(source, edge=REMOTE_EDGE, quality=REMOTE_QUALITY)
    else:  # the local compositor uses transparency (logos), so it keeps it
        prepared = prepare_image(source, edge=LOCAL_EDGE, quality=90, keep_alpha=True)
    return InputImage(data=prepared.data, mime_type=prepared.content_type, role=role)


def prepare_inputs(composition: Composition, *, remote: bool = False) -> list[InputImage]:
    """Decode and size the inputs in parallel threads (Pillow releases the GIL while decoding)."""
    inputs = list(composition.inputs.select_related("upload").order_by("position"))
    with ThreadPoolExecutor(max_workers=min(4, len(inputs))) as pool:
        return list(
            pool.map(lambda i: _prepare_one(i.upload.file.name, i.role, remote=remote), inputs)
        )


def _seed(composition: Composition) -> int:
    return int.from_bytes(hashlib.sha256(composition.public_id.encode()).digest()[:4], "big")


def _store_results(composition: Composition, images) -> list[Result]:
    """Write result files and thumbnails; the rows are created by the caller with the status."""
    results = []
    try:
        for position, output in enumerate(images, start=1):
            # Marked as AI-generated (IPTC, in XMP), spliced in without re-encoding a pixel.
            data = with_provenance(
                output.data,
                output.mime_type,
                model=composition.model,
                provider=composition.provider,
            )
            img = Image.open(io.BytesIO(data))
            img.load()
            img = normalise_mode(img)
            result = Result(
                composition=composition,
                position=position,
                width=img.width,
                height=img.height,
                content_type=output.mime_type,
                bytes=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                phash=perceptual_hash(img),
            )
            extension = {"image/jpeg": "jpg", "image/webp": "webp"}.get(output.mime_type, "png")
            # The provider's pixels are stored as received: re-encoding would only lose quality.
            result.file.save(f"result.{extension}", ContentFile(data), save=False)
            thumb = make_thumbnail(img)
            result.thumbnail.save("thumb.webp", ContentFile(thumb.data), save=False)
            results.append(result)
    except BaseException:
        delete_files(n for r in results for n in (r.file.name, r.thumbnail.name))
        raise
    return results


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
    try:
        return _run(composition)
    except ProviderError as exc:
        logger.warning(
            "Composition %s failed at the provider: %s %s", composition, exc.code, exc.detail
        )
        if fail_composition(composition=composition, code=exc.code, message=exc.message) and (
            isinstance(exc, ProviderSafetyBlock)
        ):
            record_refusal(composition)  # counted per account; enough of them hold new work
        return exc.code
    except AppError as exc:
        fail_composition(composition=composition, code=exc.code, message=exc.message)
        return exc.code
    except Exception:
        logger.exception("Composition %s failed", composition)
        fail_composition(
            composition=composition,
            code="internal_error",
            message="Something went wrong on our side while making this composition.",
        )
        return "internal_error"


def _routes_for(model, count: int):
    """The routes that can take this many inputs and whose circuit is not open, in order.

    `is_open` only looks; the single probe after a cooldown is taken (`allow`) just before a
    route is actually called, so a fallback that is never reached does not use it up."""
    usable = [r for r in model.routes if count <= r[2]]
    return [r for r in usable if r[0] == "local" or not CircuitBreaker(r[0]).is_open()]


def _run(composition: Composition) -> str:
    model = get_model(composition.model)
    if model is None:
        fail_composition(
            composition=composition,
            code="provider_error",
            message="This model is no longer offered here; nothing was charged.",
        )
        return "model_gone"
    routes = _routes_for(model, composition.inputs.count())
    if not routes:
        raise ProviderUnavailable(
            "The image service is unavailable right now; nothing was charged. Please try again "
            "in a few minutes."
        )
    images = prepare_inputs(composition, remote=routes[0][0] != "local")
    if not composition.advance(Composition.Status.GENERATING):
        return "canceled"

    def on_progress(fraction: float) -> None:
        composition.report_progress(30 + int(55 * fraction))

    outcome, used, tried = None, None, []
    for provider_name, provider_model, _limit in routes:
        request = ComposeRequest(
            prompt=composition.prompt,
            images=images,
            model=provider_model,
            aspect_ratio=composition.aspect_ratio,
            image_size=composition.image_size,
            num_images=composition.num_images,
            preset=composition.preset,
            style=composition.style,
            seed=_seed(composition),
        )
        breaker = CircuitBreaker(provider_name)
        if provider_name != "local" and not breaker.allow():
            tried.append(provider_name)  # another composition holds the probe
            if provider_name == routes[-1][0]:
                raise ProviderUnavailable(
                    "The image service is unavailable right now; nothing was charged."
                )
            continue
        try:
            outcome = get_provider(provider_name).compose(request, progress=on_progress)
        except (ProviderUnavailable, ProviderTimeout, ProviderRateLimited) as exc:
            if provider_name != "local":
                breaker.record_failure()
            tried.append(provider_name)
            logger.warning("Composition %s: %s failed (%s)", composition, provider_name, exc.detail)
            if provider_name == routes[-1][0]:
                raise
            continue  # the next configured provider takes over
        if provider_name != "local":
            breaker.record_success()
        used = provider_name
        break
    if used != composition.provider:
        # A fallback provider made it: the composition records who really did.
        Composition.objects.filter(pk=composition.pk).update(provider=used)
        composition.provider = used
    if tried:
        outcome.usage = {**outcome.usage, "fallback_from": tried}
    if not outcome.images:
        raise ProviderError("The image service answered without an image.")
    if not composition.advance(Composition.Status.STORING):
        return "canceled"
    results = _store_results(composition, outcome.images)
    with transaction.atomic():
        done = composition.succeed(
            text=outcome.text,
            usage={**outcome.usage, "cost_usd": outcome.cost_usd},
            request_id=outcome.request_id,
        )
        if done:
            Result.objects.bulk_create(results)
            settle_credits(composition=composition, delivered_images=len(results))
            webhooks.emit(composition, "composition.succeeded")
            start_next_in_workspace(workspace_id=composition.workspace_id)
    if not done:  # Canceled or deleted while storing: leave nothing behind.
        delete_files(n for r in results for n in (r.file.name, r.thumbnail.name))
        return "canceled"
    return "succeeded"


def sweep_compositions() -> dict:
    """Make sure every composition ends: re-queue or fail those whose worker went away."""
    now = timezone.now()
    requeued = failed = nudged = 0
    expired = Composition.objects.filter(status__in=Composition.ACTIVE, lease_expires_at__lt=now)
    for composition in expired:
        if composition.attempts < settings.BANANASITE_MAX_ATTEMPTS:
            with transaction.atomic():
                if composition.requeue():
                    enqueue_composition(composition)
                    requeued += 1
        elif fail_composition(
            composition=composition,
            code="internal_error",
            message="The worker making this composition stopped responding. Nothing was charged.",
            from_statuses=Composition.ACTIVE,
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


IDEMPOTENCY_HOURS = 24


def purge_idempotency_keys() -> int:
    """Scheduled hourly: forget Idempotency-Keys after the 24 hours the contract keeps them."""
    from .models import IdempotencyKey

    cutoff = timezone.now() - timedelta(hours=IDEMPOTENCY_HOURS)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
