"""A workspace's data leaving us: its export as one ZIP, and an account's deletion with the
workspaces that go with it. Retention itself (the scheduled purge) is compositions' own
(`compositions.services.purge_expired_compositions`); its setting is the workspace's
(`accounts.services.set_retention`)."""

import json
import logging
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.mail import send_mail
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.db.models import ForeignObjectRel, ProtectedError
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import Membership, User, Workspace
from accounts.services import require_manager, transfer_ownership
from bananasite.errors import AppError, InvalidState
from bananasite.files import delete_files, extension_for
from bananasite.tasks import enqueue_on_commit
from billing.models import LedgerEntry, Wallet
from compositions.models import Composition, Result, Upload
from compositions.services import delete_composition
from moderation.models import AuditEntry
from references.models import Reference

from .models import Export

logger = logging.getLogger(__name__)

CHUNK = 1024 * 1024  # files are copied into the ZIP and out of storage a megabyte at a time

# --- Exports ----------------------------------------------------------------------------------


def request_export(
    *, user: User, workspace: Workspace, page_url: str = "", language: str = ""
) -> Export:
    """Ask for the workspace's export; it is built in the background (`tasks.build_export`).
    `language` is the one the person asked in: the mail that says it is ready is in it."""
    require_manager(user=user, workspace=workspace)
    with transaction.atomic():
        # The workspace row serialises requests, so two clicks cannot start two builds.
        Workspace.objects.select_for_update().only("pk").get(pk=workspace.pk)
        if Export.objects.filter(workspace=workspace, status__in=Export.UNFINISHED).exists():
            raise InvalidState(
                _("An export of this workspace is already being built."),
                code="export_in_progress",
            )
        export = Export.objects.create(
            workspace=workspace, requested_by=user, page_url=page_url, language=language
        )
        enqueue_on_commit("privacy.tasks.build_export", export.pk, group="exports")
    return export


def _iso(moment) -> str | None:
    return moment.isoformat() if moment else None


def _copy_into(archive: zipfile.ZipFile, name: str | None, arcname: str) -> str | None:
    """Copy one stored file into the archive, in chunks; None when storage no longer has it."""
    if not name:
        return None
    try:
        with default_storage.open(name, "rb") as src, archive.open(arcname, "w") as dst:
            shutil.copyfileobj(src, dst, CHUNK)
    except FileNotFoundError:
        logger.warning("Export: stored file %s is missing", name)
        return None
    return arcname


def _write_json(archive: zipfile.ZipFile, arcname: str, data: Any) -> None:
    archive.writestr(
        arcname,
        json.dumps(data, indent=2, cls=DjangoJSONEncoder, ensure_ascii=False),
        compress_type=zipfile.ZIP_DEFLATED,
    )


def _upload_record(archive: zipfile.ZipFile, upload: Upload) -> dict[str, Any]:
    ext = extension_for(upload.content_type, "bin")
    return {
        "id": upload.public_id,
        "original_name": upload.original_name,
        "source": upload.source,
        "width": upload.width,
        "height": upload.height,
        "content_type": upload.content_type,
        "bytes": upload.bytes,
        "sha256": upload.sha256,
        "status": upload.status,
        "created_at": _iso(upload.created_at),
        "file": _copy_into(archive, upload.file.name, f"uploads/{upload.public_id}.{ext}"),
    }


def _result_record(archive: zipfile.ZipFile, composition: Composition, result: Result) -> dict:
    folder = f"results/{composition.public_id}"
    return {
        "id": result.public_id,
        "position": result.position,
        "width": result.width,
        "height": result.height,
        "content_type": result.content_type,
        "bytes": result.bytes,
        "sha256": result.sha256,
        "created_at": _iso(result.created_at),
        "file": _copy_into(
            archive, result.file.name, f"{folder}/{result.public_id}.{result.extension}"
        ),
    }


def _composition_record(archive: zipfile.ZipFile, composition: Composition) -> dict[str, Any]:
    return {
        "id": composition.public_id,
        "status": composition.status,
        "prompt": composition.prompt,
        "preset": composition.preset,
        "style": composition.style,
        "model": composition.model,
        "provider": composition.provider,
        "aspect_ratio": composition.aspect_ratio,
        "image_size": composition.image_size,
        "num_images": composition.num_images,
        "model_options": composition.model_options,
        "priority": composition.priority,
        "origin": composition.origin,
        "parent": composition.parent.public_id if composition.parent else None,
        "created_by": composition.created_by.email if composition.created_by else None,
        "text": composition.text,
        "error": {"code": composition.error_code, "message": composition.error_message}
        if composition.error_code
        else None,
        "credits": {
            "reserved": composition.credits_reserved,
            "charged": composition.credits_charged,
            "refunded": composition.credits_refunded,
        },
        "created_at": _iso(composition.created_at),
        "finished_at": _iso(composition.finished_at),
        "expires_at": _iso(composition.expires_at()),
        "inputs": [
            {"upload": i.upload.public_id, "position": i.position, "role": i.role}
            for i in composition.inputs.all()
        ],
        "results": [_result_record(archive, composition, r) for r in composition.results.all()],
    }


def _ledger_record(entry: LedgerEntry) -> dict[str, Any]:
    return {
        "kind": entry.kind,
        "amount": entry.amount,
        "composition": entry.composition_ref or None,
        "images": entry.images,
        "outcome": entry.outcome or None,
        "reason": entry.reason,
        "created_by": entry.created_by.email if entry.created_by else None,
        "created_at": _iso(entry.created_at),
    }


def write_archive(*, workspace: Workspace, fileobj) -> None:
    """The workspace's data as a ZIP written to `fileobj`: workspace.json, compositions.json,
    uploads.json, ledger.json and the files under uploads/ and results/. Images are stored
    as they are (already compressed), each copied in chunks, never whole in memory."""
    with zipfile.ZipFile(fileobj, "w", compression=zipfile.ZIP_STORED) as archive:
        uploads = Upload.objects.filter(workspace=workspace).order_by("created_at", "id")
        _write_json(
            archive, "uploads.json", [_upload_record(archive, u) for u in uploads.iterator()]
        )
        compositions = (
            Composition.objects.filter(workspace=workspace)
            .select_related("parent", "created_by", "workspace")
            .prefetch_related("inputs__upload", "results")
            .order_by("created_at", "id")
        )
        _write_json(
            archive,
            "compositions.json",
            [_composition_record(archive, c) for c in compositions.iterator(chunk_size=100)],
        )
        wallet = Wallet.objects.filter(workspace=workspace).select_related("plan").first()
        entries = (
            LedgerEntry.objects.filter(wallet=wallet).select_related("created_by").order_by("id")
            if wallet
            else LedgerEntry.objects.none()
        )
        _write_json(
            archive,
            "ledger.json",
            {
                "balance": wallet.balance if wallet else 0,
                "plan": wallet.plan.code if wallet else None,
                "entries": [_ledger_record(e) for e in entries.iterator()],
            },
        )
        _write_json(
            archive,
            "workspace.json",
            {
                "id": workspace.public_id,
                "slug": workspace.slug,
                "name": workspace.name,
                "kind": workspace.kind,
                "retention_days": workspace.retention_days,
                "members": [
                    {"email": m.user.email, "role": m.role}
                    for m in Membership.objects.filter(workspace=workspace).select_related("user")
                ],
                "exported_at": _iso(timezone.now()),
            },
        )


def build_export(*, export_id: int) -> str:
    """Build a requested export into storage; safe to run twice (the first claims it)."""
    if not Export.objects.filter(pk=export_id, status=Export.Status.PENDING).update(
        status=Export.Status.BUILDING
    ):
        return "not pending"
    export = Export.objects.select_related("workspace", "requested_by").get(pk=export_id)
    stored = ""
    try:
        # On disk, not in memory: a workspace's files may be gigabytes. Storage reads the
        # finished file in chunks (S3: a multipart upload).
        with tempfile.TemporaryFile(suffix=".zip") as spool:
            write_archive(workspace=export.workspace, fileobj=spool)
            size = spool.tell()
            spool.seek(0)
            stored = default_storage.save(
                export.file.field.generate_filename(export, export.download_name), File(spool)
            )
        now = timezone.now()
        done = Export.objects.filter(pk=export_id, status=Export.Status.BUILDING).update(
            status=Export.Status.READY,
            file=stored,
            bytes=size,
            ready_at=now,
            expires_at=now + timedelta(hours=settings.BANANASITE_EXPORT_HOURS),
        )
    except Exception:
        logger.exception("Export %s could not be built", export.public_id)
        delete_files([stored])
        Export.objects.filter(pk=export_id, status=Export.Status.BUILDING).update(
            status=Export.Status.FAILED
        )
        return "failed"
    if not done:  # the export was withdrawn while it was built
        delete_files([stored])
        return "gone"
    _mail_ready(export)
    return "ready"


def _mail_ready(export: Export) -> None:
    person = export.requested_by
    if person is None:
        return
    # The task has no request: the mail is in the language the export was asked for in.
    with translation.override(export.language or settings.LANGUAGE_CODE):
        where = export.page_url or _("the workspace page")
        send_mail(
            _("Your bananasite export is ready"),
            _(
                "The export of %(workspace)s is ready. Download it from %(where)s within "
                "%(hours)d hours; it can be downloaded once."
            )
            % {
                "workspace": export.workspace.name,
                "where": where,
                "hours": settings.BANANASITE_EXPORT_HOURS,
            },
            None,
            [person.email],
        )


def take_download(*, export: Export) -> str:
    """Claim the one download of a ready, unexpired export; its stored name, or NotFound-like
    InvalidState when it was downloaded already or has expired."""
    now = timezone.now()
    taken = Export.objects.filter(
        pk=export.pk, status=Export.Status.READY, expires_at__gt=now
    ).update(status=Export.Status.DOWNLOADED, downloaded_at=now)
    if not taken:
        raise InvalidState(_("This export has been downloaded or has expired."), code="gone")
    return export.file.name or ""


def stream_then_delete(export: Export, name: str) -> Iterator[bytes]:
    """The export's bytes, read in chunks; once sent (or the client went away) the file is
    deleted from storage: it can be downloaded once."""
    try:
        with default_storage.open(name, "rb") as src:
            while chunk := src.read(CHUNK):
                yield chunk
    finally:
        delete_files([name])
        Export.objects.filter(pk=export.pk).update(file="")


def purge_exports(*, now=None) -> int:
    """Scheduled hourly: expired exports lose their file; a downloaded one whose stream was
    never finished too; a build whose worker died an hour ago is marked failed."""
    now = now or timezone.now()
    gone = 0
    stale = Export.objects.filter(
        models.Q(status=Export.Status.READY, expires_at__lte=now)
        # A download streams and deletes the file as it ends; one never finished is removed
        # once the link has expired, never while a stream may still be reading it.
        | models.Q(status=Export.Status.DOWNLOADED, expires_at__lte=now)
    ).exclude(file="")
    for export in stale:
        delete_files([export.file.name])
        Export.objects.filter(pk=export.pk).update(
            file="",
            status=Export.Status.EXPIRED
            if export.status == Export.Status.READY
            else Export.Status.DOWNLOADED,
        )
        gone += 1
    Export.objects.filter(
        status__in=Export.UNFINISHED, created_at__lt=now - timedelta(hours=1)
    ).update(status=Export.Status.FAILED)
    return gone


# --- Deleting an account ----------------------------------------------------------------------


class AccountNotDeleted(AppError):
    code = "account_not_deleted"
    status = 400


def teams_needing_owner(*, user: User) -> list[Workspace]:
    """Teams the person owns that have other members: each needs a new owner first."""
    return list(
        Workspace.objects.filter(
            kind=Workspace.Kind.TEAM,
            memberships__user=user,
            memberships__role=Membership.Role.OWNER,
        )
        .filter(memberships__user__in=User.objects.exclude(pk=user.pk))
        .distinct()
        .order_by("name")
    )


def teams_owned_alone(*, user: User) -> list[Workspace]:
    """Teams the person owns with no one else in them: they are deleted with the account."""
    shared = {w.pk for w in teams_needing_owner(user=user)}
    owned = Workspace.objects.filter(
        kind=Workspace.Kind.TEAM, memberships__user=user, memberships__role=Membership.Role.OWNER
    ).order_by("name")
    return [w for w in owned if w.pk not in shared]


def close_workspace(*, workspace: Workspace) -> None:
    """Delete everything a workspace holds (compositions, their files, uploads, exports and
    every other app's rows) but keep the row itself, anonymised: its wallet's ledger stays,
    as money rows must (LedgerEntry.wallet is PROTECT)."""
    for composition in Composition.objects.filter(workspace=workspace).order_by("-pk"):
        delete_composition(composition=composition)  # cancels one still running, files too
    # Saved references hold their images (ReferenceImage.upload is PROTECT): they go first.
    Reference.objects.filter(workspace=workspace).delete()
    uploads = list(Upload.all_objects.filter(workspace=workspace))
    names: list[str | None] = [n for u in uploads for n in u.stored_names()]
    names += [e.file.name for e in Export.objects.filter(workspace=workspace)]
    Upload.all_objects.filter(pk__in=[u.pk for u in uploads]).delete()
    # Every other app's rows that hang off the workspace (memberships, tokens, webhooks,
    # collections, share links, Idempotency-Keys...), found from the model's relations so a
    # new app's rows are not forgotten; the wallet is the one thing kept.
    relations = [
        f
        for f in Workspace._meta.get_fields(include_hidden=True)
        if isinstance(f, ForeignObjectRel) and (f.one_to_many or f.one_to_one)
    ]
    for relation in relations:
        model = relation.related_model
        if model is Wallet or not isinstance(model, type):
            continue
        rows = model._base_manager.filter(**{relation.field.name: workspace})
        if relation.on_delete is models.SET_NULL:
            rows.update(**{relation.field.name: None})
        else:
            rows.delete()
    Workspace.objects.filter(pk=workspace.pk).update(
        name=_("Deleted workspace"),
        slug=f"deleted-{workspace.public_id.lower().replace('_', '-')}",
        retention_days=None,
        closed_at=timezone.now(),
    )
    transaction.on_commit(lambda: delete_files(names))


def delete_account(
    *, user: User, password: str, new_owners: dict[int, User] | None = None
) -> list[str]:
    """Delete a person's account: their personal workspace and the teams they own alone (all
    content and files), their memberships; a team they own with other members passes to the
    member chosen in `new_owners` (team pk → member), or nothing happens and the error names
    the teams. Ledger rows stay (closed workspaces keep their wallets; `created_by` empties).
    Returns the names of the teams handed over."""
    if not user.has_usable_password() or not check_password(password, user.password):
        raise AccountNotDeleted(_("That is not your password."), field="password")
    if AuditEntry.objects.filter(actor=user).exists():
        raise AccountNotDeleted(
            _(
                "Your account took moderation actions, which the audit log keeps; ask an "
                "administrator to deactivate it instead."
            )
        )
    new_owners = new_owners or {}
    with transaction.atomic():
        handed: list[str] = []
        missing = []
        for team in teams_needing_owner(user=user):
            heir = new_owners.get(team.pk)
            if heir is None or heir.pk == user.pk:
                missing.append(team.name)
                continue
            transfer_ownership(owner=user, workspace=team, new_owner=heir)
            handed.append(team.name)
        if missing:
            raise AccountNotDeleted(
                _(
                    "You own teams with other members: %(teams)s. Choose a new owner for each "
                    "before deleting your account."
                )
                % {"teams": ", ".join(missing)},
                code="teams_need_owner",
                field="owners",
            )
        # What the person still owns now: their personal workspace and the teams with no one
        # else in them.
        for workspace in Workspace.objects.filter(
            memberships__user=user, memberships__role=Membership.Role.OWNER
        ):
            close_workspace(workspace=workspace)
        try:
            user.delete()  # memberships, tokens, favourites and sessions' owner go with it
        except ProtectedError:
            raise AccountNotDeleted(
                _("This account is referenced by records that must be kept; ask an administrator.")
            ) from None
    return handed
