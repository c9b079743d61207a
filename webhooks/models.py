"""Endpoints that a workspace registers for composition events, and each delivery to them."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from bananasite.ids import PublicId


class Webhook(models.Model):
    class Event(models.TextChoices):
        SUCCEEDED = "composition.succeeded", "composition.succeeded"
        FAILED = "composition.failed", "composition.failed"
        CANCELED = "composition.canceled", "composition.canceled"
        # A template's bulk run ended: every row succeeded, failed or was canceled.
        BATCH_FINISHED = "batch.finished", "batch.finished"

    public_id = models.CharField(max_length=32, unique=True, default=PublicId("wh"), editable=False)
    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.CASCADE, related_name="webhooks"
    )
    url = models.URLField(max_length=500)
    events = models.JSONField(default=list)
    # Standard Webhooks secret: "whsec_" + base64 of 32 random bytes.
    secret = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "compositions_webhook"  # created by the compositions app; kept
        ordering = ["created_at"]

    def __str__(self):
        return self.url


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Delivered")
        FAILED = "failed", _("Failed")

    public_id = models.CharField(
        max_length=32, unique=True, default=PublicId("msg"), editable=False
    )
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=40)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "compositions_webhookdelivery"  # created by the compositions app; kept
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_due")]

    def __str__(self):
        return f"{self.event} to {self.webhook.url}"
