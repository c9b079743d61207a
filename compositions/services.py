"""Work on compositions that spans models or leaves the process."""

import logging
import unicodedata
from dataclasses import dataclass, field

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from bananasite.errors import AppError, InvalidState, ValidationFailed
from billing.services import (
    NotAllowed,
    check_quotas,
    estimate_credits,
    insufficient,
    lock_wallet,
    open_wallet,
    plan_problems,
    release_credits,
    reserve_credits,
)
from moderation.policy import hold_reasons

from . import webhooks
from .catalog import ModelSpec, get_model
from .images import ImageRejected, SanitizedUpload, sanitize_upload
from .models import Composition, CompositionInput, Result, Role, Upload
from .presets import PEOPLE_PRESETS, default_roles, scaffold
from .providers.http import CircuitBreaker

logger = logging.getLogger(__name__)


class ProviderDown(AppError):
    code = "provider_unavailable"
    status = 503
    title = "Provider unavailable"


@dataclass
class CompositionOptions:
    prompt: str = ""
    preset: str = Composition.Preset.NONE
    style: str = Composition.Style.NATURAL
    model: str = ""
    aspect_ratio: str = "1:1"
    image_size: str = "1K"
    num_images: int = 1
    roles: list[str] = field(default_factory=list)
    # The statement "I have the right to use these photos and the consent of the people in
    # them". The browser requires it for people presets (`require_consent`); an API call
    # without it is held for a moderator instead, so existing clients keep working.
    consent: bool = False
    require_consent: bool = False


@dataclass
class NewImage:
    """A file from the request, not yet validated."""

    name: str
    fileobj: object
    size: int | None


def clean_prompt(raw: str, *, preset: str, count: int) -> str:
    """Trim and normalise the prompt; a preset supplies one when it is left empty."""
    prompt = unicodedata.normalize("NFC", raw or "").strip()
    if not prompt and preset != Composition.Preset.NONE:
        prompt = scaffold(preset, count)
    return prompt


ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)


def normalise_for_policy(text: str) -> str:
    """Text as the blocked-terms policy sees it: compatibility forms folded (NFKC, so
    full-width and ligature tricks fail), case folded, zero-width characters removed,
    punctuation and spacing collapsed to single spaces."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(ZERO_WIDTH)
    return " ".join("".join(ch if ch.isalnum() else " " for ch in text).split())


def contains_term(text: str, terms) -> str | None:
    """The first of `terms` (words or phrases) the text contains as whole words, if any."""
    haystack = f" {normalise_for_policy(text)} "
    for term in terms:
        needle = normalise_for_policy(term)
        if needle and f" {needle} " in haystack:
            return term
    return None


def blocked_term(prompt: str) -> str | None:
    """The first configured blocked term (a word or phrase) the prompt contains, if any."""
    return contains_term(prompt, settings.BANANASITE_BLOCKED_TERMS)


def validate_options(options: CompositionOptions, *, count: int) -> tuple[ModelSpec, list]:
    """Check everything but the image bytes; return the model and a list of problems."""
    errors: list[tuple[str, str, str]] = []
    model = get_model(options.model)
    if model is None:
        errors.append(("model", "unsupported_option", "Choose one of the available models."))
    if options.preset not in Composition.Preset.values:
        errors.append(("preset", "unsupported_option", "Choose one of the presets."))
    if options.style not in Composition.Style.values:
        errors.append(("style", "unsupported_option", "Choose one of the styles."))
    if model and options.aspect_ratio not in model.aspect_ratios:
        errors.append(
            ("aspect_ratio", "unsupported_option", f"{model.name} cannot make that aspect ratio.")
        )
    if model and options.image_size not in model.image_sizes:
        errors.append(
            ("image_size", "unsupported_option", f"{model.name} cannot make that image size.")
        )
    if not 1 <= options.num_images <= 4:
        errors.append(("num_images", "unsupported_option", "Ask for 1 to 4 images."))

    low = settings.BANANASITE_MIN_INPUT_IMAGES
    high = min(settings.BANANASITE_MAX_INPUT_IMAGES, model.max_images if model else 99)
    if count < low:
        errors.append(
            (
                "images",
                "too_few_images",
                f"Add at least {low} photos to combine (you added {count}).",
            )
        )
    elif count > high:
        limit_by = f"{model.name} takes" if model and model.max_images < 14 else "You can add"
        errors.append(
            (
                "images",
                "too_many_images",
                f"{limit_by} at most {high} photos (you added {count}).",
            )
        )

    prompt = clean_prompt(options.prompt, preset=options.preset, count=count)
    limit = settings.BANANASITE_MAX_PROMPT_CHARS
    if not prompt:
        errors.append(
            ("prompt", "prompt_invalid", "Describe how to combine the photos, or pick a preset.")
        )
    elif len(prompt) > limit:
        errors.append(
            (
                "prompt",
                "prompt_too_long",
                f"The prompt is {len(prompt):,} characters; the limit is {limit:,}.",
            )
        )
    elif any(unicodedata.category(ch) == "Cc" and ch not in "\n\r\t" for ch in prompt):
        errors.append(("prompt", "prompt_invalid", "The prompt contains control characters."))
    elif blocked_term(prompt):
        errors.append(
            (
                "prompt",
                "prompt_blocked",
                "The prompt asks for something this site does not make. Please rephrase it.",
            )
        )
    for role in options.roles:
        if role and role not in Role.values:
            errors.append(("roles", "unsupported_option", f"“{role}” is not a role."))
            break
    if options.require_consent and options.preset in PEOPLE_PRESETS and not options.consent:
        errors.append(
            (
                "consent",
                "consent_required",
                "This preset works with people: tick the statement that you have the right to "
                "use these photos and the consent of the people in them.",
            )
        )
    return model, errors


BLOCKED_IMAGE = "“{}” matches content our moderators removed, so it cannot be used here."


def _hash_verdict(clean: SanitizedUpload, label: str, blocked: list[int]) -> str:
    """Upload status for a photo by its likeness to removed content, or ImageRejected."""
    from moderation.policy import nearest_blocked

    bits = nearest_blocked(clean.phash, blocked)
    if bits is None:
        return Upload.Status.READY
    if bits <= settings.BANANASITE_HASH_BLOCK_DISTANCE:
        raise ImageRejected("image_blocked", BLOCKED_IMAGE.format(label))
    if bits <= settings.BANANASITE_HASH_HOLD_DISTANCE:
        return Upload.Status.HELD
    return Upload.Status.READY


def _sanitize_one(image: NewImage, blocked: list[int]) -> tuple[SanitizedUpload, str]:
    clean = sanitize_upload(image.fileobj, label=image.name, size=image.size)
    return clean, _hash_verdict(clean, image.name, blocked)


def _sanitize_all(images: list[NewImage]) -> tuple[list[tuple[SanitizedUpload, str]], list]:
    from moderation.policy import blocked_hashes

    sanitized, errors = [], []
    blocked = blocked_hashes() if images else []  # read once for all the photos
    for image in images:
        try:
            sanitized.append(_sanitize_one(image, blocked))
        except ImageRejected as exc:
            errors.append(("images", exc.code, exc.message))
    return sanitized, errors


def _store_upload(
    *, workspace, user, image: NewImage, clean: SanitizedUpload, status: str, saved: list
):
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


def delete_files(names) -> None:
    """Remove files from storage; a file that is already gone is not an error."""
    for name in names:
        if not name:
            continue
        try:
            default_storage.delete(name)
        except Exception:  # Storage outages must not undo the database work; log and move on.
            logger.exception("Could not delete stored file %s", name)


def enqueue_composition(composition: Composition) -> None:
    """Hand the composition to a worker once the transaction that created it has committed."""
    public_id = composition.public_id
    transaction.on_commit(
        lambda: async_task(
            "compositions.tasks.run_composition",
            public_id,
            task_name=f"compose {public_id}",
            group="compositions",
            sync=settings.BANANASITE_TASKS_SYNC,
        )
    )


def create_composition(
    *,
    workspace,
    user,
    options: CompositionOptions,
    images: list[Upload | NewImage] = (),
    parent: Composition | None = None,
    origin: str = Composition.Origin.NEW,
) -> Composition:
    """Validate, store the photos and create a queued composition; all of it or nothing.

    `images` are in order ("image 1" first): uploads already stored (an earlier result, a
    variation's inputs, an API upload) or new files, which are validated and stored here.
    """
    images = list(images)
    new_images = [i for i in images if isinstance(i, NewImage)]
    count = len(images)
    model, errors = validate_options(options, count=count)
    for position, item in enumerate(images, start=1):
        if isinstance(item, Upload) and item.status == Upload.Status.REJECTED:
            errors.append(
                ("images", "image_rejected", f"Image {position} was rejected by a moderator.")
            )
    if errors:
        raise ValidationFailed(errors)
    if all(r[0] != "local" and CircuitBreaker(r[0]).is_open() for r in model.routes):
        raise ProviderDown(
            "The image service for this model is unavailable right now. Nothing was charged; "
            "please try again in a few minutes."
        )
    wallet = open_wallet(workspace=workspace)
    for field_name, code, message in plan_problems(
        plan=wallet.plan, model=model, image_size=options.image_size
    ):
        raise NotAllowed(message, code=code, field=field_name)
    credits = estimate_credits(
        model=model, image_size=options.image_size, num_images=options.num_images
    )
    if credits > wallet.balance:  # cheap early answer; the reserve below is the real check
        raise insufficient(credits, wallet.balance)
    # Decode and sanitise every photo before anything is stored, so a bad tenth file leaves
    # no trace of the first nine.
    sanitized, errors = _sanitize_all(list(new_images))
    if errors:
        raise ValidationFailed(errors)

    prompt = clean_prompt(options.prompt, preset=options.preset, count=count)
    roles = default_roles(options.preset, count)
    for index, role in enumerate(options.roles[:count]):
        if role:
            roles[index] = role

    saved: list[str] = []
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
        held = hold_reasons(
            user=user,
            prompt=prompt,
            uploads=uploads,
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
                aspect_ratio=options.aspect_ratio,
                image_size=options.image_size,
                num_images=options.num_images,
                parent=parent,
                origin=origin,
                status=Composition.Status.HELD if held else Composition.Status.QUEUED,
                held_reason=" ".join(held)[:300],
                consent=options.consent,
                enqueued_at=None if held else timezone.now(),
                credits_reserved=credits,
            )
            reserve_credits(wallet=wallet, composition=composition, amount=credits, user=user)
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


def upload_from_result(*, result: Result, user) -> Upload:
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
    *, source: Result, user, options: CompositionOptions, new_images: list[NewImage]
) -> Composition:
    """A new composition with an earlier result as image 1, recording its parent."""
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


def create_variation(*, source: Composition, user, **overrides) -> Composition:
    """Same inputs and options, a new run (with a new seed, so new pictures)."""
    inputs = list(source.inputs.select_related("upload"))
    options = CompositionOptions(
        prompt=overrides.get("prompt") or source.prompt,
        preset=source.preset,
        style=overrides.get("style") or source.style,
        model=source.model,
        aspect_ratio=source.aspect_ratio,
        image_size=source.image_size,
        num_images=overrides.get("num_images") or source.num_images,
        roles=[i.role for i in inputs],
        consent=source.consent,
    )
    # (Not `source.inputs(manager=...)`: a prefetched `inputs` would answer for it.)
    if len(inputs) < CompositionInput.all_objects.filter(composition=source).count():
        raise InvalidState(
            "A photo of this composition was removed by a moderator; it cannot be varied."
        )
    return create_composition(
        workspace=source.workspace,
        user=user,
        options=options,
        images=[i.upload for i in inputs],
        parent=source,
        origin=Composition.Origin.VARIATION,
    )


def fail_composition(
    *, composition: Composition, code: str, message: str, from_statuses=None
) -> bool:
    """Fail an unfinished composition and give back its whole hold, or do nothing."""
    with transaction.atomic():
        if not composition.fail(code=code, message=message, from_statuses=from_statuses):
            return False
        release_credits(composition=composition)
        webhooks.emit(composition, "composition.failed")
        start_next_in_workspace(workspace_id=composition.workspace_id)
    return True


def cancel_composition(*, composition: Composition) -> Composition:
    with transaction.atomic():
        if not composition.cancel():
            raise InvalidState("This composition has already finished.")
        release_credits(composition=composition)
        webhooks.emit(composition, "composition.canceled")
        start_next_in_workspace(workspace_id=composition.workspace_id)
    return composition


def start_next_in_workspace(*, workspace_id) -> None:
    """A slot may have freed: hand the workspace's oldest queued composition to a worker.

    It goes to the back of the broker's queue, behind other workspaces' work: that is what
    keeps one busy workspace from starving the rest."""
    waiting = (
        Composition.objects.filter(workspace_id=workspace_id, status=Composition.Status.QUEUED)
        .order_by("created_at", "id")
        .first()
    )
    if waiting:
        enqueue_composition(waiting)


def claim_next(*, workspace_id) -> Composition | None:
    """Claim the workspace's oldest queued composition if its plan has a free slot."""
    with transaction.atomic():
        wallet = lock_wallet(workspace_id=workspace_id)
        running = Composition.objects.filter(
            workspace_id=workspace_id, status__in=Composition.ACTIVE
        ).count()
        if running >= wallet.plan.concurrent_compositions:
            return None
        waiting = (
            Composition.objects.filter(workspace_id=workspace_id, status=Composition.Status.QUEUED)
            .order_by("created_at", "id")
            .first()
        )
        if waiting and waiting.claim():
            return waiting
    return None


def delete_composition(*, composition: Composition) -> None:
    """Delete a composition, its results' files, and inputs no other composition uses."""
    with transaction.atomic():
        if composition.cancel():  # A running worker sees the cancel and discards its work.
            release_credits(composition=composition)
            webhooks.emit(composition, "composition.canceled")
            start_next_in_workspace(workspace_id=composition.workspace_id)
        results = list(composition.results.all())
        upload_ids = list(composition.inputs.values_list("upload_id", flat=True))
        names = [n for r in results for n in (r.file.name, r.thumbnail.name)]
        composition.delete()
        orphans = Upload.objects.filter(id__in=upload_ids, uses__isnull=True)
        names += [n for u in orphans for n in (u.file.name, u.thumbnail.name)]
        orphans.delete()
        # Files go only once the rows are gone for good; a rollback keeps both.
        transaction.on_commit(lambda: delete_files(names))


# --- Uploads, estimates, reports (used by the API) -------------------------------------------


def create_upload(*, workspace, user, image: NewImage) -> Upload:
    """Validate and store one photo on its own, for later use as an input."""
    from moderation.policy import blocked_hashes

    try:
        clean, status = _sanitize_one(image, blocked_hashes())
    except ImageRejected as exc:
        raise ValidationFailed([("file", exc.code, exc.message)]) from None
    saved: list[str] = []
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
        raise InvalidState("This upload is an input of a composition; delete that first.")
    names = [upload.file.name, upload.thumbnail.name]
    with transaction.atomic():
        upload.delete()
        transaction.on_commit(lambda: delete_files(names))


def estimate_composition(*, workspace, user, options: CompositionOptions, count: int) -> dict:
    """What a composition would cost and whether it would be accepted; creates nothing."""
    from billing.services import QuotaExceeded

    reasons = []
    model, errors = validate_options(options, count=count)
    reasons += [{"code": code, "message": message} for _f, code, message in errors]
    credits = 0
    if model:
        credits = estimate_credits(
            model=model, image_size=options.image_size, num_images=options.num_images
        )
        wallet = open_wallet(workspace=workspace)
        reasons += [
            {"code": code, "message": message}
            for _f, code, message in plan_problems(
                plan=wallet.plan, model=model, image_size=options.image_size
            )
        ]
        if credits > wallet.balance:
            problem = insufficient(credits, wallet.balance)
            reasons.append({"code": problem.code, "message": problem.message})
        try:
            check_quotas(wallet=wallet, user=user, images=options.num_images)
        except QuotaExceeded as exc:
            reasons.append({"code": exc.code, "message": exc.message})
    return {"credits": credits, "allowed": not reasons, "reasons": reasons}


REPORTS_PER_HOUR = 20


class ReportsThrottled(AppError):
    code = "rate_limited"
    status = 429
    title = "Too many reports"


def _throttle_reports(user) -> None:
    """At most REPORTS_PER_HOUR reports per person, in the browser and the API together."""
    from django.core.cache import cache

    key = f"reports:{user.pk}"
    cache.add(key, 0, timeout=3600)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=3600)
        count = 1
    if count > REPORTS_PER_HOUR:
        raise ReportsThrottled(
            "You have sent many reports in the last hour; please wait before sending more."
        )


def create_report(*, reporter, workspace, target_type: str, target_id: str, reason, details=""):
    """Report a result or an upload the reporter can see; one open report per target."""
    from django.db import IntegrityError

    from bananasite.errors import NotFound

    from .models import Report

    _throttle_reports(reporter)  # counts every attempt, so probing ids costs the same
    if target_type == Report.TargetType.RESULT:
        target = Result.objects.filter(
            public_id=target_id, composition__workspace=workspace
        ).first()
    else:
        target = Upload.objects.filter(public_id=target_id, workspace=workspace).first()
    if target is None:
        raise NotFound("There is no such result or upload in this workspace.")
    try:
        with transaction.atomic():
            return Report.objects.create(
                reporter=reporter,
                workspace=workspace,
                target_type=target_type,
                result=target if target_type == Report.TargetType.RESULT else None,
                upload=target if target_type == Report.TargetType.UPLOAD else None,
                reason=reason,
                details=details.strip()[:2000],
            )
    except IntegrityError:
        raise InvalidState(
            "You already have an open report about this; moderators will look at it.",
            code="report_exists",
        ) from None
