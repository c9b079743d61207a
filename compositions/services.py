"""Work on compositions that spans models or leaves the process: submitting one (with its
photos, its hold on credits and the moderation checks), variations and refinements, uploads,
estimates and deletion. Its way through the queue is `lifecycle`, the worker's steps
`pipeline`."""

import logging
from dataclasses import dataclass, replace
from dataclasses import field as dc_field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import User, Workspace
from bananasite.errors import AppError, InvalidState, ValidationFailed
from bananasite.files import delete_files
from billing.services import (
    NotAllowed,
    QuotaExceeded,
    check_quotas,
    estimate_credits,
    insufficient,
    lock_wallet,
    open_wallet,
    plan_problems,
    reserve_credits,
)
from moderation.policy import Verdict, blocked_hashes, hash_verdict, hold_reasons
from references.models import Reference, ReferenceVersion

from .catalog import ModelSpec, available_routes, find_model
from .images import (
    MODEL_EDGE,
    ImageRejected,
    SanitizedUpload,
    check_request_pixels,
    sanitize_upload,
)
from .lifecycle import cancel_composition, enqueue_composition
from .models import CHECKED_ROLES, Composition, CompositionInput, RegionEdit, Result, Upload
from .options import (
    MATCH_INPUT,
    CompositionOptions,
    NamedReference,
    NewImage,
    Problem,
    clean_prompt,
    nearest_ratio,
    retention_problem,
    validate_options,
)
from .presets import PEOPLE_PRESETS, default_roles
from .prompt_lint import lint as lint_prompt
from .reference_check import find_reference
from .regions import (
    DEFAULT_FEATHER,
    MAX_FEATHER,
    RegionRejected,
    check_mask,
    crop_box,
    expand_canvas,
    mask_png,
    read_mask,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlannedRegion:
    """A region edit or expand worked out at submit (`regions`), stored with its composition."""

    kind: str
    feather: int
    mask_png: bytes = b""
    box: tuple[int, ...] = ()
    canvas: dict = dc_field(default_factory=dict)
    margin: int = 0


class FreeRetryRefused(AppError):
    status = 409


class ProviderDown(AppError):
    code = "provider_unavailable"
    status = 503


BLOCKED_IMAGE = gettext_lazy(
    "“%(name)s” matches content our moderators removed, so it cannot be used here."
)
UPLOAD_STATUS = {Verdict.OK: Upload.Status.READY, Verdict.HOLD: Upload.Status.HELD}


def _model_edge() -> int | None:
    """The model copy's edge when a remote provider may be sent this upload; the local
    compositor reads the stored photo itself, so without a remote provider none is made."""
    return MODEL_EDGE if settings.BANANASITE_PROVIDERS else None


def _sanitize_one(image: NewImage, blocked: list[int]) -> tuple[SanitizedUpload, str]:
    """The photo decoded and cleaned, with its upload status by its likeness to removed
    content; ImageRejected if it is not a usable image or is a copy of removed content."""
    clean = sanitize_upload(
        image.fileobj, label=image.name, size=image.size, model_edge=_model_edge()
    )
    verdict = hash_verdict(clean.phash, blocked)
    if verdict is Verdict.BLOCK:
        raise ImageRejected("image_blocked", BLOCKED_IMAGE % {"name": image.name})
    return clean, UPLOAD_STATUS[verdict]


def _sanitize_all(
    images: list[NewImage],
) -> tuple[list[tuple[SanitizedUpload, str]], list[Problem]]:
    try:  # from the headers, before any photo is decoded
        check_request_pixels(image.fileobj for image in images)
    except ImageRejected as exc:
        return [], [("images", exc.code, exc.message)]
    sanitized, errors = [], []
    blocked = blocked_hashes() if images else []  # read once for all the photos
    for image in images:
        try:
            sanitized.append(_sanitize_one(image, blocked))
        except ImageRejected as exc:
            errors.append(("images", exc.code, exc.message))
    return sanitized, errors


def price_composition(model: ModelSpec, options: CompositionOptions) -> int:
    """The credits a composition with these options holds at submit (the one price rule: the
    composer's estimate, the buttons' costs and the hold all come from here)."""
    per_image = model.credits_per_image
    if options.priority == Composition.Priority.BATCH:
        # The batch tier's price, catalogue data: each image's credits times the model's
        # batch_discount, rounded up (a whole credit at least, so each capture stays whole).
        per_image = {size: max(1, model.batch_credits_per_image(size)) for size in per_image}
    return estimate_credits(
        credits_per_image=per_image,
        image_size=options.image_size,
        num_images=options.num_images,
        # Grounding is priced per search: the hold takes one search; settlement charges the
        # searches the provider reports, capped at this hold (billing.settle_credits).
        searches=1 if options.grounding else 0,
        credits_per_search=model.grounding_credits_per_search,
    )


def _plan_problems(plan, model: ModelSpec, options: CompositionOptions) -> list[Problem]:
    return plan_problems(
        plan=plan, model_id=model.id, model_name=model.name, image_size=options.image_size
    )


def _store_upload(
    *,
    workspace: Workspace,
    user: User | None,
    image: NewImage,
    clean: SanitizedUpload,
    status: str,
    saved: list[str | None],
) -> Upload:
    upload = Upload(
        workspace=workspace,
        uploaded_by=user,
        original_name=image.name[:255],
        width=clean.image.width,
        height=clean.image.height,
        content_type=clean.image.content_type,
        bytes=len(clean.image.data),
        sha256=clean.image.sha256,
        phash=clean.phash,
        status=status,
    )
    upload.file.save(f"image.{clean.image.extension}", ContentFile(clean.image.data), save=False)
    saved.append(upload.file.name)
    upload.thumbnail.save("thumb.webp", ContentFile(clean.thumbnail.data), save=False)
    saved.append(upload.thumbnail.name)
    if clean.model_copy is not None:
        copy = clean.model_copy
        upload.model_copy.save(f"model.{copy.extension}", ContentFile(copy.data), save=False)
        upload.model_copy_edge = MODEL_EDGE
        saved.append(upload.model_copy.name)
    return upload


def _expand_references(
    *, workspace: Workspace, images: list[Upload | NewImage | NamedReference], roles: list[str]
) -> tuple[list[Upload | NewImage], list[str], list[ReferenceVersion | None]]:
    """Saved references replaced by their current version's images (each with its role unless
    the request gave one), with the version each image came from; the other images as given.
    ValidationFailed names unknown references (a stranger's too); ReferenceUnusable (409) one
    whose person's consent lapsed or was withdrawn."""
    named = [item for item in images if isinstance(item, NamedReference)]
    if not named:
        return list(images), list(roles), [None] * len(images)  # type: ignore[arg-type]
    references = {
        r.public_id: r
        for r in Reference.objects.visible_to(workspace)
        .filter(public_id__in={item.public_id for item in named})
        .select_related("consent")
    }
    current = Q()
    for reference in references.values():
        current |= Q(reference_id=reference.pk, number=reference.version)
    versions = (
        {
            v.reference_id: v
            for v in ReferenceVersion.objects.filter(current).prefetch_related("images__upload")
        }
        if references
        else {}
    )
    out: list[Upload | NewImage] = []
    out_roles: list[str] = []
    out_versions: list[ReferenceVersion | None] = []
    errors: list[Problem] = []
    for position, item in enumerate(images, start=1):
        role = roles[position - 1] if position - 1 < len(roles) else ""
        if not isinstance(item, NamedReference):
            out.append(item)
            out_roles.append(role)
            out_versions.append(None)
            continue
        reference = references.get(item.public_id)
        if reference is None:
            errors.append(
                (
                    "inputs",
                    "reference_not_found",
                    _("Input %(n)d: there is no such reference here.") % {"n": position},
                )
            )
            continue
        reference.check_usable()
        version = versions[reference.pk]
        chosen = [
            image
            for image in version.images.all()
            if not item.upload or image.upload.public_id == item.upload
        ]
        if not chosen:
            errors.append(
                (
                    "inputs",
                    "reference_changed",
                    _(
                        "Input %(n)d: that image is no longer part of “%(name)s”; pick the "
                        "reference again."
                    )
                    % {"n": position, "name": reference.name},
                )
            )
        for image in chosen:
            if image.upload.removed_at is not None:
                errors.append(
                    (
                        "inputs",
                        "image_rejected",
                        _("Input %(n)d: an image of “%(name)s” was removed by a moderator.")
                        % {"n": position, "name": reference.name},
                    )
                )
            out.append(image.upload)
            out_roles.append(item.role or role or image.role)
            out_versions.append(version)
    if errors:
        raise ValidationFailed(errors)
    return out, out_roles, out_versions


def _lock_references(
    versions: list[ReferenceVersion | None], uploads: list[Upload | NewImage]
) -> None:
    """Inside the submit transaction: the references used are still usable, whether named
    (`{"reference": ...}`) or through one of their images' upload ids. The row lock orders
    this submission against a withdrawal or the purge (which update the same rows), so no
    composition starts from images being deleted."""
    ids = {v.reference_id for v in versions if v is not None}
    stored = [u.pk for u in uploads if isinstance(u, Upload) and u.pk is not None]
    if stored:
        ids |= set(
            ReferenceVersion.objects.filter(images__upload__in=stored).values_list(
                "reference_id", flat=True
            )
        )
    if not ids:
        return
    for reference in (
        Reference.objects.select_for_update(of=("self",))
        .filter(pk__in=ids)
        .select_related("consent")
    ):
        reference.check_usable()


def create_composition(
    *,
    workspace: Workspace,
    user: User | None,
    options: CompositionOptions,
    images: list[Upload | NewImage | NamedReference],
    parent: Composition | None = None,
    origin: str = Composition.Origin.NEW,
    region: PlannedRegion | None = None,
    free_retry_of: Composition | None = None,
    prepaid: int | None = None,
) -> Composition:
    """Validate, store the photos and create a queued composition; all of it or nothing.

    `images` are in order ("image 1" first): uploads already stored (an earlier result, a
    variation's inputs, an API upload), new files, which are validated and stored here, or
    saved references (`NamedReference`), which become their current images; each composition
    input records the reference version it came from. A `region` (an edit or an expand of
    image 1) is stored with it; it needs one image only.
    A free retry (`free_retry_of`) holds nothing; its capture is waived when it succeeds.
    `prepaid`: credits the caller already holds for this composition (a bulk run reserves its
    rows' credits, and counts their quotas, in one go): the composition carries that hold and
    takes no reserve of its own; its end releases the hold as usual, so the ledger adds up.
    """
    options = options.with_model()
    expanded, expanded_roles, reference_versions = _expand_references(
        workspace=workspace, images=images, roles=options.roles
    )
    if len(expanded) != len(images) and any(t is not None for t in options.markup_of):
        # Mark-up links name positions as sent; a reference of several images moves them.
        raise ValidationFailed(
            [
                (
                    "inputs",
                    "markup_invalid",
                    "Mark-up links cannot be combined with a saved reference of several images; "
                    "name the reference's images one by one.",
                )
            ]
        )
    return _create_composition(
        workspace=workspace,
        user=user,
        options=replace(options, roles=expanded_roles),
        images=expanded,
        reference_versions=reference_versions,
        parent=parent,
        origin=origin,
        region=region,
        free_retry_of=free_retry_of,
        prepaid=prepaid,
    )


def _create_composition(
    *,
    workspace: Workspace,
    user: User | None,
    options: CompositionOptions,
    images: list[Upload | NewImage],
    reference_versions: list[ReferenceVersion | None],
    parent: Composition | None,
    origin: str,
    region: PlannedRegion | None,
    free_retry_of: Composition | None = None,
    prepaid: int | None = None,
) -> Composition:
    new_images = [i for i in images if isinstance(i, NewImage)]
    count = len(images)
    model, errors = validate_options(options, count=count, min_images=1 if region else None)
    too_long = retention_problem(options.retention_days, workspace_days=workspace.retention_days)
    if too_long:
        errors.append(too_long)
    for position, item in enumerate(images, start=1):
        if isinstance(item, Upload) and item.status == Upload.Status.REJECTED:
            errors.append(
                (
                    "images",
                    "image_rejected",
                    _("Image %(position)d was rejected by a moderator.") % {"position": position},
                )
            )
    if errors or model is None:
        raise ValidationFailed(errors)
    if not available_routes(model, inputs=count, options=options.model_options):
        raise ProviderDown(
            _(
                "The image service for this model is unavailable right now. Nothing was "
                "charged; please try again in a few minutes."
            )
        )
    wallet = open_wallet(workspace=workspace)
    for field_name, code, message in _plan_problems(wallet.plan, model, options):
        raise NotAllowed(message, code=code, field=field_name)
    if prepaid is not None:
        credits = prepaid
    else:
        credits = 0 if free_retry_of else price_composition(model, options)
    # A cheap early answer; the reserve below is the real check.
    if prepaid is None and credits > wallet.balance:
        raise insufficient(credits, wallet.balance)
    # Decode and sanitise every photo before anything is stored, so a bad tenth file leaves
    # no trace of the first nine.
    sanitized, errors = _sanitize_all(new_images)
    if errors:
        raise ValidationFailed(errors)

    prompt = clean_prompt(options.prompt, preset=options.preset, count=count)
    roles = default_roles(options.preset, count)
    for index, role in enumerate(options.roles[:count]):
        if role:
            roles[index] = role

    saved: list[str | None] = []
    try:
        cleaned = dict(zip(map(id, new_images), sanitized, strict=True))
        uploads = [
            _store_upload(
                workspace=workspace,
                user=user,
                image=item,
                clean=cleaned[id(item)][0],
                status=cleaned[id(item)][1],
                saved=saved,
            )
            if isinstance(item, NewImage)
            else item
            for item in images
        ]
        region_row = None
        if region is not None:
            region_row = RegionEdit(
                kind=region.kind,
                feather=region.feather,
                box=list(region.box),
                canvas=region.canvas,
                margin=region.margin,
            )
        aspect_ratio = options.aspect_ratio
        if aspect_ratio == MATCH_INPUT:
            aspect_ratio = nearest_ratio(uploads[0].width, uploads[0].height, model.aspect_ratios)
        held = hold_reasons(
            user_id=user.pk if user else None,
            # Only compositions that ran (a worker started them, however they ended) or that a
            # moderator approved and that wait to run (approval moves held to queued and keeps
            # the held reason): held, rejected and canceled throwaways do not end a new
            # account's hold. An approved one canceled before it started is not counted: it
            # cannot be told from a held one its author canceled.
            compositions_made=(
                Composition.objects.filter(created_by=user, started_at__isnull=False)
                | Composition.objects.filter(
                    created_by=user, status=Composition.Status.QUEUED
                ).exclude(held_reason="")
            ).count()
            if user
            else 0,
            prompt=prompt,
            held_inputs=[u.public_id for u in uploads if u.status == Upload.Status.HELD],
            people_preset=options.preset in PEOPLE_PRESETS,
            consent=options.consent,
        )
        with transaction.atomic():
            # The wallet row serialises this workspace's submissions: quotas and credits are
            # checked and taken together, so concurrent requests cannot both slip through.
            wallet = lock_wallet(workspace_id=workspace.pk)
            if prepaid is None:
                check_quotas(wallet=wallet, user=user, images=options.num_images)
            _lock_references(reference_versions, images)
            for upload in uploads:
                if upload.pk is None:
                    upload.save()
            composition = Composition.objects.create(
                workspace=workspace,
                created_by=user,
                prompt=prompt,
                preset=options.preset,
                style=options.style,
                model=model.id,
                provider=model.provider,
                aspect_ratio=aspect_ratio,
                image_size=options.image_size,
                num_images=options.num_images,
                parent=parent,
                origin=origin,
                free_retry_of=free_retry_of,
                status=Composition.Status.HELD if held else Composition.Status.QUEUED,
                held_reason=" ".join(held)[:300],
                consent=options.consent,
                priority=options.priority,
                model_options=options.model_options,
                credits_per_search=model.grounding_credits_per_search if options.grounding else 0,
                enqueued_at=None if held else timezone.now(),
                credits_reserved=credits,
                keep_until=timezone.now() + timedelta(days=options.retention_days)
                if options.retention_days
                else None,
            )
            if prepaid is None:
                reserve_credits(
                    wallet=wallet,
                    composition_ref=composition.public_id,
                    amount=credits,
                    images=options.num_images,
                    user=user,
                )
            markup_of = [*options.markup_of, *[None] * (count - len(options.markup_of))]
            CompositionInput.objects.bulk_create(
                CompositionInput(
                    composition=composition,
                    upload=upload,
                    position=i,
                    role=role,
                    reference_version=version,
                    markup_of=markup_of[i - 1],
                )
                for i, (upload, role, version) in enumerate(
                    zip(uploads, roles, reference_versions, strict=True), start=1
                )
            )
            if region_row is not None:
                region_row.composition = composition
                if region and region.mask_png:
                    # Its name needs the composition; a failure after this removes it with
                    # the other files written here.
                    region_row.mask.save("mask.png", ContentFile(region.mask_png), save=False)
                    saved.append(region_row.mask.name)
                region_row.save()
            if not held:  # a held composition waits for a moderator's approval
                enqueue_composition(composition)
    except BaseException:
        delete_files(saved)
        raise
    return composition


def upload_from_result(*, result: Result, user: User | None) -> Upload:
    """An earlier result as a new input ("use as input"), copied so each can be deleted alone."""
    workspace = result.composition.workspace
    with result.file.open("rb") as fh:
        data = fh.read()
    with result.thumbnail.open("rb") as fh:
        thumb = fh.read()
    upload = Upload(
        workspace=workspace,
        uploaded_by=user,
        original_name=result.download_name,
        source=Upload.Source.RESULT,
        width=result.width,
        height=result.height,
        content_type=result.content_type,
        bytes=result.bytes,
        sha256=result.sha256,
        phash=result.phash,
    )
    upload.file.save(f"image.{result.extension}", ContentFile(data), save=False)
    upload.thumbnail.save("thumb.webp", ContentFile(thumb), save=False)
    return upload


def create_refinement(
    *,
    source: Result,
    user: User | None,
    options: CompositionOptions,
    new_images: list[Upload | NewImage | NamedReference],
) -> Composition:
    """A new composition with an earlier result as image 1, recording its parent; the other
    images are new files or uploads already stored (the composer uploads as photos are picked)."""
    upload = upload_from_result(result=source, user=user)
    try:
        return create_composition(
            workspace=source.composition.workspace,
            user=user,
            options=options,
            images=[upload, *new_images],
            parent=source.composition,
            origin=Composition.Origin.REFINEMENT,
        )
    except BaseException:
        delete_files(upload.stored_names())
        raise


# --- Region edits and expands -------------------------------------------------------------------

EXPAND_PROMPT = "Extend the scene naturally into the new area."


def _region_parent(source: Result | Upload) -> Composition | None:
    """The composition the edited image belongs to: a result's, or the latest one of the
    workspace that used the upload as an input."""
    if isinstance(source, Result):
        return source.composition
    return (
        Composition.objects.filter(workspace_id=source.workspace_id, inputs__upload=source)
        .order_by("-created_at", "-id")
        .first()
    )


def _region_problem(exc: RegionRejected, field_name: str) -> ValidationFailed:
    return ValidationFailed([(field_name, exc.code, exc.message)])


def _create_from_source(
    *,
    source: Result | Upload,
    user: User | None,
    options: CompositionOptions,
    extra_images: list[Upload | NewImage],
    parent: Composition | None,
    origin: str,
    region: PlannedRegion,
) -> Composition:
    """A composition whose image 1 is `source` (a result is copied into an upload first)."""
    if isinstance(source, Result):
        upload = upload_from_result(result=source, user=user)
        workspace = source.composition.workspace
    else:
        upload, workspace = source, source.workspace
    # The roles and mark-up links given are the extra images'; the source goes in front as
    # image 1, so the lists move one place. (A mark-up's target is a position among all the
    # images, the source being image 1, so the targets stay as given.)
    options = replace(options, roles=["", *options.roles], markup_of=[None, *options.markup_of])
    try:
        return create_composition(
            workspace=workspace,
            user=user,
            options=options,
            images=[upload, *extra_images],
            parent=parent if parent is not None else _region_parent(source),
            origin=origin,
            region=region,
        )
    except BaseException:
        if upload.pk is None:  # the copy of a result: its files were written above
            delete_files(upload.stored_names())
        raise


def _check_source(source: Result | Upload, *, feather: int) -> None:
    if isinstance(source, Upload) and source.status == Upload.Status.REJECTED:
        raise ValidationFailed(
            [("source", "image_rejected", "This image was rejected by a moderator.")]
        )
    if not 0 <= feather <= MAX_FEATHER:
        raise ValidationFailed(
            [("feather", "invalid_request", f"Feather 0 to {MAX_FEATHER} pixels.")]
        )


def _served_model(options: CompositionOptions) -> ModelSpec:
    """The model a region edit or expand is sized for; one no longer served is refused here
    (its aspect ratios decide the crop), as the submit would refuse it."""
    model = find_model(options.model)
    if model is None or model.shut_down:
        raise ValidationFailed(
            [("model", "unsupported_option", f"The model {options.model!r} is not available.")]
        )
    return model


def create_region_edit(
    *,
    source: Result | Upload,
    mask: Upload,
    user: User | None,
    options: CompositionOptions,
    feather: int = DEFAULT_FEATHER,
    extra_images: list[Upload | NewImage] | None = None,
    parent: Composition | None = None,
) -> Composition:
    """Change only the painted region of `source`: the model is sent a crop around it and its
    answer is pasted back through the feathered mask (`regions`), when the composition runs."""
    _check_source(source, feather=feather)
    with mask.file.open("rb") as fh:
        try:
            region = read_mask(fh.read())
        except (OSError, ValueError):
            raise ValidationFailed(
                [("mask", "image_corrupt", "The mask could not be read.")]
            ) from None
    try:
        check_mask(region, (source.width, source.height))
    except RegionRejected as exc:
        raise _region_problem(exc, "mask") from None
    options = options.with_model()
    box, ratio = crop_box(region, _served_model(options).aspect_ratios)
    planned = PlannedRegion(
        kind=RegionEdit.Kind.EDIT, feather=feather, mask_png=mask_png(region), box=box
    )
    return _create_from_source(
        source=source,
        user=user,
        options=replace(options, aspect_ratio=ratio),
        extra_images=list(extra_images or []),
        parent=parent,
        origin=Composition.Origin.REGION_EDIT,
        region=planned,
    )


def create_expand(
    *,
    source: Result | Upload,
    user: User | None,
    options: CompositionOptions,
    aspect_ratio: str = "",
    margin: int = 0,
    feather: int = DEFAULT_FEATHER,
    extra_images: list[Upload | NewImage] | None = None,
    parent: Composition | None = None,
) -> Composition:
    """A bigger picture around `source`, to a new aspect ratio or by a margin on every side:
    the model fills the new area, and the original pixels are pasted back unchanged."""
    _check_source(source, feather=feather)
    if bool(aspect_ratio) == bool(margin):
        raise ValidationFailed(
            [("expand", "expand_invalid", "Choose either a new aspect ratio or a margin.")]
        )
    options = options.with_model()
    model = _served_model(options)
    ratios = model.aspect_ratios
    if aspect_ratio and aspect_ratio not in ratios:
        raise ValidationFailed(
            [("aspect_ratio", "unsupported_option", f"{model.name} cannot make that aspect ratio.")]
        )
    try:
        canvas, ratio = expand_canvas(
            (source.width, source.height), aspect_ratio=aspect_ratio, margin=margin
        )
    except RegionRejected as exc:
        raise _region_problem(exc, "expand") from None
    pixels = canvas.width * canvas.height
    if pixels > settings.BANANASITE_MAX_IMAGE_PIXELS:
        raise ValidationFailed(
            [
                (
                    "expand",
                    "image_too_large_pixels",
                    f"The expanded picture would be {canvas.width}×{canvas.height} pixels; "
                    f"the limit is {settings.BANANASITE_MAX_IMAGE_PIXELS / 1e6:,.0f} megapixels.",
                )
            ]
        )
    if not ratio:
        ratio = nearest_ratio(canvas.width, canvas.height, ratios)
    planned = PlannedRegion(
        kind=RegionEdit.Kind.EXPAND,
        feather=feather,
        canvas={
            "width": canvas.width,
            "height": canvas.height,
            "left": canvas.left,
            "top": canvas.top,
        },
        margin=margin,
    )
    return _create_from_source(
        source=source,
        user=user,
        options=replace(options, aspect_ratio=ratio, prompt=options.prompt or EXPAND_PROMPT),
        extra_images=list(extra_images or []),
        parent=parent,
        origin=Composition.Origin.EXPAND,
        region=planned,
    )


def create_variation(
    *,
    source: Composition,
    user: User | None,
    prompt: str | None = None,
    num_images: int | None = None,
    style: str | None = None,
) -> Composition:
    """Same inputs and options, a new run (with a new seed, so new pictures)."""
    return _again(
        source,
        user=user,
        origin=Composition.Origin.VARIATION,
        prompt=prompt,
        num_images=num_images,
        style=style,
    )


def _again(
    source: Composition,
    *,
    user: User | None,
    origin: str,
    free_retry_of: Composition | None = None,
    **overrides: Any,
) -> Composition:
    """A new run of `source`: its inputs (with their roles, mark-up links and reference
    versions, checked again at submit: a person's consent may have lapsed), its options with
    `overrides`, and its region when it edited or expanded one. Variations and free retries."""
    inputs = list(source.inputs.select_related("upload", "reference_version"))
    # (Not `source.inputs(manager=...)`: a prefetched `inputs` would answer for it.)
    if len(inputs) < CompositionInput.all_objects.filter(composition=source).count():
        raise InvalidState(
            _("A photo of this composition was removed by a moderator; it cannot be varied.")
        )
    options = CompositionOptions.of(
        source,
        roles=[i.role for i in inputs],
        markup_of=[i.markup_of for i in inputs],
        **overrides,
    )
    return _create_composition(
        workspace=source.workspace,
        user=user,
        options=options.with_model(),
        images=[i.upload for i in inputs],
        reference_versions=[i.reference_version for i in inputs],
        parent=source,
        origin=origin,
        region=_region_again(source),
        free_retry_of=free_retry_of,
    )


def _region_again(source: Composition) -> PlannedRegion | None:
    """A variation of a region edit or expand edits the same region of the same picture."""
    region = RegionEdit.objects.filter(composition=source).first()
    if region is None:
        return None
    mask_png = b""
    if region.mask:
        with region.mask.open("rb") as fh:
            mask_png = fh.read()
    return PlannedRegion(
        kind=region.kind,
        feather=region.feather,
        mask_png=mask_png,
        box=tuple(int(v) for v in region.box),
        canvas=dict(region.canvas),
        margin=region.margin,
    )


def create_free_retry(*, source: Composition, user: User | None) -> Composition:
    """The one retry at no charge that a composition gets when its reference check did not
    find a product or logo in a result: the same inputs and options, a new picture."""
    if not source.missed_references or source.status != Composition.Status.SUCCEEDED:
        raise FreeRetryRefused(
            "A free retry is offered only when the check did not find a product or logo in "
            "the result.",
            code="free_retry_not_offered",
        )
    if source.origin == Composition.Origin.RETRY:
        raise FreeRetryRefused(
            "This composition is a free retry already; it has none of its own.",
            code="free_retry_not_offered",
        )
    used = FreeRetryRefused("This composition's free retry has been used.", code="free_retry_used")
    if Composition.objects.filter(free_retry_of=source).exists():
        raise used
    try:
        return _again(source, user=user, origin=Composition.Origin.RETRY, free_retry_of=source)
    except IntegrityError:
        # Two requests at once: the one-to-one let only the first through.
        raise used from None


def check_references(*, composition: Composition) -> dict:
    """Look for each input whose role must appear (product, logo) in each result, and record
    what was found on the composition. Deterministic, so running it twice changes nothing."""
    inputs = list(
        composition.inputs.filter(role__in=CHECKED_ROLES, markup_of__isnull=True)
        .select_related("upload")
        .order_by("position")
    )
    scenes = []
    for result in composition.results.order_by("position"):
        with result.file.open("rb") as fh:
            scenes.append((result, fh.read()))
    references = []
    for item in inputs:
        with item.upload.file.open("rb") as fh:
            reference = fh.read()
        for result, scene in scenes:
            match = find_reference(reference, scene)
            references.append(
                {
                    "input": item.position,
                    "role": item.role,
                    "result": result.public_id,
                    "found": match.found,
                    "inliers": match.inliers,
                }
            )
    checks = {"status": "done", "references": references}
    composition.record_checks(checks)
    return checks


def delete_composition(*, composition: Composition) -> None:
    """Delete a composition, its results' files, and inputs no other composition uses."""
    with transaction.atomic():
        if not composition.is_finished:
            cancel_composition(composition=composition)  # a running worker discards its work
        results = list(composition.results.all())
        upload_ids = list(composition.inputs.values_list("upload_id", flat=True))
        names = [n for r in results for n in (r.file.name, r.thumbnail.name)]
        region = RegionEdit.objects.filter(composition=composition).first()
        if region is not None and region.mask:
            names.append(region.mask.name)
        composition.delete()
        # A saved reference's images stay with the library.
        orphans = Upload.objects.filter(
            id__in=upload_ids, uses__isnull=True, reference_images__isnull=True
        )
        names += [n for u in orphans for n in u.stored_names()]
        orphans.delete()
        # Files go only once the rows are gone for good; a rollback keeps both.
        transaction.on_commit(lambda: delete_files(names))


def purge_expired_compositions(*, now: datetime | None = None) -> int:
    """Delete the finished compositions past their life (`CompositionQuerySet.expired`) with
    their results, thumbnails and the inputs no other composition uses, and the workspace's
    unused uploads older than its retention. The ledger keeps its rows (they name the
    composition by `composition_ref`), moderation its audit entries and blocklist hashes."""
    now = now or timezone.now()
    purged = 0
    expired = Composition.objects.expired(now=now).select_related("workspace")
    for composition in expired.order_by("pk").iterator(chunk_size=200):
        delete_composition(composition=composition)
        purged += 1
    spans = (
        Workspace.objects.filter(retention_days__gt=0)
        .order_by()
        .values_list("retention_days", flat=True)
        .distinct()
    )
    for days in spans:  # one query per retention length, as `expired` does
        purge_unused_uploads(
            Upload.all_objects.filter(
                workspace__retention_days=days, created_at__lt=now - timedelta(days=days or 0)
            )
        )
    return purged


def purge_unused_uploads(uploads: "QuerySet[Upload]") -> int:
    """Delete those of `uploads` that no composition uses, that are not a saved reference's
    images and that no open report is about, with their files; the count deleted. One picked
    for a composition after the query is kept (`delete_upload` checks again)."""
    stale = uploads.filter(uses__isnull=True, reference_images__isnull=True).exclude(
        reports__status="open"
    )
    purged = 0
    for upload in stale.order_by("pk").iterator(chunk_size=200):
        try:
            delete_upload(upload=upload)
        except (InvalidState, ProtectedError):
            continue
        purged += 1
    return purged


# --- Uploads and estimates (used by the API) ---------------------------------------------------


def create_upload(*, workspace: Workspace, user: User | None, image: NewImage) -> Upload:
    """Validate and store one photo on its own, for later use as an input."""
    try:
        clean, status = _sanitize_one(image, blocked_hashes())
    except ImageRejected as exc:
        raise ValidationFailed([("file", exc.code, exc.message)]) from None
    saved: list[str | None] = []
    try:
        upload = _store_upload(
            workspace=workspace, user=user, image=image, clean=clean, status=status, saved=saved
        )
        upload.save()
    except BaseException:
        delete_files(saved)
        raise
    return upload


def store_new_uploads(
    *, workspace: Workspace, user: User | None, images: list[NewImage]
) -> tuple[list[Upload], list[str | None]]:
    """Photos for elsewhere (a saved reference's images): every one decoded, sanitised and
    compared with removed content first (ValidationFailed names each bad one), then the files
    written. The rows are not saved: the caller saves them in its own transaction and deletes
    the files (the second item) should anything fail."""
    sanitized, errors = _sanitize_all(images)
    if errors:
        raise ValidationFailed(errors)
    saved: list[str | None] = []
    try:
        uploads = [
            _store_upload(
                workspace=workspace, user=user, image=image, clean=clean, status=status, saved=saved
            )
            for image, (clean, status) in zip(images, sanitized, strict=True)
        ]
    except BaseException:
        delete_files(saved)
        raise
    return uploads, saved


def delete_upload(*, upload: Upload) -> None:
    if upload.uses.exists():
        raise InvalidState(_("This upload is an input of a composition; delete that first."))
    if upload.reference_images.exists():
        raise InvalidState(_("This upload is an image of a saved reference; edit that instead."))
    names = upload.stored_names()
    with transaction.atomic():
        upload.delete()
        transaction.on_commit(lambda: delete_files(names))


def validate_and_price(
    *, options: CompositionOptions, count: int
) -> tuple[ModelSpec | None, list[Problem], int]:
    """The model, what is wrong with these options for `count` photos, and the hold they
    would take (0 when the options are not valid); creates nothing, reads no wallet."""
    model, errors = validate_options(options.with_model(), count=count)
    if model is None or errors:
        return model, errors, 0
    return model, errors, price_composition(model, options)


def estimate_composition(
    *,
    workspace: Workspace,
    user: User | None,
    options: CompositionOptions,
    count: int,
    roles: list[str] | None = None,
) -> dict:
    """What a composition would cost, whether it would be accepted, and what the prompt
    linter says of its prompt (warnings never refuse); creates nothing."""
    reasons = []
    warnings: list[dict] = []
    model, errors = validate_options(options.with_model(), count=count)
    reasons += [{"code": code, "message": message} for _f, code, message in errors]
    too_long = retention_problem(options.retention_days, workspace_days=workspace.retention_days)
    if too_long:
        reasons.append({"code": too_long[1], "message": too_long[2]})
    credits = 0
    if model:
        credits = price_composition(model, options)
        warnings = [
            {"code": warning.code, "message": warning.message}
            for warning in lint_prompt(
                prompt=options.prompt,
                roles=roles or [],
                preset=options.preset,
                model_id=model.id,
                count=count,
            )
        ]
        wallet = open_wallet(workspace=workspace)
        reasons += [
            {"code": code, "message": message}
            for _f, code, message in _plan_problems(wallet.plan, model, options)
        ]
        if credits > wallet.balance:
            problem = insufficient(credits, wallet.balance)
            reasons.append({"code": problem.code, "message": problem.message})
        try:
            check_quotas(wallet=wallet, user=user, images=options.num_images)
        except QuotaExceeded as exc:
            reasons.append({"code": exc.code, "message": exc.message})
    return {"credits": credits, "allowed": not reasons, "reasons": reasons, "warnings": warnings}
