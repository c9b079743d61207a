"""Scheduled upkeep of the API's own records."""

from datetime import timedelta

from django.utils import timezone

from .idempotency import IDEMPOTENCY_HOURS
from .models import IdempotencyKey


def purge_idempotency_keys() -> int:
    """Scheduled hourly: forget Idempotency-Keys after the 24 hours the contract keeps them."""
    cutoff = timezone.now() - timedelta(hours=IDEMPOTENCY_HOURS)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
