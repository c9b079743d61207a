"""A workspace's library of saved references: named sets of images (a character, a product, a
logo, a style, a place), versioned, and for a real person a consent record.

This module is the lower half of the app (see docs/architecture.md): compositions read it at
submit to turn `{"reference": "ref_..."}` into images, so it imports no app. A reference's
images are `compositions.Upload` rows, named here by string, so they get the same sanitising,
moderation, file serving and removal as every other photo."""

from django.conf import settings
from django.db import models
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bananasite.errors import AppError
from bananasite.ids import PublicId


class ReferenceUnusable(AppError):
    """The reference exists but may not be used (its person's consent lapsed or was withdrawn)."""

    status = 409


class ReferenceQuerySet(models.QuerySet["Reference"]):
    def visible_to(self, workspace):
        return self.filter(workspace=workspace)

    def search(self, text: str):
        """Name or notes (the reference's or an image's) containing `text`."""
        text = text.strip()
        if not text:
            return self
        return self.filter(
            Q(name__icontains=text)
            | Q(notes__icontains=text)
            | Q(versions__images__note__icontains=text)
        ).distinct()

    def with_image_count(self):
        """`image_count`: how many images the current version has (what naming the reference
        puts into a composition), for every row in the same query."""
        current = (
            ReferenceImage.objects.filter(
                version__reference=OuterRef("pk"), version__number=OuterRef("version")
            )
            .order_by()
            .values("version__reference")
            .annotate(count=Count("pk"))
            .values("count")
        )
        return self.annotate(
            image_count=Coalesce(Subquery(current, output_field=IntegerField()), 0)
        )

    def lapsed(self):
        """People whose consent expired or was withdrawn and whose images are still stored."""
        return self.filter(depicts_person=True, purged_at__isnull=True).filter(
            Q(consent__withdrawn_at__isnull=False) | Q(consent__valid_until__lte=timezone.now())
        )


class Reference(models.Model):
    """A named, versioned set of images the team reuses as composition inputs."""

    class Kind(models.TextChoices):
        CHARACTER = "character", _("Character")
        PRODUCT = "product", _("Product")
        LOGO = "logo", _("Logo")
        STYLE = "style", _("Style")
        PLACE = "place", _("Place")

    public_id = models.CharField(
        max_length=32, unique=True, default=PublicId("ref"), editable=False
    )
    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.CASCADE, related_name="references"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=12, choices=Kind)
    notes = models.TextField(blank=True, max_length=2000)
    # A flag, not a kind: a character may be a drawn mascot or a real person, and a product
    # shot may show a model. A real person needs a consent record (ReferenceConsent).
    depicts_person = models.BooleanField(default=False)
    # Versions are numbered 1, 2, ...; changing the images makes the next one.
    version = models.PositiveIntegerField(default=1)
    # When the images of a person whose consent lapsed were deleted from storage.
    purged_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ReferenceQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["workspace", "-updated_at"], name="ref_ws_recent")]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("references:detail", args=[self.public_id])

    def current_version(self) -> "ReferenceVersion":
        return self.versions.get(number=self.version)

    def unusable(self) -> tuple[str, str] | None:
        """Why this reference may not be used now, as (code, message); None if it may."""
        if self.purged_at is not None:
            return (
                "reference_consent_expired",
                str(_("The consent for “%(name)s” has ended and its images were deleted."))
                % {"name": self.name},
            )
        if not self.depicts_person:
            return None
        consent = getattr(self, "consent", None)
        if consent is None:
            return (
                "reference_consent_missing",
                str(_("“%(name)s” has no consent record.")) % {"name": self.name},
            )
        if consent.withdrawn_at is not None:
            return (
                "reference_consent_withdrawn",
                str(_("The consent for “%(name)s” was withdrawn; it can no longer be used."))
                % {"name": self.name},
            )
        if consent.valid_until <= timezone.now():
            return (
                "reference_consent_expired",
                str(_("The consent for “%(name)s” expired; it can no longer be used."))
                % {"name": self.name},
            )
        return None

    def check_usable(self) -> None:
        problem = self.unusable()
        if problem:
            raise ReferenceUnusable(problem[1], code=problem[0], field="inputs")


class ReferenceVersion(models.Model):
    """One state of a reference's images; compositions name the version they used."""

    public_id = models.CharField(
        max_length=32, unique=True, default=PublicId("refv"), editable=False
    )
    reference = models.ForeignKey(Reference, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["reference", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["reference", "number"], name="refversion_unique")
        ]

    def __str__(self):
        return f"{self.reference} v{self.number}"


class ReferenceImage(models.Model):
    """One image of a version, with the role it plays when picked into a composition."""

    version = models.ForeignKey(ReferenceVersion, on_delete=models.CASCADE, related_name="images")
    # PROTECT: an upload goes only through the references services, which delete the rows first.
    upload = models.ForeignKey(
        "compositions.Upload", on_delete=models.PROTECT, related_name="reference_images"
    )
    position = models.PositiveSmallIntegerField()
    # One of compositions.models.Role (checked by the services and forms; this module
    # imports no app).
    role = models.CharField(max_length=12, default="other")
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["version", "position"], name="refimage_position_unique")
        ]

    def __str__(self):
        return f"{self.version} #{self.position}"


class ReferenceConsent(models.Model):
    """The statement that the person shown agreed to this use: who attested it, when, for which
    workspace, until when; and whether it was withdrawn. Kept after a purge, as the record."""

    reference = models.OneToOneField(Reference, on_delete=models.CASCADE, related_name="consent")
    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    attested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept as text too, so the record still says who attested after the account is gone.
    attested_by_email = models.EmailField(blank=True)
    attested_at = models.DateTimeField(default=timezone.now)
    # Required: a consent without an end would keep a person's images forever.
    valid_until = models.DateTimeField()
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self):
        return f"consent for {self.reference}"

    @property
    def is_current(self) -> bool:
        return self.withdrawn_at is None and self.valid_until > timezone.now()


def current_images(references: list[Reference]) -> dict[int, list[ReferenceImage]]:
    """Each reference's current images (with their uploads), in one query: the lists."""
    if not references:
        return {}
    current = Q()
    for reference in references:
        current |= Q(version__reference_id=reference.pk, version__number=reference.version)
    images: dict[int, list[ReferenceImage]] = {r.pk: [] for r in references}
    for image in (
        ReferenceImage.objects.filter(current)
        .select_related("upload", "version")
        .order_by("position")
    ):
        images[image.version.reference_id].append(image)
    return images
