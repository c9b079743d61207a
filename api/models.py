from django.db import models


class IdempotencyKey(models.Model):
    """A client's Idempotency-Key, scoped to its workspace, and the response it got."""

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "compositions_idempotencykey"  # created by the compositions app; kept
        constraints = [
            models.UniqueConstraint(fields=["workspace", "key"], name="idempotency_key_once")
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created")]

    def __str__(self):
        return self.key
