"""/metrics: closed to the public, and a composition moving through the pipeline moves it."""

import time
from datetime import timedelta
from ipaddress import ip_network

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from compositions.models import Composition
from compositions.providers.http import count_retry
from compositions.tasks import run_composition, sweep_compositions
from compositions.tests.factories import compose
from moderation.models import ProviderRefusal
from webhooks.models import Webhook, WebhookDelivery


@pytest.fixture(autouse=True)
def _fresh_figures(settings):
    """Each scrape recounts, so a test sees its own changes at once (one test keeps them)."""
    settings.BANANASITE_METRICS_DB_SECONDS = 0


def scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics, keyed by its name and sorted labels."""
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


LOCAL = {"status": "succeeded", "model": "local", "provider": "local", "error_code": ""}


# --- A composition moves the counters --------------------------------------------------------


@pytest.mark.django_db
def test_a_composition_through_the_pipeline_moves_the_counters(client, owner):
    before = scrape(client)
    composition = compose(owner)

    queued = scrape(client)
    assert value(queued, "bananasite_queue_depth") == 1
    assert value(queued, "bananasite_queue_oldest_age_seconds") >= 0
    assert value(queued, "bananasite_compositions", **{**LOCAL, "status": "queued"}) == 1
    reserved = value(queued, "bananasite_credits_total", kind="reserved")
    assert reserved == value(before, "bananasite_credits_total", kind="reserved") + 1

    assert run_composition(composition.public_id) == "succeeded"
    after = scrape(client)
    assert value(after, "bananasite_queue_depth") == 0
    assert value(after, "bananasite_compositions", **{**LOCAL, "status": "queued"}) == 0
    assert value(after, "bananasite_compositions", **LOCAL) == 1
    # The provider call's time, from the composition's own timestamps.
    assert value(after, "bananasite_provider_latency_seconds_count", provider="local") == 1
    assert (
        value(after, "bananasite_provider_latency_seconds_bucket", provider="local", le="+Inf") == 1
    )
    composition.refresh_from_db()
    took = (composition.provider_finished_at - composition.provider_started_at).total_seconds()
    assert value(after, "bananasite_provider_latency_seconds_sum", provider="local") == (
        pytest.approx(took, abs=1e-6)
    )
    # The hold is released and the delivered image captured.
    assert value(after, "bananasite_credits_total", kind="captured") == 1
    assert value(after, "bananasite_credits_total", kind="released") == 1


@pytest.mark.django_db
def test_a_failed_composition_is_counted_by_its_error_code(client, owner, monkeypatch):
    from compositions import pipeline
    from compositions.providers.base import ProviderSafetyBlock

    def refuse(*args, **kwargs):
        raise ProviderSafetyBlock()

    monkeypatch.setattr(pipeline, "generate", refuse)
    composition = compose(owner)
    assert run_composition(composition.public_id) == "provider_safety_block"
    samples = scrape(client)
    failed = {**LOCAL, "status": "failed", "error_code": "provider_safety_block"}
    assert value(samples, "bananasite_compositions", **failed) == 1
    assert value(samples, "bananasite_provider_refusals_total", provider="local") == 1
    assert value(samples, "bananasite_credits_total", kind="captured") == 0
    assert value(samples, "bananasite_credits_total", kind="released") == 1


@pytest.mark.django_db
def test_the_sweep_s_lease_recoveries_are_counted_in_the_database(client, owner):
    composition = compose(owner)
    assert composition.claim()
    Composition.objects.filter(pk=composition.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert value(scrape(client), "bananasite_lease_recoveries_total") == 0
    assert sweep_compositions()["requeued"] == 1
    assert value(scrape(client), "bananasite_lease_recoveries_total") == 1


@pytest.mark.django_db
def test_retries_and_circuit_state_per_provider(client, settings):
    settings.BANANASITE_PROVIDERS = {"gemini": {"api_key": "k"}, "openrouter": {"api_key": "k"}}
    count_retry("gemini")
    count_retry("gemini")
    cache.set("circuit:openrouter:opened", time.time(), timeout=3600)
    samples = scrape(client)
    assert value(samples, "bananasite_provider_retries_total", provider="gemini") == 2
    assert value(samples, "bananasite_provider_retries_total", provider="openrouter") == 0
    assert (
        value(samples, "bananasite_provider_circuit_state", provider="gemini", state="closed") == 1
    )
    assert (
        value(samples, "bananasite_provider_circuit_state", provider="openrouter", state="open")
        == 1
    )
    assert (
        value(samples, "bananasite_provider_circuit_state", provider="openrouter", state="closed")
        == 0
    )

    # After the cooldown the next call is a probe: half open.
    cache.set("circuit:openrouter:opened", time.time() - 10_000, timeout=3600)
    samples = scrape(client)
    assert (
        value(
            samples, "bananasite_provider_circuit_state", provider="openrouter", state="half_open"
        )
        == 1
    )


@pytest.mark.django_db
def test_webhook_deliveries_and_failures(client, owner):
    hook = Webhook.objects.create(
        workspace=owner.current_workspace, url="https://example.com/h", events=["*"], secret="s"
    )
    WebhookDelivery.objects.create(
        webhook=hook, event="e", payload={}, status="succeeded", attempts=1
    )
    WebhookDelivery.objects.create(webhook=hook, event="e", payload={}, status="failed", attempts=5)
    samples = scrape(client)
    assert value(samples, "bananasite_webhook_deliveries", status="succeeded") == 1
    assert value(samples, "bananasite_webhook_deliveries", status="failed") == 1
    assert value(samples, "bananasite_webhook_deliveries", status="pending") == 0
    assert value(samples, "bananasite_webhook_delivery_attempts", status="failed") == 5


@pytest.mark.django_db
def test_request_latency_is_measured_by_view_name_not_path(client, owner_client):
    owner_client.get("/")
    owner_client.get("/no-such-page-here")
    samples = scrape(client)
    home = [
        count
        for (name, labels), count in samples.items()
        if name == "bananasite_request_duration_seconds_count"
        and ("view", "compositions:home") in labels
        and ("method", "GET") in labels
    ]
    assert sum(home) >= 1
    unmatched = {"view": "unmatched", "method": "GET", "status": "4xx"}
    assert value(samples, "bananasite_request_duration_seconds_count", **unmatched) >= 1
    assert not any("no-such-page" in str(labels) for _, labels in samples)


# --- Closed to the public --------------------------------------------------------------------


@pytest.mark.django_db
def test_metrics_answer_loopback_only_by_default(client):
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
    outside = client.get("/metrics", REMOTE_ADDR="203.0.113.9")
    assert outside.status_code == 404
    assert b"bananasite_" not in outside.content


@pytest.mark.django_db
def test_metrics_need_the_token_when_one_is_set(client, settings):
    settings.BANANASITE_METRICS_TOKEN = "s3cret-scrape-token"
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Basic s3cret-scrape-token").status_code == 404
    ok = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token")
    assert ok.status_code == 200 and b"bananasite_queue_depth" in ok.content
    # The token does not open the door to an address outside the allow-list.
    outside = client.get(
        "/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token"
    )
    assert outside.status_code == 404


@pytest.mark.django_db
def test_an_allow_list_of_networks_and_any_address_with_a_token(client, settings):
    settings.BANANASITE_METRICS_ALLOW = [ip_network("10.1.0.0/16")]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::ffff:10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.2.0.1").status_code == 404
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 404

    settings.BANANASITE_METRICS_ALLOW = None  # `any`: the token alone decides
    settings.BANANASITE_METRICS_TOKEN = "tok"
    assert client.get("/metrics", REMOTE_ADDR="198.51.100.7").status_code == 404
    auth = {"HTTP_AUTHORIZATION": "Bearer tok"}
    assert client.get("/metrics", REMOTE_ADDR="198.51.100.7", **auth).status_code == 200


def test_metrics_allow_any_without_a_token_stops_the_start():
    import subprocess
    import sys

    env = {"BANANASITE_METRICS_ALLOW": "any", "DJANGO_SETTINGS_MODULE": "bananasite.settings"}
    code = "import django; django.setup()"
    import os

    run = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True
    )
    assert run.returncode != 0
    assert "BANANASITE_METRICS_ALLOW=any needs BANANASITE_METRICS_TOKEN" in run.stderr


# --- A scrape costs a fixed number of queries ------------------------------------------------


def _scrape_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/metrics").status_code == 200
    return len(queries)


@pytest.mark.django_db
def test_a_scrape_costs_the_same_few_queries_however_much_there_is(client, owner, settings):
    settings.BANANASITE_PROVIDERS = {"gemini": {"api_key": "k"}}
    few = _scrape_queries(client)
    # Seven aggregate queries; the cache read is one more with the database cache (not here).
    assert few == 7

    for _ in range(3):
        run_composition(compose(owner).public_id)
    compose(owner)
    for n in range(5):
        ProviderRefusal.objects.create(user=owner, composition_id=f"cmp_{n}", provider=f"p{n}")
    Composition.objects.bulk_create(
        Composition(
            workspace=owner.current_workspace,
            prompt="p",
            model=f"model-{n % 7}",
            provider=f"provider-{n % 5}",
            status=["succeeded", "failed", "canceled"][n % 3],
            error_code="provider_timeout" if n % 3 == 1 else "",
            provider_started_at=timezone.now() - timedelta(seconds=n % 40),
            provider_finished_at=timezone.now(),
        )
        for n in range(300)
    )
    assert _scrape_queries(client) == few


@pytest.mark.django_db
def test_a_scrape_through_a_proxy_needs_the_token(client, settings):
    # Behind a reverse proxy on this machine every visitor arrives from loopback.
    settings.BANANASITE_METRICS_TOKEN = ""
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    proxied = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9"}
    assert client.get("/metrics", **proxied).status_code == 404
    settings.BANANASITE_METRICS_TOKEN = "tok"
    assert client.get("/metrics", **proxied, HTTP_AUTHORIZATION="Bearer tok").status_code == 200


@pytest.mark.django_db
def test_the_database_is_counted_once_per_interval_for_every_scraper(client, owner, settings):
    settings.BANANASITE_METRICS_DB_SECONDS = 10
    with time_machine.travel(timezone.now(), tick=False) as clock:
        assert value(scrape(client), "bananasite_queue_depth") == 0
        compose(owner)
        with CaptureQueriesContext(connection) as queries:
            kept = scrape(client)
        assert len(queries) == 0  # another scraper within 10 s: the cache's figures
        assert value(kept, "bananasite_queue_depth") == 0
        clock.shift(timedelta(seconds=11))
        assert value(scrape(client), "bananasite_queue_depth") == 1
