"""Counters that several processes add to and the metrics read: one row per name."""

from django.db import IntegrityError, models, transaction
from django.db.models import F


class Counter(models.Model):
    """A number that only grows, shared by every web and worker process (the database agrees
    where per-process memory would not). Read by `/metrics` as a Prometheus counter."""

    name = models.CharField(max_length=80, unique=True)
    value = models.PositiveBigIntegerField(default=0)

    def __str__(self):
        return f"{self.name}={self.value}"


def increment_counter(name: str, by: int = 1) -> None:
    """Add `by` to the counter `name`, creating it at its first use (a conditional UPDATE, then
    an INSERT that a racing process may beat, then the UPDATE again)."""
    if Counter.objects.filter(name=name).update(value=F("value") + by):
        return
    try:
        with transaction.atomic():
            Counter.objects.create(name=name, value=by)
    except IntegrityError:
        Counter.objects.filter(name=name).update(value=F("value") + by)
