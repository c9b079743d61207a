"""The operations page's figures: the last 24 hours per provider, and the queue now."""

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Min, Q

from compositions.models import Composition
from moderation.models import ProviderRefusal

WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class ProviderDay:
    provider: str
    finished: int
    succeeded: int
    failed: int
    refusals: int
    p50_seconds: float | None
    p95_seconds: float | None
    cost_usd: float
    priced: int  # compositions whose provider reported a cost

    @property
    def success_rate(self) -> float | None:
        return (
            self.succeeded / (self.succeeded + self.failed)
            if self.succeeded + self.failed
            else None
        )


@dataclass(frozen=True)
class QueueNow:
    depth: int
    oldest_seconds: float | None
    running: int
    held: int


def percentile(values: list[float], fraction: float) -> float | None:
    """The value below which `fraction` of them lie, interpolated between neighbours."""
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    # statistics.quantiles interpolates between ranks ("inclusive" keeps it within the data).
    return statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1]


def provider_days(*, now: datetime) -> list[ProviderDay]:
    """Compositions that ended in the last 24 hours, per provider that made (or tried) them."""
    since = now - WINDOW
    # One pass over the day's finished rows: the few columns needed, never the prompts.
    rows = (
        Composition.objects.order_by()
        .filter(finished_at__gte=since, status__in=Composition.FINISHED)
        .exclude(provider="")
        .values_list("provider", "status", "provider_started_at", "provider_finished_at", "usage")
    )
    refusals = dict(
        ProviderRefusal.objects.order_by()
        .filter(created_at__gte=since)
        .values_list("provider")
        .annotate(n=Count("id"))
    )
    by_provider: dict[str, dict] = {}
    for provider, status, started, ended, usage in rows.iterator(chunk_size=2000):
        day = by_provider.setdefault(
            provider,
            {"finished": 0, "succeeded": 0, "failed": 0, "seconds": [], "cost": 0.0, "priced": 0},
        )
        day["finished"] += 1
        if status == Composition.Status.SUCCEEDED:
            day["succeeded"] += 1
        elif status == Composition.Status.FAILED:
            day["failed"] += 1
        if started and ended:
            day["seconds"].append((ended - started).total_seconds())
        cost = (usage or {}).get("cost_usd")
        if isinstance(cost, int | float):
            day["cost"] += cost
            day["priced"] += 1
    providers = sorted(set(by_provider) | set(refusals))
    days = []
    for provider in providers:
        day = by_provider.get(provider) or {
            "finished": 0,
            "succeeded": 0,
            "failed": 0,
            "seconds": [],
            "cost": 0.0,
            "priced": 0,
        }
        seconds = sorted(day["seconds"])
        days.append(
            ProviderDay(
                provider=provider,
                finished=day["finished"],
                succeeded=day["succeeded"],
                failed=day["failed"],
                refusals=refusals.get(provider, 0),
                p50_seconds=percentile(seconds, 0.50),
                p95_seconds=percentile(seconds, 0.95),
                cost_usd=round(day["cost"], 4),
                priced=day["priced"],
            )
        )
    return days


def queue_now(*, now: datetime) -> QueueNow:
    """One aggregate query: waiting, running and held compositions, and the oldest waiting."""
    figures = (
        Composition.objects.order_by()
        .filter(status__in=Composition.UNFINISHED)  # the status index, not the whole table
        .aggregate(
            depth=Count("id", filter=Q(status=Composition.Status.QUEUED)),
            oldest=Min("created_at", filter=Q(status=Composition.Status.QUEUED)),
            running=Count("id", filter=Q(status__in=Composition.ACTIVE)),
            held=Count("id", filter=Q(status=Composition.Status.HELD)),
        )
    )
    oldest = figures["oldest"]
    return QueueNow(
        depth=figures["depth"],
        oldest_seconds=max((now - oldest).total_seconds(), 0.0) if oldest else None,
        running=figures["running"],
        held=figures["held"],
    )
