"""Health routing: which of the providers serving a model makes this composition.

Every provider call is counted in the shared cache (Redis in production, so every worker
process sees every other's calls) in buckets of BUCKET_SECONDS: calls, errors and a latency
histogram. Ranking reads the buckets of the last BANANASITE_ROUTING_WINDOW_SECONDS in one
`get_many`, so it costs one cache round trip per composition.

Each candidate route (circuit not open, can take the inputs) gets a score, lower is better:

    error_rate × w_error_rate + p95 / BANANASITE_ROUTING_LATENCY_SECONDS × w_latency
        + price / dearest candidate's price × w_price

A provider without calls in the window is scored on price alone: a newcomer gets traffic, and
a provider that degraded gets traffic back once its bad calls have left the window (that next
call is its probe; if it fails the fallback still follows and the provider is avoided for
another window). Ties keep the catalogue's order. The counters are hand-written because the cache's
atomic `incr` is all they need; a metrics library would not give cross-process reads."""

import time
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.cache import cache

from .catalog import ModelSpec, Route
from .providers.http import CircuitBreaker

BUCKET_SECONDS = 10
# Upper edges of the latency histogram, in seconds; the last bin is "longer".
LATENCY_EDGES = (0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300)


def _bin(seconds: float) -> int:
    return next((i for i, edge in enumerate(LATENCY_EDGES) if seconds <= edge), len(LATENCY_EDGES))


def _key(provider: str, bucket: int, what: str) -> str:
    return f"health:{provider}:{bucket}:{what}"


def _incr(key: str) -> None:
    ttl = settings.BANANASITE_ROUTING_WINDOW_SECONDS + 2 * BUCKET_SECONDS
    cache.add(key, 0, ttl)
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, ttl)


def record_call(provider: str, *, ok: bool, seconds: float, now: float | None = None) -> None:
    """Count one call to a provider: whether it answered, and how long it took."""
    bucket = int((time.time() if now is None else now) // BUCKET_SECONDS)
    _incr(_key(provider, bucket, "calls"))
    if not ok:
        _incr(_key(provider, bucket, "errors"))
    _incr(_key(provider, bucket, f"lat{_bin(seconds)}"))


def health(providers: list[str], *, now: float | None = None) -> dict[str, dict[str, Any]]:
    """Calls, error rate and p95 latency per provider over the window."""
    current = int((time.time() if now is None else now) // BUCKET_SECONDS)
    buckets = range(
        current - settings.BANANASITE_ROUTING_WINDOW_SECONDS // BUCKET_SECONDS + 1, current + 1
    )
    names = ["calls", "errors", *(f"lat{i}" for i in range(len(LATENCY_EDGES) + 1))]
    keys = [_key(p, b, n) for p in providers for b in buckets for n in names]
    values = cache.get_many(keys)
    out = {}
    for p in providers:
        count = {n: sum(values.get(_key(p, b, n), 0) for b in buckets) for n in names}
        calls = count["calls"]
        p95 = None
        if calls:
            seen, target = 0, 0.95 * calls
            for i in range(len(LATENCY_EDGES) + 1):
                seen += count[f"lat{i}"]
                if seen >= target:
                    p95 = LATENCY_EDGES[min(i, len(LATENCY_EDGES) - 1)]
                    break
        out[p] = {
            "calls": calls,
            "errors": count["errors"],
            "error_rate": round(count["errors"] / calls, 3) if calls else None,
            "p95_seconds": p95,
        }
    return out


def _price(route: Route, image_size: str) -> Decimal:
    try:
        return Decimal(str(route.usd_per_image.get(image_size, 0)))
    except InvalidOperation:
        return Decimal(0)


def rank(
    model: ModelSpec, routes: list[Route], *, image_size: str, now: float | None = None
) -> tuple[list[Route], dict[str, Any]]:
    """`routes` best first, and why: each candidate's figures and score, the weights, and the
    routes left out because their circuit is open."""
    weights = settings.BANANASITE_ROUTING_WEIGHTS
    figures = health([r.provider for r in routes], now=now)
    dearest = max((_price(r, image_size) for r in routes), default=Decimal(0))
    scored = []
    for order, route in enumerate(routes):
        f = figures[route.provider]
        price = _price(route, image_size)
        parts = {
            "error_rate": f["error_rate"] or 0.0,
            "latency": (f["p95_seconds"] or 0) / settings.BANANASITE_ROUTING_LATENCY_SECONDS,
            "price": float(price / dearest) if dearest else 0.0,
        }
        score = round(sum(weights.get(k, 0.0) * v for k, v in parts.items()), 4)
        scored.append((score, order, route, {**f, "usd_per_image": str(price), "score": score}))
    scored.sort(key=lambda s: (s[0], s[1]))
    offered = {r.provider for r in routes}
    reason = {
        "chosen": scored[0][2].provider if scored else None,
        "candidates": {route.provider: info for _s, _o, route, info in scored},
        "weights": dict(weights),
        "window_seconds": settings.BANANASITE_ROUTING_WINDOW_SECONDS,
        "open_circuits": [
            r.provider
            for r in model.routes
            if r.provider not in offered
            and r.provider != "local"
            and CircuitBreaker(r.provider).is_open()
        ],
    }
    return [s[2] for s in scored], reason
