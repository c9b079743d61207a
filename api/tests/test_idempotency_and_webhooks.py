"""Idempotency keys, webhooks (checked with the independent `standardwebhooks` verifier) and
throttling."""

import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection
from rest_framework.test import APIClient
from standardwebhooks.webhooks import Webhook as StandardWebhook

from accounts.services import create_api_token
from compositions.models import Composition
from compositions.tasks import run_composition
from webhooks.models import WebhookDelivery
from webhooks.services import redeliver
from webhooks.tasks import deliver_due

from .api_clients import token_client
from .test_api import _file, assert_problem, compose_json, upload

client_for = token_client


# --- Idempotency -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_same_key_same_body_replays_the_first_response(owner):
    api = client_for(owner)
    ids = [upload(api), upload(api, "coffee.png")]
    body = {"prompt": "x", "inputs": [{"upload": i} for i in ids], "image_size": "512"}
    first = api.post("/api/v1/compositions", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = api.post("/api/v1/compositions", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert Composition.objects.count() == 1
    other = api.post(
        "/api/v1/compositions", {**body, "prompt": "y"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert_problem(other, 422, "idempotency_key_reused")
    assert Composition.objects.count() == 1


@pytest.mark.django_db
def test_keys_are_scoped_to_the_workspace(owner, stranger):
    mine, theirs = client_for(owner), client_for(stranger)
    a = mine.post(
        "/api/v1/uploads",
        {"file": _file("chelsea.png")},
        format="multipart",
        HTTP_IDEMPOTENCY_KEY="shared",
    )
    b = theirs.post(
        "/api/v1/uploads",
        {"file": _file("chelsea.png")},
        format="multipart",
        HTTP_IDEMPOTENCY_KEY="shared",
    )
    assert a.status_code == b.status_code == 201 and a.json()["id"] != b.json()["id"]


@pytest.mark.django_db
def test_a_refusal_is_not_kept_and_bad_keys_are_refused(owner):
    from api.models import IdempotencyKey

    api = client_for(owner)
    bad = {"prompt": "", "inputs": []}
    first = api.post("/api/v1/compositions", bad, format="json", HTTP_IDEMPOTENCY_KEY="e")
    assert first.status_code == 400
    assert not IdempotencyKey.objects.exists()  # nothing was created, so nothing is replayed
    again = api.post("/api/v1/compositions", bad, format="json", HTTP_IDEMPOTENCY_KEY="e")
    assert again.status_code == 400 and "Idempotent-Replayed" not in again
    assert_problem(
        api.post("/api/v1/compositions", bad, format="json", HTTP_IDEMPOTENCY_KEY="x" * 256),
        400,
        "invalid_request",
    )


def _composition_body(api):
    ids = [upload(api), upload(api, "coffee.png")]
    return {"prompt": "x", "inputs": [{"upload": i} for i in ids], "image_size": "512"}


@pytest.mark.django_db
def test_a_402_is_not_replayed_after_a_top_up(owner):
    from billing.models import Wallet
    from billing.services import adjust_credits, grant_credits

    api = client_for(owner)
    body = {**_composition_body(api), "num_images": 2}
    wallet = Wallet.objects.get(workspace=owner.current_workspace)
    adjust_credits(wallet=wallet, amount=-(wallet.balance - 1), reason="test")
    refused = api.post("/api/v1/compositions", body, format="json", HTTP_IDEMPOTENCY_KEY="buy")
    assert_problem(refused, 402, "insufficient_credits")
    grant_credits(wallet=wallet, amount=10, reason="top-up")
    created = api.post("/api/v1/compositions", body, format="json", HTTP_IDEMPOTENCY_KEY="buy")
    assert created.status_code == 202, created.content
    assert "Idempotent-Replayed" not in created
    replayed = api.post("/api/v1/compositions", body, format="json", HTTP_IDEMPOTENCY_KEY="buy")
    assert replayed["Idempotent-Replayed"] == "true"
    assert replayed.json()["id"] == created.json()["id"]
    assert Composition.objects.count() == 1


@pytest.mark.django_db
def test_a_429_is_not_replayed_after_the_quota_resets(owner):
    from datetime import timedelta

    import time_machine
    from django.utils import timezone

    from billing.models import Plan

    Plan.objects.filter(code="free").update(daily_images_per_member=1)
    api = client_for(owner)
    body = _composition_body(api)
    assert api.post("/api/v1/compositions", body, format="json").status_code == 202
    refused = api.post("/api/v1/compositions", body, format="json", HTTP_IDEMPOTENCY_KEY="day")
    assert_problem(refused, 429, "daily_quota_exceeded")
    retry_after = int(refused["Retry-After"])
    assert 0 < retry_after <= 24 * 3600
    # At midnight, sooner than the 24 hours after which any key is forgotten.
    with time_machine.travel(timezone.now() + timedelta(seconds=retry_after + 1)):
        later = api.post("/api/v1/compositions", body, format="json", HTTP_IDEMPOTENCY_KEY="day")
    assert later.status_code == 202, later.content
    assert Composition.objects.count() == 2


@pytest.mark.django_db
def test_a_key_whose_request_died_can_be_used_again_after_a_short_while(owner):
    from datetime import timedelta

    import time_machine
    from django.utils import timezone

    from api.idempotency import IDEMPOTENCY_PENDING_SECONDS
    from api.models import IdempotencyKey

    api = client_for(owner)
    body = {"file": _file("chelsea.png")}
    # The first request claimed the key and its process was killed before it answered.
    first = api.post("/api/v1/uploads", body, format="multipart", HTTP_IDEMPOTENCY_KEY="killed")
    record = IdempotencyKey.objects.get(key="killed")
    IdempotencyKey.objects.filter(pk=record.pk).update(response_status=None, response_body=None)
    in_flight = api.post(
        "/api/v1/uploads",
        {"file": _file("chelsea.png")},
        format="multipart",
        HTTP_IDEMPOTENCY_KEY="killed",
    )
    assert_problem(in_flight, 409, "idempotency_in_progress")
    later_moment = timezone.now() + timedelta(seconds=IDEMPOTENCY_PENDING_SECONDS + 1)
    with time_machine.travel(later_moment):
        retried = api.post(
            "/api/v1/uploads",
            {"file": _file("chelsea.png")},
            format="multipart",
            HTTP_IDEMPOTENCY_KEY="killed",
        )
        assert retried.status_code == 201, retried.content
        assert "Idempotent-Replayed" not in retried
        assert retried.json()["id"] != first.json()["id"]
        # From now on the key holds the new answer.
        replayed = api.post(
            "/api/v1/uploads",
            {"file": _file("chelsea.png")},
            format="multipart",
            HTTP_IDEMPOTENCY_KEY="killed",
        )
    assert replayed["Idempotent-Replayed"] == "true"
    assert replayed.json()["id"] == retried.json()["id"]


@pytest.mark.django_db
def test_a_refusal_kept_by_older_code_is_not_replayed(owner):
    from api.models import IdempotencyKey

    api = client_for(owner)
    body = _composition_body(api)
    created = api.post("/api/v1/compositions", body, format="json", HTTP_IDEMPOTENCY_KEY="old")
    IdempotencyKey.objects.filter(key="old").update(
        response_status=402, response_body={"code": "insufficient_credits"}
    )
    Composition.objects.all().delete()
    again = api.post("/api/v1/compositions", body, format="json", HTTP_IDEMPOTENCY_KEY="old")
    assert again.status_code == 202 and again.json()["id"] != created.json()["id"]


@pytest.mark.django_db
def test_a_key_is_forgotten_after_24_hours(owner):
    from datetime import timedelta

    import time_machine
    from django.utils import timezone

    api = client_for(owner)
    first = api.post(
        "/api/v1/uploads",
        {"file": _file("chelsea.png")},
        format="multipart",
        HTTP_IDEMPOTENCY_KEY="day",
    )
    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        later = api.post(
            "/api/v1/uploads",
            {"file": _file("coffee.png")},
            format="multipart",
            HTTP_IDEMPOTENCY_KEY="day",
        )
    assert later.status_code == 201 and later.json()["id"] != first.json()["id"]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_parallel_requests_with_one_key_create_one_composition(owner, settings):
    settings.BANANASITE_TASKS_SYNC = False
    api = client_for(owner)
    ids = [upload(api), upload(api, "coffee.png")]
    body = {"prompt": "x", "inputs": [{"upload": i} for i in ids], "image_size": "512"}
    token = api._credentials["HTTP_AUTHORIZATION"]
    barrier = threading.Barrier(6)

    def send(_):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=token)
        barrier.wait()
        try:
            return client.post(
                "/api/v1/compositions", body, format="json", HTTP_IDEMPOTENCY_KEY="race"
            )
        finally:
            connection.close()

    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(send, range(6)))
    statuses = sorted(r.status_code for r in responses)
    assert Composition.objects.count() == 1
    assert set(statuses) <= {202, 409} and 202 in statuses, statuses
    created = {r.json()["id"] for r in responses if r.status_code == 202}
    assert len(created) == 1
    for r in responses:
        if r.status_code == 409:
            assert r.json()["code"] == "idempotency_in_progress"


# --- Webhooks --------------------------------------------------------------------------------


class Receiver(BaseHTTPRequestHandler):
    received: list = []
    answer = 200

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append({"headers": dict(self.headers), "body": body})
        self.send_response(Receiver.answer)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver(settings):
    """A webhook endpoint on loopback; the operator allowlist lets the fetcher reach it."""
    Receiver.received, Receiver.answer = [], 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    settings.BANANASITE_FETCH_ALLOW_NETWORKS = ["127.0.0.1/32"]
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.mark.django_db
def test_webhook_delivery_is_signed_per_standard_webhooks(
    owner, receiver, django_capture_on_commit_callbacks
):
    api = client_for(owner)
    created = api.post(
        "/api/v1/webhooks",
        {"url": f"{receiver}/bananasite", "events": ["composition.succeeded"]},
        format="json",
    )
    assert created.status_code == 201, created.content
    secret = created.json()["secret"]
    assert secret.startswith("whsec_")
    assert "secret" not in api.get("/api/v1/webhooks").json()[0]

    with django_capture_on_commit_callbacks(execute=True):
        composition_id = compose_json(api).json()["id"]
    with django_capture_on_commit_callbacks(execute=True):
        run_composition(composition_id)
    [call] = Receiver.received
    headers = {k.lower(): v for k, v in call["headers"].items()}
    payload = StandardWebhook(secret).verify(
        call["body"], headers
    )  # raises if the signature is bad
    assert payload["type"] == "composition.succeeded"
    assert payload["data"]["id"] == composition_id and payload["data"]["status"] == "succeeded"
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "succeeded" and delivery.attempts == 1
    assert headers["webhook-id"] == delivery.public_id
    with pytest.raises(Exception):  # noqa: B017 (any verification error will do)
        StandardWebhook("whsec_" + "A" * 43 + "=").verify(call["body"], headers)


@pytest.mark.django_db
def test_failed_deliveries_are_retried_with_backoff_then_redelivered(
    owner, receiver, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    import time_machine
    from django.utils import timezone

    api = client_for(owner)
    api.post(
        "/api/v1/webhooks",
        {"url": f"{receiver}/h", "events": ["composition.canceled"]},
        format="json",
    )
    Receiver.answer = 500
    composition_id = compose_json(api).json()["id"]
    with django_capture_on_commit_callbacks(execute=True):
        api.post(f"/api/v1/compositions/{composition_id}/cancel")
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending" and delivery.attempts == 1
    assert delivery.last_status_code == 500 and "500" in delivery.last_error
    assert deliver_due() == 0  # not due yet: the next try is a minute away
    Receiver.answer = 204
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        assert deliver_due() == 1
    delivery.refresh_from_db()
    assert delivery.status == "succeeded" and delivery.attempts == 2
    with django_capture_on_commit_callbacks(execute=True):
        redeliver(delivery=delivery)
    delivery.refresh_from_db()
    assert delivery.attempts == 1 and len(Receiver.received) == 3  # a fresh round


@pytest.mark.django_db
def test_webhooks_need_an_admin_and_a_public_url(owner, make_user, settings):
    from accounts.models import Membership

    api = client_for(owner)
    refused = api.post(
        "/api/v1/webhooks",
        {"url": "http://169.254.169.254/latest", "events": ["composition.failed"]},
        format="json",
    )
    assert_problem(refused, 400, "invalid_request")
    mate = make_user("mate@example.com")
    Membership.objects.create(workspace=owner.current_workspace, user=mate, role="member")
    raw = create_api_token(workspace=owner.current_workspace, user=mate, name="m")[1]
    mate_api = APIClient()
    mate_api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert_problem(mate_api.get("/api/v1/webhooks"), 403, "permission_denied")


# --- Throttling ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_requests_are_throttled_per_token(owner, settings):
    from rest_framework.throttling import SimpleRateThrottle

    original = SimpleRateThrottle.THROTTLE_RATES
    rates = {**original, "api": "3/minute"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    SimpleRateThrottle.THROTTLE_RATES = rates
    try:
        first, second = client_for(owner), client_for(owner)
        for _ in range(3):
            assert first.get("/api/v1/me").status_code == 200
        limited = first.get("/api/v1/me")
        assert_problem(limited, 429, "rate_limited")
        assert int(limited["Retry-After"]) > 0
        assert second.get("/api/v1/me").status_code == 200  # another token has its own budget
    finally:
        SimpleRateThrottle.THROTTLE_RATES = original


@pytest.mark.django_db
def test_expired_keys_are_purged_by_the_hourly_task(owner):
    from datetime import timedelta

    import time_machine
    from django.utils import timezone
    from django_q.models import Schedule

    from api.models import IdempotencyKey
    from api.tasks import purge_idempotency_keys

    api = client_for(owner)
    api.post(
        "/api/v1/uploads",
        {"file": _file("chelsea.png")},
        format="multipart",
        HTTP_IDEMPOTENCY_KEY="old",
    )
    with time_machine.travel(timezone.now() + timedelta(hours=23)):
        assert purge_idempotency_keys() == 0
    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        assert purge_idempotency_keys() == 1
    assert not IdempotencyKey.objects.exists()
    assert Schedule.objects.filter(func="api.tasks.purge_idempotency_keys").exists()


@pytest.mark.django_db
def test_the_hourly_task_also_forgets_keys_whose_request_died(owner):
    from datetime import timedelta

    import time_machine
    from django.utils import timezone

    from api.idempotency import IDEMPOTENCY_PENDING_SECONDS
    from api.models import IdempotencyKey
    from api.tasks import purge_idempotency_keys

    IdempotencyKey.objects.create(workspace=owner.current_workspace, key="dead", fingerprint="f")
    assert purge_idempotency_keys() == 0
    later = timezone.now() + timedelta(seconds=IDEMPOTENCY_PENDING_SECONDS + 1)
    with time_machine.travel(later):
        assert purge_idempotency_keys() == 1
