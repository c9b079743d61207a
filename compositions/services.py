"""Work on compositions that spans models or leaves the process: submitting one (with its
photos, its hold on credits and the moderation checks), variations and refinements, uploads,
estimates and deletion. Its way through the queue is `lifecycle`, the worker's steps
`pipeline`."""

import logging

from django.core.files.base import ContentFile
from django.db import transaction
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

from .catalog import ModelSpec, available_routes
from .images import ImageRejected, SanitizedUpload, check_request_pixels, sanitize_upload
from .lifecycle import cancel_composition, enqueue_composition
from .models import Composition, CompositionInput, Result, Upload
from .options import (
    MATCH_INPUT,
    CompositionOptions,
    NewImage,
    Problem,
    clean_prompt,
    nearest_ratio,
    validate_options,
)
from .presets import PEOPLE_PRESETS, default_roles

logger = logging.getLogger(__name__)


class ProviderDown(AppError):
    code = "provider_unavailable"
    status = 503
    title = gettext_lazy("Provider unavailable")


BLOCKED_IMAGE = gettext_lazy(
    "“%(name)s” matches content our moderators removed, so it cannot be used here."
)
UPLOAD_STATUS = {Verdict.OK: Upload.Status.READY, Verdict.HOLD: Upload.Status.HELD}


def _sanitize_one(image: NewImage, blocked: list[int]) -> tuple[SanitizedUpload, str]:
    """The photo decoded and cleaned, with its upload status by its likeness to removed
    content; ImageRejected if it is not a usable image or is a copy of removed content."""
    clean = sanitize_upload(image.fileobj, label=image.name, size=image.size)
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


def _price(model: ModelSpec, options: CompositionOptions) -> int:
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
    return upload


def create_composition(
    *,
    workspace: Workspace,
    user: User | None,
    options: CompositionOptions,
    images: list[Upload | NewImage],
    parent: Composition | None = None,
    origin: str = Composition.Origin.NEW,
) -> Composition:
    """Validate, store the photos and create a queued composition; all of it or nothing.

    `images` are in order ("image 1" first): uploads already stored (an earlier result, a
    variation's inputs, an API upload) or new files, which are validated and stored here.
    """
    options = options.with_model()
    new_images = [i for i in images if isinstance(i, NewImage)]
    count = len(images)
    model, errors = validate_options(options, count=count)
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
    credits = _price(model, options)
    if credits > wallet.balance:  # cheap early answer; the reserve below is the real check
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
            check_quotas(wallet=wallet, user=user, images=options.num_images)
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
                status=Composition.Status.HELD if held else Composition.Status.QUEUED,
                held_reason=" ".join(held)[:300],
                consent=options.consent,
                priority=options.priority,
                model_options=options.model_options,
                credits_per_search=model.grounding_credits_per_search if options.grounding else 0,
                enqueued_at=None if held else timezone.now(),
                credits_reserved=credits,
            )
            reserve_credits(
                wallet=wallet,
                composition_ref=composition.public_id,
                amount=credits,
                images=options.num_images,
                user=user,
            )
            CompositionInput.objects.bulk_create(
                CompositionInput(composition=composition, upload=upload, position=i, role=role)
                for i, (upload, role) in enumerate(zip(uploads, roles, strict=True), start=1)
            )
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
    new_images: list[Upload | NewImage],
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
        delete_files([upload.file.name, upload.thumbnail.name])
        raise


def create_variation(
    *,
    source: Composition,
    user: User | None,
    prompt: str | None = None,
    num_images: int | None = None,
    style: str | None = None,
) -> Composition:
    """Same inputs and options, a new run (with a new seed, so new pictures)."""
    inputs = list(source.inputs.select_related("upload"))
    options = CompositionOptions.of(
        source,
        prompt=prompt,
        num_images=num_images,
        style=style,
        roles=[i.role for i in inputs],
    )
    # (Not `source.inputs(manager=...)`: a prefetched `inputs` would answer for it.)
    if len(inputs) < CompositionInput.all_objects.filter(composition=source).count():
        raise InvalidState(
            _("A photo of this composition was removed by a moderator; it cannot be varied.")
        )
    return create_composition(
        workspace=source.workspace,
        user=user,
        options=options,
        images=[i.upload for i in inputs],
        parent=source,
        origin=Composition.Origin.VARIATION,
    )


def delete_composition(*, composition: Composition) -> None:
    """Delete a composition, its results' files, and inputs no other composition uses."""
    with transaction.atomic():
        if not composition.is_finished:
            cancel_composition(composition=composition)  # a running worker discards its work
        results = list(composition.results.all())
        upload_ids = list(composition.inputs.values_list("upload_id", flat=True))
        names = [n for r in results for n in (r.file.name, r.thumbnail.name)]
        composition.delete()
        orphans = Upload.objects.filter(id__in=upload_ids, uses__isnull=True)
        names += [n for u in orphans for n in (u.file.name, u.thumbnail.name)]
        orphans.delete()
        # Files go only once the rows are gone for good; a rollback keeps both.
        transaction.on_commit(lambda: delete_files(names))


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


def delete_upload(*, upload: Upload) -> None:
    if upload.uses.exists():
        raise InvalidState(_("This upload is an input of a composition; delete that first."))
    names = [upload.file.name, upload.thumbnail.name]
    with transaction.atomic():
        upload.delete()
        transaction.on_commit(lambda: delete_files(names))


def estimate_composition(
    *, workspace: Workspace, user: User | None, options: CompositionOptions, count: int
) -> dict:
    """What a composition would cost and whether it would be accepted; creates nothing."""
    reasons = []
    model, errors = validate_options(options.with_model(), count=count)
    reasons += [{"code": code, "message": message} for _f, code, message in errors]
    credits = 0
    if model:
        credits = _price(model, options)
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
    return {"credits": credits, "allowed": not reasons, "reasons": reasons}
