"""Scheduled upkeep of the API's own records."""

from .idempotency import stale
from .models import IdempotencyKey


def purge_idempotency_keys() -> int:
    """Scheduled hourly: forget Idempotency-Keys after the 24 hours the contract keeps them,
    and claims whose request died."""
    deleted, _ = IdempotencyKey.objects.filter(stale()).delete()
    return deleted
