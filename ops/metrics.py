"""Prometheus metrics: what every process must agree on is read from the database (and the
shared cache) at scrape time by `DatabaseCollector`; request latency is measured in each process
by `ops.middleware` and, under gunicorn, summed over its workers by the client's multiprocess
mode (`PROMETHEUS_MULTIPROC_DIR`)."""

import os
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, DurationField, ExpressionWrapper, F, Min, Q, Sum
from django.utils import timezone
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from bananasite.models import Counter
from billing.models import LedgerEntry
from compositions.lifecycle import LEASE_RECOVERIES
from compositions.models import Composition
from compositions.providers.http import CircuitBreaker, retries_key
from moderation.models import ProviderRefusal
from webhooks.models import WebhookDelivery

# Provider calls take seconds to minutes (a 4K image with 14 inputs can pass a minute).
PROVIDER_LATENCY_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)

REQUEST_LATENCY = Histogram(
    "bananasite_request_duration_seconds",
    "Time from the request reaching Django to its response, by view.",
    ["view", "method", "status"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

# The ledger's kinds the metrics report, under the names operators read.
CREDIT_KINDS = {
    LedgerEntry.Kind.RESERVE: "reserved",
    LedgerEntry.Kind.CAPTURE: "captured",
    LedgerEntry.Kind.RELEASE: "released",
}


class DatabaseCollector:
    """Figures every web and worker process shares, read at scrape time in a fixed number of
    aggregate queries (seven, plus one cache read), however many compositions there are."""

    def collect(self) -> Iterator[Metric]:
        yield from self._compositions()
        yield from self._provider_latency()
        yield from self._queue()
        yield from self._counters()
        yield from self._refusals()
        yield from self._circuits()
        yield from self._credits()
        yield from self._webhooks()

    def _compositions(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "bananasite_compositions",
            "Compositions by status, model, provider and error code.",
            labels=["status", "model", "provider", "error_code"],
        )
        rows = (
            Composition.objects.order_by()
            .values_list("status", "model", "provider", "error_code")
            .annotate(n=Count("id"))
        )
        for status, model, provider, error_code, n in rows:
            family.add_metric([status, model, provider, error_code], n)
        yield family

    def _provider_latency(self) -> Iterator[Metric]:
        duration = ExpressionWrapper(
            F("provider_finished_at") - F("provider_started_at"), output_field=DurationField()
        )
        buckets = {
            f"le_{i}": Count("id", filter=Q(duration__lte=timedelta(seconds=bound)))
            for i, bound in enumerate(PROVIDER_LATENCY_BUCKETS)
        }
        rows = (
            Composition.objects.order_by()
            .filter(provider_started_at__isnull=False, provider_finished_at__isnull=False)
            .annotate(duration=duration)
            .values("provider")
            .annotate(total=Count("id"), seconds=Sum("duration"), **buckets)
        )
        family = HistogramMetricFamily(
            "bananasite_provider_latency_seconds",
            "Provider call time of each composition (provider start to provider end).",
            labels=["provider"],
        )
        for found in rows:
            row: dict[str, Any] = dict(found)  # its bucket keys are built above
            counts = [
                (str(bound), row[f"le_{i}"]) for i, bound in enumerate(PROVIDER_LATENCY_BUCKETS)
            ]
            total_seconds = row["seconds"].total_seconds() if row["seconds"] else 0.0
            family.add_metric(
                [row["provider"]], [*counts, ("+Inf", row["total"])], sum_value=total_seconds
            )
        yield family

    def _queue(self) -> Iterator[Metric]:
        queued = Composition.objects.filter(status=Composition.Status.QUEUED).aggregate(
            depth=Count("id"), oldest=Min("created_at")
        )
        yield GaugeMetricFamily(
            "bananasite_queue_depth", "Compositions waiting for a worker.", value=queued["depth"]
        )
        age = (timezone.now() - queued["oldest"]).total_seconds() if queued["oldest"] else 0.0
        yield GaugeMetricFamily(
            "bananasite_queue_oldest_age_seconds",
            "How long the oldest queued composition has waited since it was submitted.",
            value=max(age, 0.0),
        )

    def _counters(self) -> Iterator[Metric]:
        values = dict(
            Counter.objects.filter(name__in=[LEASE_RECOVERIES]).values_list("name", "value")
        )
        yield CounterMetricFamily(
            "bananasite_lease_recoveries",
            "Compositions the sweep gave back to the queue after their worker's lease ran out.",
            value=values.get(LEASE_RECOVERIES, 0),
        )

    def _refusals(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "bananasite_provider_refusals",
            "Compositions a provider refused to make (safety blocks).",
            labels=["provider"],
        )
        rows = ProviderRefusal.objects.order_by().values_list("provider").annotate(n=Count("id"))
        for provider, n in rows:
            family.add_metric([provider], n)
        yield family

    def _circuits(self) -> Iterator[Metric]:
        providers = list(settings.BANANASITE_PROVIDERS)
        breakers = {name: CircuitBreaker(name) for name in providers}
        keys = [f"{b.key}:opened" for b in breakers.values()] + [retries_key(p) for p in providers]
        found = cache.get_many(keys) if keys else {}  # one round trip for every provider
        circuit = GaugeMetricFamily(
            "bananasite_provider_circuit_state",
            "Each provider's circuit: 1 for its current state (closed, open, half_open).",
            labels=["provider", "state"],
        )
        retries = CounterMetricFamily(
            "bananasite_provider_retries",
            "Provider calls retried after a failure (counted in the shared cache).",
            labels=["provider"],
        )
        now = time.time()
        for name, breaker in breakers.items():
            opened_at = found.get(f"{breaker.key}:opened")
            if opened_at is None:
                state = "closed"
            elif now - opened_at < breaker.cooldown:
                state = "open"
            else:
                state = "half_open"  # the cooldown is over: the next call is a probe
            for candidate in ("closed", "open", "half_open"):
                circuit.add_metric([name, candidate], 1 if candidate == state else 0)
            retries.add_metric([name], found.get(retries_key(name), 0))
        yield circuit
        yield retries

    def _credits(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "bananasite_credits",
            "Credits held at submit (reserved), charged (captured) and given back (released).",
            labels=["kind"],
        )
        sums = dict(
            LedgerEntry.objects.order_by()
            .filter(kind__in=list(CREDIT_KINDS))
            .values_list("kind")
            .annotate(total=Sum("amount"))
        )
        for kind, name in CREDIT_KINDS.items():
            # A reserve or capture takes credits (a negative amount); report sizes.
            family.add_metric([name], abs(sums.get(kind) or 0))
        yield family

    def _webhooks(self) -> Iterator[Metric]:
        deliveries = GaugeMetricFamily(
            "bananasite_webhook_deliveries",
            "Webhook deliveries kept, by status (pending, succeeded, failed).",
            labels=["status"],
        )
        attempts = GaugeMetricFamily(
            "bananasite_webhook_delivery_attempts",
            "Attempts made for the webhook deliveries kept, by status.",
            labels=["status"],
        )
        rows = (
            WebhookDelivery.objects.order_by()
            .values_list("status")
            .annotate(n=Count("id"), tries=Sum("attempts"))
        )
        found = {status: (n, tries or 0) for status, n, tries in rows}
        for status in WebhookDelivery.Status.values:
            n, tries = found.get(status, (0, 0))
            deliveries.add_metric([status], n)
            attempts.add_metric([status], tries)
        yield deliveries
        yield attempts


def render_metrics() -> bytes:
    """The text exposition: this process's (or, under gunicorn, every worker's) request
    latency, then the database figures."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Each gunicorn worker writes its samples to files in that directory; this sums them.
        process_registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(process_registry)
        own = generate_latest(process_registry)
    else:
        own = generate_latest(REGISTRY)
    return own + database_figures()


DATABASE_FIGURES_KEY = "ops:metrics:database"


def database_figures() -> bytes:
    """The database's figures, counted at most once per BANANASITE_METRICS_DB_SECONDS for every
    process and scraper together (they scan whole tables; several Prometheus replicas scraping
    every 15 s would otherwise repeat the scans). Their age is judged by the time they were made,
    kept beside them (the cache's own expiry is only the backstop)."""
    seconds = settings.BANANASITE_METRICS_DB_SECONDS
    if seconds:
        kept = cache.get(DATABASE_FIGURES_KEY)
        if kept is not None and 0 <= time.time() - kept[0] < seconds:
            return kept[1]
    shared = CollectorRegistry(auto_describe=False)
    shared.register(DatabaseCollector())
    figures = generate_latest(shared)
    if seconds:
        cache.set(DATABASE_FIGURES_KEY, (time.time(), figures), seconds)
    return figures
