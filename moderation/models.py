"""What moderators act on and the record of what they did."""

from django.conf import settings
from django.db import models

from accounts.models import User
from bananasite.append_only import AppendOnlyModel, AppendOnlyQuerySet
from compositions.models import Composition, Report


class AuditEntry(AppendOnlyModel):
    """One moderator action: who, what, which target, why, when. Never changed or deleted:
    the model, its queryset, the admin and (by triggers, see migration 0002) the database
    refuse it."""

    append_only_message = "The audit log is append-only."

    class Action(models.TextChoices):
        DISMISS = "dismiss", "Dismissed reports"
        REMOVE = "remove", "Removed content"
        SUSPEND = "suspend", "Suspended account"
        RESTORE = "restore", "Restored account"
        APPROVE = "approve", "Approved held composition"
        REJECT = "reject", "Rejected held composition"

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


class HeldComposition(Composition):
    class Meta:
        proxy = True
        verbose_name = "held composition"


class SuspendedAccount(User):
    class Meta:
        proxy = True
        verbose_name = "suspended account"
