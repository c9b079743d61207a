"""Moderator actions. Each one is a single transaction that also writes its audit entry, so
an action and its record cannot be separated; files leave storage only after the commit."""

import io
import logging

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from PIL import Image

from accounts.models import ApiToken, User, Workspace
from bananasite.errors import AppError, InvalidState, NotFound
from bananasite.files import delete_files
from compositions.images import perceptual_hash
from compositions.lifecycle import (
    cancel_composition,
    fail_composition,
    release_held_composition,
)
from compositions.models import Composition, Result, Upload

from .models import AuditEntry, BlockedHash, Report

logger = logging.getLogger(__name__)

# Stored on the composition in English; the pages translate them on display.
REMOVED_INPUT_MESSAGE = gettext_noop(
    "A photo in this composition was removed by a moderator. Nothing was charged."
)
REJECTED_MESSAGE = gettext_noop(
    "A moderator did not approve this composition. Nothing was charged."
)


class ReasonRequired(AppError):
    code = "reason_required"


def _audit(*, actor, action, target_type, target_id, reason, **details) -> AuditEntry:
    return AuditEntry.objects.create(
        actor=actor,
        actor_email=actor.email,
        action=action,
        target_type=target_type,
        target_id=target_id,
        reason=reason,
        details=details,
    )


def _require(reason: str, message: str) -> str:
    """The reason, stripped; `message` (which says why it is needed) when there is none."""
    reason = (reason or "").strip()
    if not reason:
        raise ReasonRequired(message)
    return reason


def target_type_of(target: Result | Upload) -> str:
    return Report.TargetType.RESULT if isinstance(target, Result) else Report.TargetType.UPLOAD


def owner_of(target: Result | Upload | Composition) -> User | None:
    """The account behind reported content or a held composition."""
    if isinstance(target, Result):
        return target.composition.created_by
    if isinstance(target, Upload):
        return target.uploaded_by
    return target.created_by


def open_reports(target: Result | Upload) -> QuerySet[Report]:
    field = "result" if isinstance(target, Result) else "upload"
    return Report.objects.filter(status=Report.Status.OPEN, **{field: target})


def _close_reports(target, status) -> int:
    return open_reports(target).update(status=status, resolved_at=timezone.now())


def dismiss_reports(*, target: Result | Upload, actor: User, reason: str = "") -> int:
    """Close the open reports about a result or an upload: nothing wrong with it."""
    with transaction.atomic():
        closed = _close_reports(target, Report.Status.DISMISSED)
        if not closed:  # someone else acted on it first (or a double submit)
            raise InvalidState(_("There are no open reports about this any more."))
        _audit(
            actor=actor,
            action=AuditEntry.Action.DISMISS,
            target_type=target_type_of(target),
            target_id=target.public_id,
            reason=reason.strip() or "No reason given.",
            reports=closed,
        )
    return closed


def _hash_of(target) -> str:
    if target.phash:
        return target.phash
    try:  # stored before hashes existed: hash the file while it is still there
        with target.file.open("rb") as fh:
            img = Image.open(io.BytesIO(fh.read()))
            img.load()
        return perceptual_hash(img.convert("RGBA"))
    except Exception:
        logger.exception("Could not hash %s before removing it", target.public_id)
        return ""


def _take_down(item, *, now) -> list[str]:
    """Mark one result or upload removed, fail work that needs it; the file names to delete."""
    model = type(item)
    if not model.all_objects.filter(pk=item.pk, removed_at__isnull=True).update(removed_at=now):
        return []
    if isinstance(item, Upload):
        waiting = Composition.objects.filter(
            inputs__upload=item, status__in=Composition.UNFINISHED
        ).distinct()
        for composition in waiting:
            fail_composition(
                composition=composition, code="input_rejected", message=REMOVED_INPUT_MESSAGE
            )
    _close_reports(item, Report.Status.ACTIONED)
    if isinstance(item, Upload):
        return item.stored_names()
    return [item.file.name, item.thumbnail.name]


def remove_content(*, target: Result | Upload, actor: User, reason: str) -> list[str]:
    """Take a result or an upload down: it disappears from every history and the API, its
    file leaves storage, its likeness goes on the blocklist. Byte-for-byte copies (a result
    reused as an input) go with it. Returns the public ids removed."""
    reason = _require(reason, _("Say why you remove this; the reason goes in the audit log."))
    phash = _hash_of(target)
    now = timezone.now()
    with transaction.atomic():
        copies: list[Result | Upload] = [
            *Result.objects.filter(sha256=target.sha256),
            *Upload.objects.filter(sha256=target.sha256),
        ]
        if isinstance(target, Result) and target.source_sha256:
            # The same picture made again is not byte-identical once signed (each signature
            # differs), so results are also matched on the provider's bytes.
            copies += Result.objects.filter(source_sha256=target.source_sha256)
        items = [target]
        for copy in copies:  # same model and pk: the same row (the target, or matched twice)
            if copy not in items:
                items.append(copy)
        names, removed = [], []
        for item in items:
            gone = _take_down(item, now=now)
            if gone:
                names += gone
                removed.append(item.public_id)
        if not removed:
            raise InvalidState(_("This has already been removed."))
        if phash:
            BlockedHash.objects.create(
                phash=phash,
                sha256=target.sha256,
                source=target.public_id,
                reason=reason,
                added_by=actor,
            )
        _audit(
            actor=actor,
            action=AuditEntry.Action.REMOVE,
            target_type=target_type_of(target),
            target_id=target.public_id,
            reason=reason,
            removed=removed,
            phash=phash,
            owner=getattr(owner_of(target), "email", None),
        )
        transaction.on_commit(lambda: delete_files(names))
    return removed


def suspend_account(*, user: User, actor: User, reason: str) -> dict:
    """Sign the person out everywhere, revoke their tokens, cancel (and release) their
    unfinished compositions, and refuse their logins with a clear message."""
    reason = _require(
        reason, _("Say why you suspend this account; the reason goes in the audit log.")
    )
    if user.pk == actor.pk:
        raise InvalidState(_("You cannot suspend your own account."))
    if user.is_staff or user.is_superuser:
        raise InvalidState(
            _("Staff accounts are suspended by an administrator, not from the queue.")
        )
    now = timezone.now()
    with transaction.atomic():
        suspended = User.objects.filter(pk=user.pk, suspended_at__isnull=True).update(
            suspended_at=now,
            suspension_reason=reason,
            is_active=False,
            session_epoch=F("session_epoch") + 1,  # every session's auth hash changes
        )
        if not suspended:
            raise InvalidState(_("%(email)s is already suspended.") % {"email": user.email})
        tokens = ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=now)
        canceled = []
        unfinished = Composition.objects.filter(
            created_by=user, status__in=Composition.UNFINISHED
        ).order_by("created_at")
        for composition in unfinished:
            try:
                cancel_composition(composition=composition)
            except InvalidState:
                continue  # it finished meanwhile
            canceled.append(composition.public_id)
        _audit(
            actor=actor,
            action=AuditEntry.Action.SUSPEND,
            target_type="account",
            target_id=user.email,
            reason=reason,
            tokens_revoked=tokens,
            compositions_canceled=canceled,
        )
    user.refresh_from_db()
    return {"tokens_revoked": tokens, "compositions_canceled": canceled}


def restore_account(*, user: User, actor: User, reason: str = "") -> None:
    """Lift a suspension: the person can sign in again (and create new tokens)."""
    with transaction.atomic():
        if not User.objects.filter(pk=user.pk, suspended_at__isnull=False).update(
            suspended_at=None, suspension_reason="", is_active=True
        ):
            raise InvalidState(_("%(email)s is not suspended.") % {"email": user.email})
        _audit(
            actor=actor,
            action=AuditEntry.Action.RESTORE,
            target_type="account",
            target_id=user.email,
            reason=reason.strip() or "No reason given.",
        )
    user.refresh_from_db()


def _held_uploads(composition: Composition) -> QuerySet[Upload]:
    return Upload.objects.filter(uses__composition=composition, status=Upload.Status.HELD)


def approve_composition(*, composition: Composition, actor: User, reason: str = "") -> None:
    """A held composition may run: it joins its workspace's queue."""
    with transaction.atomic():
        if not release_held_composition(composition=composition):
            raise InvalidState(
                _("%(public_id)s is no longer held.") % {"public_id": composition.public_id}
            )
        Upload.objects.filter(pk__in=_held_uploads(composition).values("pk")).update(
            status=Upload.Status.READY
        )
        _audit(
            actor=actor,
            action=AuditEntry.Action.APPROVE,
            target_type="composition",
            target_id=composition.public_id,
            reason=reason.strip() or "No reason given.",
            held_reason=composition.held_reason,
        )


def reject_composition(*, composition: Composition, actor: User, reason: str) -> None:
    """A held composition will not run: it fails, its credits are released in full, and the
    photos that made it wait cannot be used again."""
    reason = _require(reason, _("Say why you reject this; the reason goes in the audit log."))
    with transaction.atomic():
        if not fail_composition(
            composition=composition,
            code="moderation_rejected",
            message=REJECTED_MESSAGE,
            from_statuses=[Composition.Status.HELD],
        ):
            raise InvalidState(
                _("%(public_id)s is no longer held.") % {"public_id": composition.public_id}
            )
        Upload.objects.filter(pk__in=_held_uploads(composition).values("pk")).update(
            status=Upload.Status.REJECTED
        )
        _audit(
            actor=actor,
            action=AuditEntry.Action.REJECT,
            target_type="composition",
            target_id=composition.public_id,
            reason=reason,
            held_reason=composition.held_reason,
        )


# --- Reports -------------------------------------------------------------------------------------

REPORTS_PER_HOUR = 20


class ReportsThrottled(AppError):
    code = "rate_limited"
    status = 429


def _throttle_reports(user: User) -> None:
    """At most REPORTS_PER_HOUR reports per person, in the browser and the API together."""
    key = f"reports:{user.pk}"
    cache.add(key, 0, timeout=3600)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=3600)
        count = 1
    if count > REPORTS_PER_HOUR:
        raise ReportsThrottled(
            _("You have sent many reports in the last hour; please wait before sending more.")
        )


def create_report(
    *,
    reporter: User,
    workspace: Workspace,
    target_type: str,
    target_id: str,
    reason: str,
    details: str = "",
) -> Report:
    """Report a result or an upload the reporter can see; one open report per target."""
    _throttle_reports(reporter)  # counts every attempt, so probing ids costs the same
    result = upload = None
    if target_type == Report.TargetType.RESULT:
        result = Result.objects.filter(
            public_id=target_id, composition__workspace=workspace
        ).first()
    else:
        upload = Upload.objects.filter(public_id=target_id, workspace=workspace).first()
    if result is None and upload is None:
        raise NotFound(_("There is no such result or upload in this workspace."))
    try:
        with transaction.atomic():
            return Report.objects.create(
                reporter=reporter,
                workspace=workspace,
                target_type=target_type,
                result=result,
                upload=upload,
                reason=reason,
                details=details.strip()[:2000],
            )
    except IntegrityError:
        raise InvalidState(
            _("You already have an open report about this; moderators will look at it."),
            code="report_exists",
        ) from None
