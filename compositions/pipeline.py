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

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from django.utils.translation import gettext_noop
from PIL import Image

from bananasite.files import delete_files, extension_for
from bananasite.logs import carried

from . import credentials, regions, routing
from .catalog import ModelSpec, Route, available_routes, output_size
from .images import (
    MODEL_EDGE,
    MODEL_QUALITY,
    encode,
    make_thumbnail,
    normalise_mode,
    perceptual_hash,
    prepare_image,
)
from .models import Composition, CompositionInput, RegionEdit, Result, Upload
from .provenance import with_provenance
from .providers import ComposeRequest, InputImage, ProviderError, get_provider
from .providers.base import (
    ComposeResult,
    OutputImage,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)
from .providers.http import CircuitBreaker

logger = logging.getLogger(__name__)

# Longest edge of an input: the local compositor works up to 4K output; the models see inputs
# at a fixed token cost per image, so a longer edge than this only makes requests bigger.
LOCAL_EDGE = 2048
REMOTE_EDGE = MODEL_EDGE
REMOTE_QUALITY = MODEL_QUALITY
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


def _prepare_one(
    upload: Upload, role: str, *, remote: bool, markup_of: int | None = None
) -> InputImage:
    def image(data: bytes, mime_type: str) -> InputImage:
        return InputImage(data=data, mime_type=mime_type, role=role, markup_of=markup_of)

    if remote and upload.model_copy.name and upload.model_copy_edge == REMOTE_EDGE:
        # Made when the photo was uploaded: no decode here, only a small read.
        try:
            with default_storage.open(str(upload.model_copy.name), "rb") as fh:
                return image(fh.read(), "image/jpeg")
        except FileNotFoundError:
            logger.warning("The model copy of %s is missing; preparing it", upload.public_id)
    with default_storage.open(str(upload.file.name), "rb") as fh:
        source = io.BytesIO(fh.read())
    if remote:
        prepared = prepare_image(source, edge=REMOTE_EDGE, quality=REMOTE_QUALITY)
    else:  # the local compositor uses transparency (logos), so it keeps it
        prepared = prepare_image(source, edge=LOCAL_EDGE, quality=90, keep_alpha=True)
    return image(prepared.data, prepared.content_type)


def prepare_inputs(composition: Composition, *, remote: bool = False) -> list[InputImage]:
    """Decode and size the inputs in parallel threads (Pillow releases the GIL while decoding).
    A region edit's image 1 is the crop around its region, an expand's the bigger canvas."""
    inputs = list(composition.inputs.select_related("upload").order_by("position"))
    region = region_of(composition)

    def prepare(item: CompositionInput) -> InputImage:
        if region is not None and item.position == inputs[0].position:
            return _prepare_region(region, item, remote=remote)
        return _prepare_one(item.upload, item.role, remote=remote, markup_of=item.markup_of)

    with ThreadPoolExecutor(max_workers=min(4, len(inputs))) as pool:
        futures = [pool.submit(carried(prepare), item) for item in inputs]
        return [future.result() for future in futures]


# --- Region edits and expands (the maths is in `regions`) ----------------------------------------


def region_of(composition: Composition) -> RegionEdit | None:
    """The composition's region edit or expand, if it is one (read once per object)."""
    if not hasattr(composition, "_region_cache"):
        composition._region_cache = RegionEdit.objects.filter(composition=composition).first()  # type: ignore[attr-defined]
    return composition._region_cache  # type: ignore[attr-defined]


def _open_stored(name: str | None) -> Image.Image:
    with default_storage.open(str(name), "rb") as fh:
        img = Image.open(io.BytesIO(fh.read()))
        img.load()
    return normalise_mode(img)


def _box(region: RegionEdit) -> regions.Box:
    left, top, right, bottom = (int(v) for v in region.box)
    return (left, top, right, bottom)


def _region_mask(region: RegionEdit) -> np.ndarray:
    with region.mask.open("rb") as fh:
        return regions.read_mask(fh.read())


def _canvas(region: RegionEdit) -> regions.Canvas:
    return regions.Canvas(**{k: int(v) for k, v in region.canvas.items()})


def _prepare_region(region: RegionEdit, item: CompositionInput, *, remote: bool) -> InputImage:
    source = _open_stored(item.upload.file.name)
    mask: Image.Image
    if region.kind == RegionEdit.Kind.EDIT:
        picture, mask = regions.region_input(source, _region_mask(region), _box(region))
    else:
        canvas = _canvas(region)
        picture = regions.expand_draft(source, canvas)
        mask = Image.fromarray(regions.expand_mask(canvas, source.size).astype(np.uint8) * 255)
    edge = REMOTE_EDGE if remote else LOCAL_EDGE
    scale = min(1.0, edge / max(picture.size))
    size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
    if picture.size != size:
        picture = picture.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)
        mask = mask.resize(size, Image.Resampling.NEAREST)
    if remote and picture.mode == "RGBA":
        flat = Image.new("RGB", picture.size, (255, 255, 255))
        flat.paste(picture, mask=picture.getchannel("A"))
        picture = flat
    # JPEG as for every input (PNG where the local compositor keeps transparency): what the
    # model sees need not be lossless, the original's pixels are pasted back from storage.
    encoded = encode(picture, prefer_jpeg=True, quality=REMOTE_QUALITY if remote else 90)
    buf = io.BytesIO()
    mask.save(buf, "PNG")
    return InputImage(
        data=encoded.data, mime_type=encoded.content_type, role=item.role, mask=buf.getvalue()
    )


# What the model is told besides the person's words: it sees a crop or a canvas, never a mask.
REGION_PROMPTS = {
    RegionEdit.Kind.EDIT: "{prompt}\n\nMake this change only; keep everything else in image 1 "
    "exactly as it is, with the same framing, size, light and colours.",
    RegionEdit.Kind.EXPAND: "Image 1 is a picture on a bigger canvas: its blurred, mirrored "
    "border is only a placeholder. Repaint that border as a natural continuation of the scene, "
    "keeping the centre exactly as it is. {prompt}",
}


def blend_region(composition: Composition, outputs: list[OutputImage]) -> list[OutputImage]:
    """Each of the model's answers pasted into the original (a lossless PNG): only the region
    (or the new area) comes from the model."""
    region = region_of(composition)
    if region is None:
        return outputs
    first = composition.inputs.select_related("upload").order_by("position").first()
    if first is None:
        raise ProviderError("The picture to edit is no longer here.")
    source = _open_stored(first.upload.file.name)
    mask = _region_mask(region) if region.kind == RegionEdit.Kind.EDIT else None
    blended = []
    for output in outputs:
        generated = Image.open(io.BytesIO(output.data))
        generated.load()
        if mask is not None:
            final = regions.apply_region_edit(
                source, mask, _box(region), generated, feather=region.feather
            )
        else:
            final = regions.apply_expand(source, _canvas(region), generated, feather=region.feather)
        blended.append(OutputImage(regions.encode_png(final), "image/png"))
    return blended


# --- Provider ------------------------------------------------------------------------------------


def seed_for(composition: Composition) -> int:
    """Deterministic per composition, so a variation (a new composition) is a new picture."""
    return int.from_bytes(hashlib.sha256(composition.public_id.encode()).digest()[:4], "big")


MARKUP_SENTENCE = (
    "Image {copy} is a copy of image {original} with red marks (arrows, boxes and notes) that "
    "show where things go; follow the marks, and do not draw them or copy image {copy} itself."
)


def prompt_with_markup(prompt: str, images: list[InputImage]) -> str:
    """The prompt, with a sentence per marked-up input telling the model what the marks are
    (the models read arrows and notes well when told; untold, they tend to copy them)."""
    sentences = [
        MARKUP_SENTENCE.format(copy=position, original=image.markup_of)
        for position, image in enumerate(images, start=1)
        if image.markup_of
    ]
    return " ".join([prompt, *sentences]) if sentences else prompt


def compose_request(
    composition: Composition, route: Route, images: list[InputImage], *, deadline: float
) -> ComposeRequest:
    """Everything the provider needs: the output's pixel size, and the attempt's deadline
    (a time.monotonic() instant) that every call, retry and backoff must end by."""
    width, height = output_size(composition.aspect_ratio, composition.image_size)
    region = region_of(composition)
    prompt = composition.prompt
    if region is not None:
        prompt = REGION_PROMPTS[RegionEdit.Kind(region.kind)].format(prompt=prompt).strip()
    return ComposeRequest(
        prompt=prompt_with_markup(prompt, images),
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
        region=region.kind if region is not None else "",
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


def ingredients_for(composition: Composition) -> list[credentials.Ingredient]:
    """What the result was made from, for its manifest: every input as stored (an earlier
    result used as an input keeps its own credentials), and a variation's parent's results."""
    found: list[credentials.Ingredient] = []
    for item in composition.inputs.select_related("upload").order_by("position"):
        upload = item.upload
        with upload.file.open("rb") as fh:
            data = fh.read()
        from_result = upload.source == Upload.Source.RESULT
        found.append(
            credentials.Ingredient(
                title=f"Image {item.position}: {upload.original_name or upload.public_id}",
                data=data,
                mime_type=upload.content_type,
                description=(
                    "An earlier result, refined here." if from_result else "A photo given as input."
                ),
            )
        )
    parent = composition.parent
    if parent is not None and composition.origin == Composition.Origin.VARIATION:
        for result in parent.results.all():
            with result.file.open("rb") as fh:
                data = fh.read()
            found.append(
                credentials.Ingredient(
                    title=f"Earlier result {result.download_name}",
                    data=data,
                    mime_type=result.content_type,
                    relationship="componentOf",
                    description="A result of the composition this one is a variation of.",
                )
            )
    return found


def credentialed(
    composition: Composition,
    data: bytes,
    mime_type: str,
    *,
    position: int,
    provider: str,
    ingredients: list[credentials.Ingredient],
) -> tuple[bytes, dict]:
    """The result's bytes to store, signed, and what its credentials say.

    Order matters: the IPTC packet goes in before signing (the signature's hash covers it), and
    nothing touches the bytes after. Bytes the provider signed already get no packet at all, as
    any change would break the provider's manifest; theirs becomes our parent ingredient.

    A signing failure (a missing or expired certificate) must not cost the person a picture the
    provider made and they paid for: it is logged as an error and the result is stored unsigned,
    flagged `signed: false` for the page, the API and the operator."""
    model = composition.provider_model or composition.model
    if credentials.has_manifest(data, mime_type):
        base = data
    else:  # Marked as AI-generated (IPTC, in XMP), spliced in without re-encoding a pixel.
        base = with_provenance(data, mime_type, model=model, provider=provider)
    started = time.monotonic()
    try:
        signed = credentials.sign_result(
            base,
            mime_type,
            title=f"bananasite-{composition.public_id}-{position}.{extension_for(mime_type)}",
            model=model,
            provider=provider,
            ingredients=ingredients,
        )
        summary = credentials.read_credentials(signed, mime_type)
    except credentials.SigningFailed as exc:
        logger.error(
            "Composition %s: result %s stored without Content Credentials: %s",
            composition,
            position,
            exc,
        )
        return base, {"signed": False, "error": str(exc)}
    logger.info(
        "Composition %s: result %s signed in %.3f s",
        composition,
        position,
        time.monotonic() - started,
    )
    return signed, {"signed": True, **summary}


def store_results(composition: Composition, generated: Generated) -> list[Result]:
    """Write result files (signed) and thumbnails; the rows are created when the composition
    succeeds. On any error the files written so far are removed."""
    results: list[Result] = []
    outputs = blend_region(composition, generated.result.images)
    try:
        ingredients = ingredients_for(composition)
        for position, output in enumerate(outputs, start=1):
            data, summary = credentialed(
                composition,
                output.data,
                output.mime_type,
                position=position,
                provider=generated.provider,
                ingredients=ingredients,
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
                source_sha256=hashlib.sha256(output.data).hexdigest(),
                phash=perceptual_hash(img),
                credentials=summary,
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
