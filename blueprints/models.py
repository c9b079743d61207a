"""Templates (saved, versioned recipes for a composition) and bulk runs of them.

The app is called `blueprints` because `templates/` is Django's folder for HTML templates; people
see "Templates" everywhere in the product and the API (`tpl_` ids, `/api/v1/templates`).
"""

import re

from django.conf import settings
from django.db import models
from django.db.models import OuterRef, Prefetch, Q, Subquery
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bananasite.ids import PublicId

# `{title}` in a template's prompt is replaced by the run's value of the field `title`.
PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]{0,39})\}")
FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class TemplateQuerySet(models.QuerySet["Template"]):
    def visible_to(self, workspace):
        return self.filter(workspace=workspace)

    def with_latest(self):
        """Each template's latest version (`latest`) loaded by one query for all of them, and
        only that version: a list does not read every old version, or one query per row."""
        newest = (
            TemplateVersion.objects.filter(template=OuterRef("template"))
            .order_by("-number")
            .values("number")[:1]
        )
        return self.prefetch_related(
            Prefetch(
                "versions",
                queryset=TemplateVersion.objects.filter(number=Subquery(newest)),
                to_attr="prefetched_latest",
            )
        )


class Template(models.Model):
    """A workspace's recipe for a kind of picture; what it asks is its latest version."""

    public_id = models.CharField(
        max_length=32, unique=True, default=PublicId("tpl"), editable=False
    )
    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.CASCADE, related_name="blueprints"
    )
    name = models.CharField(_("name"), max_length=120)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TemplateQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["workspace", "-updated_at"], name="tpl_ws_recent")]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("blueprints:detail", args=[self.public_id])

    @property
    def latest(self) -> "TemplateVersion":
        """The version runs use; read from `with_latest()` or a prefetch of every version when
        the queryset made one, else one query."""
        prefetched = getattr(self, "prefetched_latest", None)
        if prefetched:
            return prefetched[0]
        versions = getattr(self, "_prefetched_objects_cache", {}).get("versions")
        if versions:
            return max(versions, key=lambda version: version.number)
        return self.versions.order_by("-number").first()  # type: ignore[return-value]


class TemplateVersion(models.Model):
    """One version of a template, never changed once written: editing writes the next one, and
    each run records the version it used.

    `fields`: [{"name", "label", "required"}], the text a run fills in (`{name}` in the prompt).
    `slots`: [{"role", "label", "required", "fixed"}], the photos in order; `fixed` is an input
    as the submit path takes it ({"upload": "up_…"}, {"url": …}) or null for "ask each time".
    `options`: the composition options (model, aspect_ratio, image_size, num_images, preset,
    style, priority, grounding, thinking_level, consent) as CompositionOptions reads them."""

    template = models.ForeignKey(Template, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    prompt = models.TextField()
    fields = models.JSONField(default=list, blank=True)
    slots = models.JSONField(default=list)
    options = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["template", "number"], name="tplv_one_number"),
            models.CheckConstraint(condition=Q(number__gte=1), name="tplv_number_positive"),
        ]

    def __str__(self):
        return f"{self.template} v{self.number}"

    @property
    def asked_slots(self) -> list[tuple[int, dict]]:
        """(position, slot) of the slots a run fills in, in order (position 1 is image 1)."""
        return [(i, s) for i, s in enumerate(self.slots, start=1) if not s.get("fixed")]


class TemplateRun(models.Model):
    """A composition made from a template version, with the field values it was given."""

    version = models.ForeignKey(TemplateVersion, on_delete=models.PROTECT, related_name="runs")
    composition = models.OneToOneField(
        "compositions.Composition", on_delete=models.CASCADE, related_name="template_run"
    )
    values = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.version} → {self.composition_id}"


class Batch(models.Model):
    """A bulk run: one template version, many rows, one reserve for all of them.

    The reserve is a ledger row named by the batch's id. Each row's share of it then goes back
    exactly once: as its composition's hold (the composition takes no reserve of its own and
    releases the share when it ends), or, for a row that never became a composition (canceled,
    or refused when its turn came), as a release named by the row's id."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        FINISHED = "finished", _("Finished")
        CANCELED = "canceled", _("Canceled")

    public_id = models.CharField(
        max_length=32, unique=True, default=PublicId("bat"), editable=False
    )
    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.CASCADE, related_name="batches"
    )
    version = models.ForeignKey(TemplateVersion, on_delete=models.PROTECT, related_name="batches")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status, default=Status.RUNNING)
    credits_reserved = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "batches"
        indexes = [models.Index(fields=["status", "created_at"], name="bat_status")]

    def __str__(self):
        return self.public_id

    def get_absolute_url(self):
        return reverse("blueprints:batch", args=[self.public_id])

    def counts(self) -> dict[str, int]:
        """How many rows are in each state (`BatchRow.outcome`)."""
        tally = dict.fromkeys(("pending", "running", "succeeded", "failed", "canceled"), 0)
        rows = self.rows.select_related("composition").only("status", "composition__status")
        for row in rows:
            tally[row.outcome] += 1
        return {"total": sum(tally.values()), **tally}


class BatchRow(models.Model):
    """One row of a bulk run: the values and inputs it was given, and what became of it.

    Before its turn the row's own status says where it is; once it is a composition, that
    composition's status is the row's (`outcome`)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        STARTING = "starting", _("Starting")
        STARTED = "started", _("Started")
        FAILED = "failed", _("Failed")
        CANCELED = "canceled", _("Canceled")

    public_id = models.CharField(
        max_length=32, unique=True, default=PublicId("brw"), editable=False
    )
    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="rows")
    number = models.PositiveIntegerField()
    values = models.JSONField(default=dict, blank=True)
    inputs = models.JSONField(default=list, blank=True)
    credits = models.PositiveIntegerField()
    images = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(max_length=10, choices=Status, default=Status.PENDING)
    composition = models.OneToOneField(
        "compositions.Composition",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="batch_row",
    )
    error_code = models.CharField(max_length=40, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["batch", "number"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "number"], name="brw_one_number"),
            models.CheckConstraint(
                condition=Q(status="started") | Q(composition__isnull=True),
                name="brw_composition_only_when_started",
            ),
        ]
        indexes = [models.Index(fields=["batch", "status", "number"], name="brw_next")]

    def __str__(self):
        return f"{self.batch} row {self.number}"

    @property
    def outcome(self) -> str:
        """pending, running, succeeded, failed or canceled."""
        if self.status == self.Status.STARTED:
            if self.composition is None:  # the composition was deleted
                return "canceled"
            status = self.composition.status
            return status if status in ("succeeded", "failed", "canceled") else "running"
        if self.status == self.Status.STARTING:
            return "pending"
        return self.status

    @property
    def error(self) -> str:
        if self.status == self.Status.STARTED and self.composition is not None:
            return self.composition.error_message if self.outcome == "failed" else ""
        return self.error_message

    def claim(self) -> bool:
        """Pending → starting, once: two workers cannot both start the same row."""
        return bool(
            BatchRow.objects.filter(pk=self.pk, status=self.Status.PENDING).update(
                # update() leaves auto_now alone; the sweep reads updated_at as "claimed at".
                status=self.Status.STARTING,
                updated_at=timezone.now(),
            )
        )
