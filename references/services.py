"""Work on saved references: creating one (its photos sanitised and moderated like any
upload, a person's consent recorded), new versions when its images change, notes, deletion,
withdrawing consent and purging a person's images when the consent ends."""

import logging
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User, Workspace
from bananasite.errors import InvalidState, ValidationFailed
from bananasite.files import delete_files
from compositions.models import Role, Upload
from compositions.options import NewImage, Problem
from compositions.services import store_new_uploads

from .models import Reference, ReferenceConsent, ReferenceImage, ReferenceVersion

logger = logging.getLogger(__name__)

# The role a reference's images play by default, from its kind.
ROLE_FOR_KIND = {
    Reference.Kind.CHARACTER: Role.SUBJECT,
    Reference.Kind.PRODUCT: Role.PRODUCT,
    Reference.Kind.LOGO: Role.LOGO,
    Reference.Kind.STYLE: Role.STYLE,
    Reference.Kind.PLACE: Role.BACKGROUND,
}


def end_of_day(day: date) -> datetime:
    """A consent "until" a date holds through that whole day (UTC)."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


def _image_problems(images: list[NewImage], roles: list[str], *, have: int = 0) -> list[Problem]:
    errors: list[Problem] = []
    if not images and not have:
        errors.append(("images", "too_few_images", _("Add at least one image.")))
    # At most what one composition takes, so a reference always fits in one.
    most = settings.BANANASITE_MAX_INPUT_IMAGES
    if have + len(images) > most:
        errors.append(
            (
                "images",
                "too_many_images",
                _("A reference holds at most %(n)d images.") % {"n": most},
            )
        )
    for role in roles:
        if role and role not in Role.values:
            errors.append(
                ("roles", "invalid_request", _("“%(role)s” is not a role.") % {"role": role})
            )
    return errors


def _consent_problems(
    *, depicts_person: bool, consent: bool, consent_until: datetime | None
) -> list[Problem]:
    if not depicts_person:
        return []
    errors: list[Problem] = []
    if not consent:
        errors.append(
            (
                "consent",
                "consent_required",
                _(
                    "A reference of a real person needs your statement that they agreed to "
                    "this use."
                ),
            )
        )
    if consent_until is None:
        errors.append(
            ("consent_until", "consent_until_required", _("Say until when the consent holds."))
        )
    elif consent_until <= timezone.now():
        errors.append(
            ("consent_until", "consent_until_past", _("The consent must hold into the future."))
        )
    return errors


def _add_images(
    *,
    version: ReferenceVersion,
    uploads: list[Upload],
    roles: list[str],
    notes: list[str],
    start: int,
    kind: str,
) -> None:
    """Save the uploads as images from position `start`; a role not given is the kind's."""
    for offset, upload in enumerate(uploads):
        upload.save()
        ReferenceImage.objects.create(
            version=version,
            upload=upload,
            position=start + offset,
            role=(roles[offset] if offset < len(roles) else "")
            or ROLE_FOR_KIND.get(Reference.Kind(kind), Role.OTHER),
            note=(notes[offset] if offset < len(notes) else "")[:300],
        )


def create_reference(
    *,
    workspace: Workspace,
    user: User | None,
    name: str,
    kind: str,
    images: list[NewImage],
    roles: list[str] | None = None,
    image_notes: list[str] | None = None,
    notes: str = "",
    depicts_person: bool = False,
    consent: bool = False,
    consent_until: datetime | None = None,
) -> Reference:
    """A new reference with its first version; all of it or nothing (no files left behind)."""
    roles, image_notes = list(roles or []), list(image_notes or [])
    name = name.strip()
    errors: list[Problem] = []
    if not name:
        errors.append(("name", "invalid_request", _("Give the reference a name.")))
    if kind not in Reference.Kind.values:
        errors.append(("kind", "invalid_request", _("Choose what kind of reference this is.")))
    errors += _image_problems(images, roles)
    errors += _consent_problems(
        depicts_person=depicts_person, consent=consent, consent_until=consent_until
    )
    if errors:
        raise ValidationFailed(errors)
    uploads, saved = store_new_uploads(workspace=workspace, user=user, images=images)
    try:
        with transaction.atomic():
            reference = Reference.objects.create(
                workspace=workspace,
                created_by=user,
                name=name[:120],
                kind=kind,
                notes=notes.strip()[:2000],
                depicts_person=depicts_person,
            )
            version = ReferenceVersion.objects.create(
                reference=reference, number=1, created_by=user
            )
            _add_images(
                version=version, uploads=uploads, roles=roles, notes=image_notes, start=1, kind=kind
            )
            if depicts_person:
                assert consent_until is not None
                ReferenceConsent.objects.create(
                    reference=reference,
                    workspace=workspace,
                    attested_by=user,
                    attested_by_email=getattr(user, "email", "") or "",
                    valid_until=consent_until,
                )
    except BaseException:
        delete_files(saved)
        raise
    return reference


def _next_version(*, reference: Reference, user: User | None) -> tuple[Reference, ReferenceVersion]:
    """Lock the reference, check it may still change, and open its next version (empty)."""
    locked = (
        Reference.objects.select_for_update(of=("self",))
        .select_related("consent")
        .get(pk=reference.pk)
    )
    locked.check_usable()
    version = ReferenceVersion.objects.create(
        reference=locked, number=locked.version + 1, created_by=user
    )
    Reference.objects.filter(pk=locked.pk).update(version=version.number, updated_at=timezone.now())
    locked.version = version.number
    return locked, version


def add_reference_images(
    *,
    reference: Reference,
    user: User | None,
    images: list[NewImage],
    roles: list[str] | None = None,
    image_notes: list[str] | None = None,
) -> Reference:
    """A new version: the current images and these after them."""
    roles = list(roles or [])
    reference.check_usable()
    current = list(reference.current_version().images.select_related("upload"))
    errors = _image_problems(images, roles, have=len(current))
    if not images:
        errors.append(("images", "too_few_images", _("Choose at least one image to add.")))
    if errors:
        raise ValidationFailed(errors)
    uploads, saved = store_new_uploads(workspace=reference.workspace, user=user, images=images)
    try:
        with transaction.atomic():
            locked, version = _next_version(reference=reference, user=user)
            kept = list(
                ReferenceImage.objects.filter(
                    version__reference=locked, version__number=version.number - 1
                )
            )
            _copy_images(version=version, images=kept)
            _add_images(
                version=version,
                uploads=uploads,
                roles=roles,
                notes=list(image_notes or []),
                start=len(kept) + 1,
                kind=locked.kind,
            )
    except BaseException:
        delete_files(saved)
        raise
    return locked


def _copy_images(*, version: ReferenceVersion, images: list[ReferenceImage]) -> None:
    ReferenceImage.objects.bulk_create(
        ReferenceImage(
            version=version, upload_id=image.upload_id, position=n, role=image.role, note=image.note
        )
        for n, image in enumerate(images, start=1)
    )


def remove_reference_image(*, reference: Reference, user: User | None, position: int) -> Reference:
    """A new version without image `position`. The image itself stays while an earlier
    version or a composition names it; the last image cannot go (delete the reference)."""
    with transaction.atomic():
        previous = reference.current_version()
        images = list(previous.images.all())
        if not any(image.position == position for image in images):
            raise ValidationFailed([("position", "not_found", _("There is no such image."))])
        if len(images) == 1:
            raise InvalidState(
                _("A reference keeps at least one image; delete the reference instead."),
                code="reference_last_image",
            )
        locked, version = _next_version(reference=reference, user=user)
        _copy_images(version=version, images=[i for i in images if i.position != position])
    return locked


def update_reference(*, reference: Reference, name: str, notes: str) -> Reference:
    """Name and notes: no new version (the images are what compositions use)."""
    name = name.strip()
    if not name:
        raise ValidationFailed([("name", "invalid_request", _("Give the reference a name."))])
    Reference.objects.filter(pk=reference.pk).update(
        name=name[:120], notes=notes.strip()[:2000], updated_at=timezone.now()
    )
    reference.refresh_from_db()
    return reference


def _upload_ids(reference: Reference) -> list[int]:
    return list(
        ReferenceImage.objects.filter(version__reference=reference)
        .values_list("upload_id", flat=True)
        .distinct()
    )


def delete_reference(*, reference: Reference) -> None:
    """Take a reference out of the library, with the images no composition used. Compositions
    that used it keep their inputs and results (their record of the version is cleared)."""
    with transaction.atomic():
        upload_ids = _upload_ids(reference)
        reference.delete()  # its versions, images and consent record go with it
        orphans = Upload.all_objects.filter(
            id__in=upload_ids, uses__isnull=True, reference_images__isnull=True
        )
        names = [n for u in orphans for n in u.stored_names()]
        orphans.delete()
        # Files go only once the rows are gone for good; a rollback keeps both.
        transaction.on_commit(lambda: delete_files(names))


def withdraw_consent(*, reference: Reference, user: User | None) -> Reference:
    """The person withdrew their consent: the reference can no longer be used, and its images
    are deleted from storage now (the inputs of compositions made with them too; their
    results stay)."""
    if not reference.depicts_person:
        raise InvalidState(_("Only a reference of a person has a consent to withdraw."))
    updated = ReferenceConsent.objects.filter(
        reference=reference, withdrawn_at__isnull=True
    ).update(withdrawn_at=timezone.now(), withdrawn_by=user)
    if not updated and reference.purged_at is not None:
        raise InvalidState(_("The consent for this reference already ended."))
    purge_reference(reference_id=reference.pk)
    reference.refresh_from_db()
    return reference


def purge_reference(*, reference_id: int) -> bool:
    """Delete a lapsed person's images from storage; safe to run twice (the first claims it).

    The upload rows stay, marked removed (`removed_at`), so compositions that used them show
    the input as gone and cannot be varied; their results are kept."""
    now = timezone.now()
    with transaction.atomic():
        claimed = Reference.objects.lapsed().filter(pk=reference_id).update(purged_at=now)
        if not claimed:
            return False
        uploads = Upload.all_objects.filter(id__in=_upload_ids(Reference(pk=reference_id)))
        names = [n for u in uploads for n in u.stored_names()]
        uploads.filter(removed_at__isnull=True).update(removed_at=now)
        transaction.on_commit(lambda: delete_files(names))
    logger.info("Purged the images of reference %s (consent ended)", reference_id)
    return True


def purge_lapsed_references() -> int:
    """Scheduled: every person whose consent expired or was withdrawn loses their images."""
    purged = 0
    for reference_id in Reference.objects.lapsed().values_list("pk", flat=True).iterator():
        purged += purge_reference(reference_id=reference_id)
    return purged
