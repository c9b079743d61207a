"""The worker's steps for one claimed composition: prepare → provider → store.

`compositions.tasks.run_composition` calls them in order; each step is a plain function that
tests can call alone. Nothing here holds a transaction open across image work or a provider
call; the status changes are conditional updates on the row (see `Composition`)."""

import hashlib
import io
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from django.utils.translation import gettext_noop
from PIL import Image

from bananasite.files import delete_files, extension_for

from . import routing
from .catalog import ModelSpec, Route, available_routes, output_size
from .images import make_thumbnail, normalise_mode, perceptual_hash, prepare_image
from .models import Composition, Result
from .provenance import with_provenance
from .providers import ComposeRequest, InputImage, ProviderError, get_provider
from .providers.base import (
    ComposeResult,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)
from .providers.http import CircuitBreaker

logger = logging.getLogger(__name__)

# Longest edge of an input: the local compositor works up to 4K output; the models see inputs
# at a fixed token cost per image, so a longer edge than this only makes requests bigger.
LOCAL_EDGE = 2048
REMOTE_EDGE = 1536
REMOTE_QUALITY = 88
# Stored on the composition in English; the pages translate them on display.
UNAVAILABLE = gettext_noop("The image service is unavailable right now; nothing was charged.")
UNAVAILABLE_RETRY = gettext_noop(
    "The image service is unavailable right now; nothing was charged. "
    "Please try again in a few minutes."
)
GAVE_UP = gettext_noop(
    "The image service took too long to answer, so we stopped; nothing was charged."
)


# --- Prepare -------------------------------------------------------------------------------------


def _prepare_one(name: str, role: str, *, remote: bool) -> InputImage:
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


# --- Provider ------------------------------------------------------------------------------------


def seed_for(composition: Composition) -> int:
    """Deterministic per composition, so a variation (a new composition) is a new picture."""
    return int.from_bytes(hashlib.sha256(composition.public_id.encode()).digest()[:4], "big")


def compose_request(
    composition: Composition, route: Route, images: list[InputImage], *, deadline: float
) -> ComposeRequest:
    """Everything the provider needs: the output's pixel size, and the attempt's deadline
    (a time.monotonic() instant) that every call, retry and backoff must end by."""
    width, height = output_size(composition.aspect_ratio, composition.image_size)
    return ComposeRequest(
        prompt=composition.prompt,
        images=images,
        model=route.provider_model,
        aspect_ratio=composition.aspect_ratio,
        image_size=composition.image_size,
        width=width,
        height=height,
        num_images=composition.num_images,
        preset=composition.preset,
        style=composition.style,
        seed=seed_for(composition),
        grounding=bool(composition.model_options.get("grounding")),
        thinking_level=composition.model_options.get("thinking_level", ""),
        deadline=deadline,
    )


@dataclass
class Generated:
    result: ComposeResult
    provider: str
    fallback_from: list[str] = field(default_factory=list)


def routes_for(
    model: ModelSpec, composition: Composition, *, token: int | None = None
) -> list[Route]:
    """The routes to try, best first by measured health and price (routing.rank); why is
    recorded on the composition (fenced on this attempt's token)."""
    token = composition.attempts if token is None else token
    routes = available_routes(
        model, inputs=composition.inputs.count(), options=composition.model_options
    )
    if not routes:
        raise ProviderUnavailable(UNAVAILABLE_RETRY)
    routes, reason = routing.rank(model, routes, image_size=composition.image_size)
    type(composition).objects.filter(pk=composition.pk, attempts=token).update(route_reason=reason)
    composition.route_reason = reason
    return routes


def generate(
    composition: Composition,
    routes: list[Route],
    images: list[InputImage],
    *,
    token: int,
    deadline: float,
) -> Generated:
    """Call the first route that answers; a route that is down hands over to the next, until
    the attempt's deadline, which covers every route, retry and backoff.

    `is_open` (in `available_routes`) only looks; the single probe after a cooldown is taken
    (`allow`) just before a route is called, so a fallback that is never reached keeps it."""

    def on_progress(fraction: float) -> None:
        composition.report_progress(30 + int(55 * fraction), token=token)

    tried: list[str] = []
    for route in routes:
        if time.monotonic() >= deadline:
            raise ProviderTimeout(GAVE_UP)
        last = route is routes[-1]
        remote = route.provider != "local"
        breaker = CircuitBreaker(route.provider)
        if remote and not breaker.allow():
            tried.append(route.provider)  # another composition holds the probe
            if last:
                raise ProviderUnavailable(UNAVAILABLE)
            continue
        request = compose_request(composition, route, images, deadline=deadline)
        composition.record_timing(
            token=token, provider_started_at=timezone.now(), provider_model=route.provider_model
        )
        started = time.monotonic()
        try:
            result = get_provider(route.provider).compose(request, progress=on_progress)
        except (ProviderUnavailable, ProviderTimeout, ProviderRateLimited) as exc:
            # The HTTP layer has counted every failed call against the circuit already.
            routing.record_call(route.provider, ok=False, seconds=time.monotonic() - started)
            tried.append(route.provider)
            logger.warning(
                "Composition %s: %s failed (%s)", composition, route.provider, exc.detail
            )
            if last:
                raise
            continue  # the next configured provider takes over
        routing.record_call(route.provider, ok=True, seconds=time.monotonic() - started)
        composition.record_timing(token=token, provider_finished_at=timezone.now())
        if not result.images:
            raise ProviderError(gettext_noop("The image service answered without an image."))
        return Generated(result=result, provider=route.provider, fallback_from=tried)
    raise ProviderUnavailable(UNAVAILABLE)  # no route at all (routes_for refuses that first)


# --- Store ---------------------------------------------------------------------------------------


def store_results(composition: Composition, generated: Generated) -> list[Result]:
    """Write result files and thumbnails; the rows are created when the composition succeeds.
    On any error the files written so far are removed."""
    results: list[Result] = []
    try:
        for position, output in enumerate(generated.result.images, start=1):
            # Marked as AI-generated (IPTC, in XMP), spliced in without re-encoding a pixel.
            data = with_provenance(
                output.data, output.mime_type, model=composition.model, provider=generated.provider
            )
            img: Image.Image = Image.open(io.BytesIO(data))
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
            # The provider's pixels are stored as received: re-encoding would only lose quality.
            extension = extension_for(output.mime_type)
            result.file.save(f"result.{extension}", ContentFile(data), save=False)
            thumb = make_thumbnail(img)
            result.thumbnail.save("thumb.webp", ContentFile(thumb.data), save=False)
            results.append(result)
    except BaseException:
        discard_results(results)
        raise
    return results


def discard_results(results: list[Result]) -> None:
    delete_files(n for r in results for n in (r.file.name, r.thumbnail.name))
