"""Stripe Checkout and its webhook, with real signed payloads and a local fake of Stripe's API."""

import hashlib
import hmac
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from django.urls import reverse

from billing.models import LedgerEntry, Purchase, StripeEvent, Wallet

pytestmark = pytest.mark.django_db

SECRET = "whsec_test_secret"
WEBHOOK = reverse("billing:stripe_webhook")


@pytest.fixture
def stripe_settings(settings):
    settings.STRIPE_SECRET_KEY = "sk_test_123"
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    return settings


def signed(payload: dict, *, secret=SECRET, timestamp=None) -> tuple[bytes, str]:
    """Sign like Stripe does: HMAC-SHA256 over "timestamp.payload", header t=...,v1=..."""
    body = json.dumps(payload).encode()
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return body, f"t={timestamp},v1={mac}"


@pytest.fixture
def purchase(owner):
    """What the buy view records when it creates the Checkout Session cs_test_1."""
    return Purchase.objects.create(
        session_id="cs_test_1",
        wallet=Wallet.objects.get(workspace=owner.current_workspace),
        pack="pack-100",
        name="100 credits",
        credits=100,
        amount=500,
        currency="usd",
        created_by=owner,
    )


def session_event(workspace, *, event_id="evt_1", kind="checkout.session.completed", **session):
    obj = {
        "id": "cs_test_1",
        "object": "checkout.session",
        "payment_status": "paid",
        "amount_total": 500,
        "currency": "usd",
        "metadata": {"workspace": workspace.public_id, "pack": "pack-100", "credits": "100"},
    }
    obj.update(session)
    return {"id": event_id, "object": "event", "type": kind, "data": {"object": obj}}


def deliver(client, payload, **sign_kwargs):
    body, header = signed(payload, **sign_kwargs)
    return client.post(
        WEBHOOK, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )


def balance(user):
    return Wallet.objects.get(workspace=user.current_workspace).balance


def test_a_paid_checkout_credits_the_pack_once(client, owner, stripe_settings, purchase):
    event = session_event(owner.current_workspace)
    response = deliver(client, event)
    assert response.status_code == 200 and response.content == b"credited"
    assert balance(owner) == 150
    entry = LedgerEntry.objects.get(kind="purchase")
    assert entry.amount == 100 and entry.reference == "stripe:cs_test_1"
    purchase.refresh_from_db()
    assert purchase.status == "credited" and purchase.credited_at is not None
    # Stripe redelivers the same event: nothing more.
    assert deliver(client, event).content == b"duplicate"
    # A second event about the same payment (async confirmation): still nothing more.
    later = session_event(
        owner.current_workspace, event_id="evt_2", kind="checkout.session.async_payment_succeeded"
    )
    assert deliver(client, later).content == b"duplicate"
    assert balance(owner) == 150
    assert StripeEvent.objects.count() == 2


def test_async_payment_credits_when_it_succeeds_not_before(
    client, owner, stripe_settings, purchase
):
    pending = session_event(owner.current_workspace, payment_status="unpaid")
    assert deliver(client, pending).content == b"not paid yet"
    assert balance(owner) == 50
    paid = session_event(
        owner.current_workspace, event_id="evt_9", kind="checkout.session.async_payment_succeeded"
    )
    assert deliver(client, paid).content == b"credited"
    assert balance(owner) == 150


@pytest.mark.parametrize(
    "sign_kwargs",
    [{"secret": "whsec_wrong"}, {"timestamp": int(time.time()) - 3600}],
    ids=["wrong secret", "stale timestamp"],
)
def test_forged_or_replayed_deliveries_are_refused(client, owner, stripe_settings, sign_kwargs):
    response = deliver(client, session_event(owner.current_workspace), **sign_kwargs)
    assert response.status_code == 400
    assert balance(owner) == 50
    assert not StripeEvent.objects.exists()


def test_a_pack_repriced_or_removed_after_checkout_still_credits_what_was_sold(
    client, owner, stripe_settings, purchase
):
    stripe_settings.BANANASITE_CREDIT_PACKS = [
        {"id": "pack-100", "credits": 80, "amount": 700, "name": "80 credits"}
    ]
    response = deliver(client, session_event(owner.current_workspace))
    assert response.status_code == 200 and response.content == b"credited"
    assert balance(owner) == 150  # the 100 credits bought for 500, as recorded
    stripe_settings.BANANASITE_CREDIT_PACKS = []
    Purchase.objects.create(
        session_id="cs_test_2",
        wallet=purchase.wallet,
        pack="pack-500",
        name="500 credits",
        credits=500,
        amount=2000,
        currency="usd",
    )
    later = session_event(owner.current_workspace, event_id="evt_2", id="cs_test_2")
    later["data"]["object"].update(amount_total=2000, metadata={"pack": "pack-500"})
    assert deliver(client, later).content == b"credited"
    assert balance(owner) == 650


@pytest.mark.parametrize(
    "paid",
    [{"amount_total": 1}, {"currency": "eur"}, {"id": "cs_test_unknown"}],
    ids=["other amount", "other currency", "no record"],
)
def test_a_paid_session_that_cannot_be_credited_as_sold_is_retried_and_logged(
    client, owner, stripe_settings, purchase, caplog, paid
):
    event = session_event(owner.current_workspace, **paid)
    with caplog.at_level(logging.ERROR, logger="billing.payments"):
        response = deliver(client, event)
    # 5xx: Stripe retries for days while a person looks at the error.
    assert response.status_code == 500 and response.content == b"unmatched"
    assert balance(owner) == 50
    assert not StripeEvent.objects.exists()  # the retry is handled afresh
    purchase.refresh_from_db()
    assert purchase.status == "open"
    [record] = [r for r in caplog.records if r.name == "billing.payments"]
    message = record.getMessage()
    assert event["data"]["object"]["id"] in message
    assert "sk_test_123" not in message and SECRET not in message
    assert owner.email not in message


def test_other_events_are_acknowledged_and_ignored(client, owner, stripe_settings):
    event = {"id": "evt_x", "object": "event", "type": "customer.created", "data": {"object": {}}}
    assert deliver(client, event).content == b"ignored"


def test_the_webhook_is_absent_when_stripe_is_not_configured(client, owner):
    assert deliver(client, session_event(owner.current_workspace)).status_code == 404


def test_usage_page_says_purchases_are_not_configured(owner_client):
    html = owner_client.get(reverse("billing:usage")).content.decode()
    assert "Purchases are not configured on this site." in html


class FakeStripe(BaseHTTPRequestHandler):
    """Stripe's API for one call: POST /v1/checkout/sessions."""

    requests: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        FakeStripe.requests.append(
            {"path": self.path, "auth": self.headers["Authorization"], "form": parse_qs(body)}
        )
        reply = json.dumps(
            {
                "id": "cs_test_fake",
                "object": "checkout.session",
                "url": "https://checkout.stripe.com/c/pay/cs_test_fake",
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_stripe(stripe_settings):
    FakeStripe.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeStripe)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    stripe_settings.STRIPE_API_BASE = f"http://127.0.0.1:{server.server_port}"
    yield FakeStripe.requests
    server.shutdown()


def test_buying_a_pack_starts_a_checkout_with_the_right_price(owner, owner_client, fake_stripe):
    response = owner_client.post(reverse("billing:buy"), {"pack": "pack-500"})
    assert response.status_code == 302
    assert response["Location"] == "https://checkout.stripe.com/c/pay/cs_test_fake"
    [call] = fake_stripe
    form = call["form"]
    assert call["path"] == "/v1/checkout/sessions" and call["auth"] == "Bearer sk_test_123"
    assert form["mode"] == ["payment"]
    assert form["line_items[0][price_data][unit_amount]"] == ["2000"]
    assert form["metadata[workspace]"] == [owner.current_workspace.public_id]
    assert form["metadata[pack]"] == ["pack-500"]
    assert form["success_url"][0].endswith("/billing/usage/?purchase=success")
    assert balance(owner) == 50  # nothing is credited until Stripe confirms the payment
    bought = Purchase.objects.get()
    assert (bought.session_id, bought.pack, bought.credits, bought.amount, bought.currency) == (
        "cs_test_fake",
        "pack-500",
        500,
        2000,
        "usd",
    )
    assert bought.wallet.workspace == owner.current_workspace and bought.status == "open"
    assert bought.created_by == owner


def test_a_checkout_started_here_is_credited_when_paid(client, owner, owner_client, fake_stripe):
    owner_client.post(reverse("billing:buy"), {"pack": "pack-500"})
    paid = session_event(owner.current_workspace, id="cs_test_fake", amount_total=2000)
    assert deliver(client, paid).content == b"credited"
    assert balance(owner) == 550


def test_an_unknown_pack_is_refused(owner_client, fake_stripe):
    response = owner_client.post(reverse("billing:buy"), {"pack": "pack-free-money"}, follow=True)
    assert "Choose one of the credit packs." in response.content.decode()
    assert fake_stripe == [] and not Purchase.objects.exists()
