from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import (
    Case,
    Count,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    Subquery,
    When,
)
from django.db.models.functions import Coalesce, Greatest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Workspace
from bananasite.files import extension_for
from bananasite.ids import PublicId


def upload_path(instance, filename):
    return f"ws/{instance.workspace.public_id}/uploads/{instance.public_id}/{filename}"


def result_path(instance, filename):
    composition = instance.composition
    return (
        f"ws/{composition.workspace.public_id}/results/{composition.public_id}/"
        f"{instance.public_id}/{filename}"
    )


class Role(models.TextChoices):
    SUBJECT = "subject", _("Subject")
    PRODUCT = "product", _("Product")
    BACKGROUND = "background", _("Background")
    STYLE = "style", _("Style")
    FACE = "face", _("Face")
    LOGO = "logo", _("Logo")
    OUTFIT = "outfit", _("Outfit")
    OTHER = "other", _("Other")


# Inputs in these roles must appear in the result: the reference check looks for them.
CHECKED_ROLES = (Role.PRODUCT, Role.LOGO)


class VisibleManager(models.Manager):
    """Rows a moderator has not removed. The default manager, so every history, page, API
    listing and related lookup (`composition.results`) leaves removed content out at once;
    `all_objects` is for moderation and the admin."""

    def get_queryset(self):
        return super().get_queryset().filter(removed_at__isnull=True)


class Upload(models.Model):
    """A photo a person gave us, sanitised (oriented, metadata stripped) before it was stored."""

    class Status(models.TextChoices):
        READY = "ready", _("Ready")
        HELD = "held", _("Held for review")
        REJECTED = "rejected", _("Rejected")

    class Source(models.TextChoices):
        UPLOAD = "upload", _("Uploaded")
        RESULT = "result", _("Earlier result")

    public_id = models.CharField(max_length=32, unique=True, default=PublicId("up"), editable=False)
    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.CASCADE, related_name="uploads"
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="uploads"
    )
    file = models.FileField(upload_to=upload_path, max_length=300)
    thumbnail = models.FileField(upload_to=upload_path, max_length=300, blank=True)
    # The copy a remote model is sent, made while the upload was decoded (images.MODEL_EDGE
    # long): a composition reads it instead of decoding the photo again before its call.
    # Empty for uploads made before, copies of results and deployments without a remote
    # provider; the worker prepares those itself.
    model_copy = models.FileField(upload_to=upload_path, max_length=300, blank=True)
    model_copy_edge = models.PositiveSmallIntegerField(null=True, blank=True)
    original_name = models.CharField(max_length=255, blank=True)
    source = models.CharField(max_length=10, choices=Source, default=Source.UPLOAD)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    content_type = models.CharField(max_length=40)
    bytes = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)
    # 64-bit perceptual (DCT) hash in hex, compared with the hashes of removed content.
    phash = models.CharField(max_length=16, blank=True)
    status = models.CharField(max_length=10, choices=Status, default=Status.READY)
    created_at = models.DateTimeField(auto_now_add=True)
    removed_at = models.DateTimeField(null=True, blank=True)

    all_objects = models.Manager()
    objects = VisibleManager()

    class Meta:
        ordering = ["-created_at", "-id"]
        base_manager_name = "all_objects"
        default_manager_name = "objects"
        indexes = [models.Index(fields=["workspace", "-created_at"], name="upload_ws_recent")]

    def __str__(self):
        return self.public_id

    def stored_names(self) -> list[str]:
        """Every file this upload keeps in storage: deleting the upload deletes them all."""
        return [str(f.name) for f in (self.file, self.thumbnail, self.model_copy) if f.name]


class CompositionQuerySet(models.QuerySet["Composition"]):
    def visible_to(self, workspace):
        return self.filter(workspace=workspace)

    def unfinished(self):
        return self.filter(status__in=Composition.UNFINISHED)

    def with_inputs_and_results(self):
        """Inputs (with their uploads and saved references) and results in two queries for a
        whole page. Given as querysets, not as paths like "inputs__upload": Django then builds
        no queryset of its own per row and relation, which was a third of a list's time."""
        inputs = CompositionInput.objects.select_related("upload", "reference_version__reference")
        return self.prefetch_related(
            Prefetch("inputs", queryset=inputs), Prefetch("results", queryset=Result.objects.all())
        )

    def with_queue_position(self):
        """Each queued composition's place in its workspace's queue, counted in the same query
        (a list would otherwise count once per row); the partial index `cmp_ws_queued` keeps
        each count to the queued rows."""
        ahead = (
            Composition.objects.filter(
                workspace_id=OuterRef("workspace_id"), status=Composition.Status.QUEUED
            )
            .filter(
                Q(created_at__lt=OuterRef("created_at"))
                | Q(created_at=OuterRef("created_at"), id__lt=OuterRef("id"))
            )
            .order_by()
            .values("workspace_id")
            .annotate(n=Count("id"))
            .values("n")
        )
        return self.annotate(
            queue_ahead=Case(
                When(
                    status=Composition.Status.QUEUED,
                    then=Coalesce(Subquery(ahead, output_field=IntegerField()), 0),
                ),
                default=None,
                output_field=IntegerField(),
            )
        )

    def expired(self, *, now: datetime) -> "CompositionQuerySet":
        """Finished compositions past their life: the one asked for at submit (`keep_until`)
        or their workspace's retention. Unfinished ones (held, queued, running, batched) wait
        until they end: a purge never pulls files from under a worker or a moderator; nor does
        it take a composition with an open report on a result or an input (the moderator
        decides first; the purge takes it the hour after the report is closed)."""
        past = Q(keep_until__lt=now)
        spans = (
            Workspace.objects.filter(retention_days__isnull=False)
            .order_by()
            .values_list("retention_days", flat=True)
            .distinct()
        )
        for days in spans:
            if days:
                cutoff = now - timedelta(days=days)
                past |= Q(workspace__retention_days=days, created_at__lt=cutoff)
        reported = Q(results__reports__status="open") | Q(inputs__upload__reports__status="open")
        return self.filter(past, status__in=Composition.FINISHED).exclude(
            pk__in=Composition.objects.filter(reported).values("pk")
        )

    def next_queued(self, *, workspace_id: int) -> "Composition | None":
        """The workspace's oldest queued composition: the next to start."""
        return (
            self.filter(workspace_id=workspace_id, status=Composition.Status.QUEUED)
            .order_by("created_at", "id")
            .first()
        )


class Composition(models.Model):
    """One request to combine photos, from submission to its results.

    Status and progress change only through the conditional updates below, so a second worker,
    the lease sweep and a person pressing cancel can never overwrite each other's outcome.
    """

    class Status(models.TextChoices):
        HELD = "held", _("Held for review")
        QUEUED = "queued", _("Queued")
        PREPARING = "preparing", _("Preparing")
        GENERATING = "generating", _("Generating")
        STORING = "storing", _("Storing")
        # Submitted to a provider's batch tier: no worker holds it (no lease); the batch poll
        # (`tasks.poll_batches`) takes it on when the provider has finished.
        BATCHED = "batched", _("Waiting in the provider's batch")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        CANCELED = "canceled", _("Canceled")

    class Preset(models.TextChoices):
        NONE = "none", _("Free-form")
        PRODUCT_IN_SCENE = "product_in_scene", _("Product in a scene")
        BACKGROUND_REPLACE = "background_replace", _("New background")
        COMBINE_SUBJECTS = "combine_subjects", _("Subjects in one frame")
        STYLE_TRANSFER = "style_transfer", _("Carry a style over")
        FACE_SWAP = "face_swap", _("Face swap")
        COLLAGE = "collage", _("Collage")
        THUMBNAIL = "thumbnail", _("Thumbnail with a title")
        OUTFIT_CHANGE = "outfit_change", _("Outfit change")
        LOGO_PLACEMENT = "logo_placement", _("Logo on a product")

    class Style(models.TextChoices):
        NATURAL = "natural", _("Natural")
        ARTISTIC = "artistic", _("Artistic")
        PROFESSIONAL = "professional", _("Professional")
        CREATIVE = "creative", _("Creative")

    class Priority(models.TextChoices):
        STANDARD = "standard", _("Standard")
        BATCH = "batch", _("Batch (cheaper, within a day)")

    class Origin(models.TextChoices):
        NEW = "new", _("New")
        VARIATION = "variation", _("Variation")
        REFINEMENT = "refinement", _("Refinement")
        REGION_EDIT = "region_edit", _("Region edit")
        EXPAND = "expand", _("Expand")
        # The free retry offered when the reference check missed a product or logo.
        RETRY = "retry", _("Free retry")

    ACTIVE = ("preparing", "generating", "storing")
    UNFINISHED = ("held", "queued", "preparing", "generating", "storing", "batched")
    FINISHED = ("succeeded", "failed", "canceled")
    STAGE_PERCENT = {
        "queued": 0,
        "preparing": 10,
        "generating": 30,
        "batched": 40,
        "storing": 90,
        "succeeded": 100,
    }

    public_id = models.CharField(
        max_length=32, unique=True, default=PublicId("cmp"), editable=False
    )
    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.CASCADE, related_name="compositions"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    prompt = models.TextField()
    preset = models.CharField(max_length=24, choices=Preset, default=Preset.NONE)
    style = models.CharField(max_length=16, choices=Style, default=Style.NATURAL)
    model = models.CharField(max_length=80)
    provider = models.CharField(max_length=40)
    aspect_ratio = models.CharField(max_length=8, default="1:1")
    image_size = models.CharField(max_length=8, default="1K")
    num_images = models.PositiveSmallIntegerField(default=1)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    origin = models.CharField(max_length=12, choices=Origin, default=Origin.NEW)

    status = models.CharField(max_length=12, choices=Status, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error_code = models.CharField(max_length=40, blank=True)
    error_message = models.TextField(blank=True)
    text = models.TextField(blank=True)
    usage = models.JSONField(default=dict, blank=True)
    credits_reserved = models.PositiveIntegerField(default=0, help_text="The hold taken at submit.")
    credits_charged = models.PositiveIntegerField(default=0)
    credits_refunded = models.PositiveIntegerField(default=0)
    held_reason = models.CharField(
        max_length=300, blank=True, help_text="Why it waits for a moderator (status held)."
    )
    consent = models.BooleanField(
        default=False,
        help_text="The person stated they have the right to use the photos and the consent of "
        "the people in them.",
    )
    provider_request_id = models.CharField(max_length=200, blank=True)
    provider_model = models.CharField(
        max_length=120, blank=True, help_text="The exact model name the provider was asked for."
    )
    route_reason = models.JSONField(
        default=dict,
        blank=True,
        help_text="Why this provider was chosen among those that serve it.",
    )
    priority = models.CharField(max_length=10, choices=Priority, default=Priority.STANDARD)
    # The model options asked for ({"grounding": true, "thinking_level": "high"}; only those
    # given), and the credits one search cost at submit: the hold took one search's worth, and
    # settlement charges the searches the provider reports, capped at that hold.
    model_options = models.JSONField(default=dict, blank=True)
    credits_per_search = models.PositiveSmallIntegerField(default=0)
    # A shorter life asked for at submit (the API's `retention_days`); the workspace's
    # retention applies as well, whichever ends first (`expires_at`).
    keep_until = models.DateTimeField(null=True, blank=True)
    # The reference check after success (`compositions.reference_check`, run by
    # `tasks.check_references`): {"status": "pending" | "done", "references": [{"input": 2,
    # "role": "logo", "result": "res_…", "found": false, "inliers": 3}, …]}; empty when no
    # input has a role that must appear (product, logo).
    checks = models.JSONField(default=dict, blank=True)
    # This composition is the one free retry of another whose check missed a reference; the
    # one-to-one keeps it to one, even for two clicks at once.
    free_retry_of = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="free_retry"
    )

    # The way through the pipeline, for the ETA, the metrics and the load benchmark:
    # created → enqueued → started (claimed) → provider started/finished → stored → finished.
    created_at = models.DateTimeField(auto_now_add=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True, help_text="Claimed by a worker.")
    provider_started_at = models.DateTimeField(null=True, blank=True)
    provider_finished_at = models.DateTimeField(null=True, blank=True)
    stored_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = CompositionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["workspace", "-created_at", "-id"], name="cmp_ws_recent"),
            models.Index(fields=["status", "lease_expires_at"], name="cmp_status_lease"),
            # Queue positions count only queued rows, however long the workspace's history.
            models.Index(
                fields=["workspace", "created_at", "id"],
                condition=Q(status="queued"),
                name="cmp_ws_queued",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(num_images__gte=1) & Q(num_images__lte=4), name="cmp_num_images_1_4"
            ),
            models.CheckConstraint(condition=Q(progress__lte=100), name="cmp_progress_max_100"),
        ]

    def __str__(self):
        return self.public_id

    def get_absolute_url(self):
        return reverse("compositions:detail", args=[self.public_id])

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def stage_label(self) -> str:
        return str(self.Status(self.status).label)

    def expires_at(self) -> datetime | None:
        """When the purge removes it: its own `keep_until` or its workspace's retention,
        whichever comes first; None to keep it forever."""
        ends = [self.keep_until] if self.keep_until else []
        days = self.workspace.retention_days
        if days is not None:
            ends.append(self.created_at + timedelta(days=days))
        return min(ends) if ends else None

    @property
    def credits_held(self) -> int:
        """Credits still on hold: the reserve until the composition settles."""
        return 0 if self.is_finished else self.credits_reserved

    def queue_position(self) -> int | None:
        """1 for the next of its workspace's queued compositions to start, and so on."""
        if self.status != self.Status.QUEUED:
            return None
        known: int | None = getattr(self, "queue_ahead", None)  # with_queue_position()
        if known is not None:
            return known + 1
        ahead = (
            type(self)
            .objects.filter(workspace_id=self.workspace_id, status=self.Status.QUEUED)
            .filter(
                Q(created_at__lt=self.created_at) | Q(created_at=self.created_at, id__lt=self.id)
            )
        )
        return ahead.count() + 1

    @property
    def missed_references(self) -> list[dict[str, Any]]:
        """The checked references (product, logo) not found in a result."""
        if self.checks.get("status") != "done":
            return []
        return [check for check in self.checks.get("references", []) if not check["found"]]

    def offers_free_retry(self) -> bool:
        """A succeeded composition whose check missed a reference gets one retry at no charge;
        a free retry gets none of its own."""
        return (
            self.status == self.Status.SUCCEEDED
            and self.origin != self.Origin.RETRY
            and bool(self.missed_references)
            and not type(self).objects.filter(free_retry_of=self).exists()
        )

    def record_checks(self, checks: dict[str, Any]) -> bool:
        """Store the reference check's findings while the composition is still succeeded."""
        self.checks = checks
        return bool(
            type(self)
            .objects.filter(pk=self.pk, status=self.Status.SUCCEEDED)
            .update(checks=checks)
        )

    def record_settlement(self, *, charged: int, refunded: int) -> None:
        """What the settled composition cost and gave back (the ledger has the rows)."""
        type(self).objects.filter(pk=self.pk).update(
            credits_charged=charged, credits_refunded=refunded
        )
        self.credits_charged, self.credits_refunded = charged, refunded

    def _conditional_update(
        self,
        *,
        from_statuses: Sequence[str],
        token: int | None = None,
        extra: Q | None = None,
        **changes: Any,
    ) -> bool:
        """Apply `changes` only if the row is still in one of `from_statuses` (and, with a
        `token`, still held by that attempt); say if it was."""
        rows = type(self).objects.filter(pk=self.pk, status__in=from_statuses)
        if token is not None:
            # Fencing: a worker whose lease was taken over (the sweep re-queued the composition
            # and another worker claimed it) holds an older attempt number and changes nothing.
            rows = rows.filter(attempts=token)
        if extra is not None:
            rows = rows.filter(extra)
        updated = rows.update(**changes)
        if updated:
            self.refresh_from_db()
        return bool(updated)

    def _lease_until(self) -> datetime:
        return timezone.now() + timedelta(seconds=settings.BANANASITE_LEASE_SECONDS)

    def claim(self) -> bool:
        """Take a queued composition for this worker, with a lease. False if someone else did.
        The attempt number it gets (`attempts`) is this worker's lease token."""
        now = timezone.now()
        return self._conditional_update(
            from_statuses=[self.Status.QUEUED],
            status=self.Status.PREPARING,
            progress=Greatest(F("progress"), self.STAGE_PERCENT["preparing"]),
            lease_expires_at=self._lease_until(),
            attempts=F("attempts") + 1,
            started_at=now,
        )

    def renew_lease(self, *, token: int) -> bool:
        """The worker is alive (its heartbeat): the lease runs on. False once it is lost."""
        return bool(
            type(self)
            .objects.filter(pk=self.pk, status__in=self.ACTIVE, attempts=token)
            .update(lease_expires_at=self._lease_until())
        )

    def advance(self, status: str, *, token: int, percent: int | None = None) -> bool:
        """Move a running composition to a later stage, renewing its lease."""
        percent = self.STAGE_PERCENT.get(status, 0) if percent is None else percent
        return self._conditional_update(
            from_statuses=self.ACTIVE,
            token=token,
            status=status,
            progress=Greatest(F("progress"), percent),
            lease_expires_at=self._lease_until(),
        )

    def report_progress(self, percent: int, *, token: int) -> bool:
        """Raise the progress bar of a running composition; it never goes down."""
        return self._conditional_update(
            from_statuses=self.ACTIVE,
            token=token,
            progress=Greatest(F("progress"), min(percent, 99)),
        )

    def succeed(
        self, *, token: int, text: str = "", usage: dict | None = None, request_id: str = ""
    ) -> bool:
        return self._conditional_update(
            from_statuses=[self.Status.STORING],
            token=token,
            status=self.Status.SUCCEEDED,
            progress=100,
            text=text,
            usage=usage or {},
            provider_request_id=request_id[:200],
            lease_expires_at=None,
            finished_at=timezone.now(),
        )

    def fail(
        self,
        *,
        code: str,
        message: str,
        from_statuses: Sequence[str] | None = None,
        token: int | None = None,
        extra: Q | None = None,
    ) -> bool:
        """Fail an unfinished composition; a worker passes its token, the sweep an `extra`
        condition (the lease has expired), a moderator neither."""
        return self._conditional_update(
            from_statuses=from_statuses or self.UNFINISHED,
            token=token,
            extra=extra,
            status=self.Status.FAILED,
            error_code=code,
            error_message=message,
            lease_expires_at=None,
            finished_at=timezone.now(),
        )

    def cancel(self) -> bool:
        return self._conditional_update(
            from_statuses=self.UNFINISHED,
            status=self.Status.CANCELED,
            lease_expires_at=None,
            finished_at=timezone.now(),
        )

    def release_hold(self) -> bool:
        """A moderator approved a held composition: it joins the queue."""
        return self._conditional_update(
            from_statuses=[self.Status.HELD],
            status=self.Status.QUEUED,
            enqueued_at=timezone.now(),
        )

    def record_provider(self, provider: str, *, token: int) -> None:
        """The provider that really made it (a fallback may have taken over)."""
        if provider != self.provider:
            type(self).objects.filter(pk=self.pk, attempts=token).update(provider=provider)
            self.provider = provider

    def record_timing(self, *, token: int, **moments: datetime | str) -> None:
        """Note when a step of this attempt happened (provider_started_at, stored_at...), or
        what it used (provider_model)."""
        type(self).objects.filter(pk=self.pk, attempts=token).update(**moments)
        for name, value in moments.items():
            setattr(self, name, value)

    def wait_in_batch(self, *, token: int, batch: str, provider_model: str) -> bool:
        """The worker handed it to the provider's batch tier: it leaves the worker (and the
        lease sweep) and waits for the batch poll."""
        return self._conditional_update(
            from_statuses=[self.Status.GENERATING],
            token=token,
            status=self.Status.BATCHED,
            progress=Greatest(F("progress"), self.STAGE_PERCENT["batched"]),
            provider_request_id=batch[:200],
            provider_model=provider_model,
            provider_started_at=timezone.now(),
            lease_expires_at=None,
        )

    def take_batch_result(self) -> bool:
        """The batch poll found the provider's answer: store it under a new attempt and lease
        (the token), so the sweep re-queues it should this worker die while storing."""
        return self._conditional_update(
            from_statuses=[self.Status.BATCHED],
            status=self.Status.STORING,
            progress=Greatest(F("progress"), self.STAGE_PERCENT["storing"]),
            lease_expires_at=self._lease_until(),
            attempts=F("attempts") + 1,
            provider_finished_at=timezone.now(),
        )

    def requeue(self) -> bool:
        """Give an abandoned composition back to the queue: only while its lease has really
        expired, so a worker that renewed it a moment ago keeps it."""
        return self._conditional_update(
            from_statuses=self.ACTIVE,
            extra=Q(lease_expires_at__lt=timezone.now()),
            status=self.Status.QUEUED,
            lease_expires_at=None,
            enqueued_at=timezone.now(),
        )


class VisibleInputManager(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(upload__removed_at__isnull=True)


class CompositionInput(models.Model):
    """Image N of a composition: the order is what "image 1", "image 2" mean in the prompt."""

    composition = models.ForeignKey(Composition, on_delete=models.CASCADE, related_name="inputs")
    upload = models.ForeignKey(Upload, on_delete=models.PROTECT, related_name="uses")
    position = models.PositiveSmallIntegerField()
    role = models.CharField(max_length=12, choices=Role, default=Role.OTHER)
    # The saved reference (and its version) this image came from, if any: the library may
    # change or lose the reference later; the composition keeps what it used.
    reference_version = models.ForeignKey(
        "references.ReferenceVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="uses",
    )
    # This input is a marked-up copy of the input at that position (arrows, boxes and notes
    # drawn in the composer); the model is told so in a sentence the server adds.
    markup_of = models.PositiveSmallIntegerField(null=True, blank=True)

    all_objects = models.Manager()
    objects = VisibleInputManager()  # inputs a moderator removed are left out everywhere

    class Meta:
        ordering = ["position"]
        base_manager_name = "all_objects"
        default_manager_name = "objects"
        constraints = [
            models.UniqueConstraint(
                fields=["composition", "position"], name="input_position_unique"
            )
        ]

    def __str__(self):
        return f"{self.composition_id} #{self.position}"


class Result(models.Model):
    public_id = models.CharField(
        max_length=32, unique=True, default=PublicId("res"), editable=False
    )
    composition = models.ForeignKey(Composition, on_delete=models.CASCADE, related_name="results")
    position = models.PositiveSmallIntegerField()
    file = models.FileField(upload_to=result_path, max_length=300)
    thumbnail = models.FileField(upload_to=result_path, max_length=300)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    content_type = models.CharField(max_length=40)
    bytes = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)
    phash = models.CharField(max_length=16, blank=True)
    # The image as the provider returned it, before the provenance packet and the signature:
    # signed bytes differ on every signing, so identical pictures are found by this one.
    source_sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    # Its Content Credentials as read back right after signing (compositions.credentials):
    # {"signed": true, "state", "issuer", "ingredients", ...}, or {"signed": false, "error"} when
    # signing failed; {} for results stored before results were signed.
    credentials = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    removed_at = models.DateTimeField(null=True, blank=True)

    all_objects = models.Manager()
    objects = VisibleManager()

    class Meta:
        ordering = ["position"]
        base_manager_name = "all_objects"
        default_manager_name = "objects"
        constraints = [
            models.UniqueConstraint(
                fields=["composition", "position"], name="result_position_unique"
            )
        ]

    def __str__(self):
        return self.public_id

    @property
    def extension(self) -> str:
        return extension_for(self.content_type, "bin")

    @property
    def download_name(self) -> str:
        return f"bananasite-{self.composition.public_id}-{self.position}.{self.extension}"


def region_path(instance, filename):
    composition = instance.composition
    return f"ws/{composition.workspace.public_id}/regions/{composition.public_id}/{filename}"


class RegionEdit(models.Model):
    """What a region edit or an expand changes in its image 1 (the source): the pipeline sends
    the model a crop or a bigger canvas and pastes its answer back (`compositions.regions`)."""

    class Kind(models.TextChoices):
        EDIT = "edit", "Region edit"
        EXPAND = "expand", "Expand"

    composition = models.OneToOneField(Composition, on_delete=models.CASCADE, related_name="region")
    kind = models.CharField(max_length=8, choices=Kind)
    # The region at the source's size as a 1-bit PNG (edits only); a copy, so the upload it
    # came from may be deleted or purged.
    mask = models.FileField(upload_to=region_path, max_length=300, blank=True)
    feather = models.PositiveSmallIntegerField(default=8)
    # Edit: the crop sent to the model; expand: the canvas (width, height) and the source's
    # place in it (left, top).
    box = models.JSONField(default=list, blank=True)
    canvas = models.JSONField(default=dict, blank=True)
    margin = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="edit") | Q(kind="expand"), name="region_kind_valid"
            )
        ]

    def __str__(self):
        return f"{self.get_kind_display()} of {self.composition_id}"
