"""Health routing: traffic follows error rate, p95 latency and price, and comes back.

A simulated clock (`now`, seconds) drives `routing.rank` and `routing.record_call`, the two
calls the pipeline makes per composition; fake providers answer with a set speed and success
until the test degrades them. One composition arrives every 5 seconds."""

import pytest

from compositions import routing
from compositions.catalog import ModelSpec, Route
from compositions.providers.http import CircuitBreaker

FAST = Route("gemini", "gemini-3.1-flash-image", 14, {"1K": "0.067"})
OTHER = Route("openrouter", "google/gemini-3.1-flash-image", 14, {"1K": "0.080"})
MODEL = ModelSpec(
    id="nano-banana-2",
    provider="gemini",
    name="NB2",
    provider_model=FAST.provider_model,
    max_images=14,
    image_sizes=("1K",),
    aspect_ratios=("1:1",),
    credits_per_image={"1K": 6},
    routes=(FAST, OTHER),
)


class Fake:
    def __init__(self, seconds):
        self.seconds, self.fails = seconds, False


def run(fakes, start, end, step=5):
    """Compositions from `start` to `end`: each ranks, calls the best and falls back to the
    next on failure, as pipeline.generate does. Returns {time: provider that was chosen}."""
    chosen = {}
    for now in range(start, end, step):
        routes, reason = routing.rank(MODEL, [FAST, OTHER], image_size="1K", now=now)
        chosen[now] = reason["chosen"]
        assert routes[0].provider == reason["chosen"]
        for route in routes:
            fake = fakes[route.provider]
            routing.record_call(route.provider, ok=not fake.fails, seconds=fake.seconds, now=now)
            if not fake.fails:
                break
    return chosen


@pytest.fixture
def fakes(settings):
    settings.BANANASITE_ROUTING_WINDOW_SECONDS = 60
    return {"gemini": Fake(3), "openrouter": Fake(6)}


def test_traffic_leaves_a_provider_that_fails_within_a_minute_and_returns_when_it_recovers(
    fakes,
):
    start = 1_800_000_000
    assert set(run(fakes, start, start + 120).values()) == {"gemini"}  # cheaper and faster

    fakes["gemini"].fails = True
    degraded = run(fakes, start + 120, start + 300)
    moved = min(t for t, p in degraded.items() if p == "openrouter")
    assert moved - (start + 120) <= 60
    # Once moved, most traffic stays away; the odd composition probes gemini when its errors
    # have left the window, and falls back to openrouter when the probe fails.
    late = [p for t, p in degraded.items() if t >= moved]
    assert late.count("openrouter") >= 0.8 * len(late)

    fakes["gemini"].fails = False  # recovered
    recovered = run(fakes, start + 300, start + 480)
    back = min(t for t, p in recovered.items() if p == "gemini" and t >= start + 300)
    assert back - (start + 300) <= 60 + routing.BUCKET_SECONDS
    assert all(p == "gemini" for t, p in recovered.items() if t >= back)


def test_traffic_leaves_a_provider_that_slows_down_and_returns_when_it_is_fast_again(fakes):
    start = 1_800_000_000
    run(fakes, start, start + 120)
    fakes["gemini"].seconds = 90  # three times the latency unit: dearer than the price gap
    slow = run(fakes, start + 120, start + 240)
    moved = min(t for t, p in slow.items() if p == "openrouter")
    assert moved - (start + 120) <= 60
    late = [p for t, p in slow.items() if t >= moved]
    assert late.count("openrouter") >= 0.8 * len(late)

    fakes["gemini"].seconds = 3
    fast = run(fakes, start + 240, start + 420)
    back = min(t for t, p in fast.items() if p == "gemini")
    assert back - (start + 240) <= 60 + routing.BUCKET_SECONDS


def test_the_reason_names_the_figures_weights_and_open_circuits(fakes, settings):
    now = 1_800_000_000
    for _ in range(5):
        routing.record_call("gemini", ok=True, seconds=1.5, now=now)
    routing.record_call("gemini", ok=False, seconds=10, now=now)
    breaker = CircuitBreaker("openrouter")
    for _ in range(breaker.threshold):
        breaker.record_failure()
    routes, reason = routing.rank(MODEL, [FAST], image_size="1K", now=now)
    assert routes == [FAST] and reason["chosen"] == "gemini"
    gemini = reason["candidates"]["gemini"]
    assert gemini["calls"] == 6 and gemini["errors"] == 1 and gemini["error_rate"] == 0.167
    assert gemini["p95_seconds"] == 15  # one call of six took 10 s: the histogram's 15 s bin
    assert gemini["usd_per_image"] == "0.067"
    assert reason["weights"] == settings.BANANASITE_ROUTING_WEIGHTS
    assert reason["open_circuits"] == ["openrouter"]


def test_operator_weights_decide_between_price_and_speed(fakes, settings):
    now = 1_800_000_000
    for _ in range(5):
        routing.record_call("gemini", ok=True, seconds=60, now=now)  # slow but cheaper
        routing.record_call("openrouter", ok=True, seconds=1, now=now)
    settings.BANANASITE_ROUTING_WEIGHTS = {"error_rate": 4, "latency": 1, "price": 1}
    assert routing.rank(MODEL, [FAST, OTHER], image_size="1K", now=now)[1]["chosen"] == "openrouter"
    settings.BANANASITE_ROUTING_WEIGHTS = {"error_rate": 4, "latency": 0, "price": 1}
    assert routing.rank(MODEL, [FAST, OTHER], image_size="1K", now=now)[1]["chosen"] == "gemini"
