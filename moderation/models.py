"""What moderators act on and the record of what they did."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from bananasite.append_only import AppendOnlyModel, AppendOnlyQuerySet
from bananasite.ids import PublicId


class Report(models.Model):
    """Someone's report of a result or an upload, for the moderators' queue."""

    class Reason(models.TextChoices):
        SEXUAL = "sexual", _("Sexual content")
        MINOR_SAFETY = "minor_safety", _("Child safety")
        VIOLENCE = "violence", _("Violence")
        HATE = "hate", _("Hate")
        HARASSMENT = "harassment", _("Harassment")
        SELF_HARM = "self_harm", _("Self-harm")
        ILLEGAL = "illegal", _("Illegal content")
        COPYRIGHT = "copyright", _("Copyright")
        PRIVACY = "privacy", _("Privacy")
        SPAM = "spam", _("Spam")
        OTHER = "other", _("Other")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        DISMISSED = "dismissed", _("Dismissed")
        ACTIONED = "actioned", _("Actioned")

    class TargetType(models.TextChoices):
        RESULT = "result", _("Result")
        UPLOAD = "upload", _("Upload")

    public_id = models.CharField(
        max_length=32, unique=True, default=PublicId("rep"), editable=False
    )
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reports"
    )
    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.CASCADE, related_name="reports_made"
    )
    target_type = models.CharField(max_length=10, choices=TargetType)
    result = models.ForeignKey(
        "compositions.Result",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="reports",
    )
    upload = models.ForeignKey(
        "compositions.Upload",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="reports",
    )
    reason = models.CharField(max_length=20, choices=Reason)
    details = models.TextField(blank=True, max_length=2000)
    status = models.CharField(max_length=10, choices=Status, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "compositions_report"  # created by the compositions app; kept
        ordering = ["created_at"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(target_type="result", result__isnull=False, upload__isnull=True))
                | (Q(target_type="upload", upload__isnull=False, result__isnull=True)),
                name="report_one_target",
            ),
            models.UniqueConstraint(
                fields=["reporter", "result"],
                condition=Q(status="open", result__isnull=False),
                name="report_one_open_per_result",
            ),
            models.UniqueConstraint(
                fields=["reporter", "upload"],
                condition=Q(status="open", upload__isnull=False),
                name="report_one_open_per_upload",
            ),
        ]

    def __str__(self):
        return f"{self.public_id}: {self.reason}"


class AuditEntry(AppendOnlyModel):
    """One moderator action: who, what, which target, why, when. Never changed or deleted:
    the model, its queryset, the admin and (by triggers, see migration 0002) the database
    refuse it."""

    append_only_message = "The audit log is append-only."

    class Action(models.TextChoices):
        DISMISS = "dismiss", _("Dismissed reports")
        REMOVE = "remove", _("Removed content")
        SUSPEND = "suspend", _("Suspended account")
        RESTORE = "restore", _("Restored account")
        APPROVE = "approve", _("Approved held composition")
        REJECT = "reject", _("Rejected held composition")

    # PROTECT: a moderator with a history is deactivated, never deleted out of the record.
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # Kept as text too: the address as it was when they acted.
    actor_email = models.EmailField()
    action = models.CharField(max_length=10, choices=Action)
    target_type = models.CharField(max_length=20)
    target_id = models.CharField(max_length=254)
    reason = models.TextField()
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "audit log entry"
        verbose_name_plural = "audit log"
        permissions = [("moderate", "Can work the moderation queue")]

    def __str__(self):
        return f"{self.actor_email} {self.action} {self.target_type} {self.target_id}"


class BlockedHash(models.Model):
    """The perceptual hash of content a moderator removed; uploads near it are refused or held."""

    phash = models.CharField(max_length=16, db_index=True)
    sha256 = models.CharField(max_length=64, blank=True)
    source = models.CharField(max_length=40, help_text="The removed result or upload.")
    reason = models.TextField(blank=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "blocked image hash"
        verbose_name_plural = "blocked image hashes"

    def __str__(self):
        return f"{self.phash} ({self.source})"


class ProviderRefusal(models.Model):
    """A provider refused to make one of this person's compositions (a safety block). Kept
    apart from the composition so deleting it does not wipe the count."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="provider_refusals"
    )
    composition_id = models.CharField(max_length=32)
    provider = models.CharField(max_length=40)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["user", "created_at"], name="refusal_user_recent")]

    def __str__(self):
        return f"{self.user_id}: {self.composition_id}"


class ModerationQueue(Report):
    """The moderators' queue (open reports and held compositions) in the admin's index."""

    class Meta:
        proxy = True
        verbose_name = verbose_name_plural = "moderation queue"
