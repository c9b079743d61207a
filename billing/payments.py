"""Buying credit packs with Stripe Checkout, and the webhook that credits them exactly once."""

import logging
from dataclasses import dataclass
from typing import Any

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bananasite.errors import AppError

from .models import LedgerEntry, Purchase, StripeEvent
from .services import grant_credits, open_wallet

logger = logging.getLogger(__name__)

CREDITING_EVENTS = {"checkout.session.completed", "checkout.session.async_payment_succeeded"}


@dataclass(frozen=True)
class Pack:
    id: str
    credits: int
    amount: int
    name: str


class PaymentsNotConfigured(AppError):
    code = "payments_not_configured"
    status = 503


class BadWebhook(Exception):
    """The payload is not a genuine, fresh Stripe event."""


class UnmatchedPayment(Exception):
    """A paid session that cannot be credited as it was sold: the view answers 5xx so Stripe
    keeps retrying while a person looks at the error in the log."""


def packs() -> list[Pack]:
    configured: list[dict[str, Any]] = settings.BANANASITE_CREDIT_PACKS
    return [Pack(**p) for p in configured]


def get_pack(pack_id: str) -> Pack | None:
    return next((p for p in packs() if p.id == pack_id), None)


def is_configured() -> bool:
    return bool(settings.STRIPE_SECRET_KEY and settings.STRIPE_WEBHOOK_SECRET)


def _client() -> stripe.StripeClient:
    if not is_configured():
        raise PaymentsNotConfigured(_("Buying credits is not configured on this site."))
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses={"api": settings.STRIPE_API_BASE} if settings.STRIPE_API_BASE else None,
        max_network_retries=2,
    )


def create_checkout(*, workspace, user, pack: Pack, success_url: str, cancel_url: str) -> str:
    """A Checkout Session for one pack, recorded as a Purchase; returns the URL to send the
    person to."""
    client = _client()
    wallet = open_wallet(workspace=workspace)
    currency = settings.STRIPE_CURRENCY
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": currency,
                        "unit_amount": pack.amount,
                        "product_data": {"name": f"bananasite: {pack.name}"},
                    },
                }
            ],
            "success_url": success_url,
            "cancel_url": cancel_url,
            "client_reference_id": workspace.public_id,
            "customer_email": user.email,
            "metadata": {
                "workspace": workspace.public_id,
                "pack": pack.id,
                "credits": str(pack.credits),
                "user": str(user.pk),
            },
        }
    )
    if not session.url:  # only embedded Checkout comes without a page; ours is hosted
        raise AppError(
            _("The payment service did not return a checkout page. Nothing was charged.")
        )
    # Recorded before the person is sent to pay (they need the URL first), so the webhook
    # always finds it; if this fails, nobody ever sees the session's page.
    Purchase.objects.create(
        session_id=session.id,
        wallet=wallet,
        pack=pack.id,
        name=pack.name,
        credits=pack.credits,
        amount=pack.amount,
        currency=currency,
        created_by=user,
    )
    return session.url


def handle_webhook(payload: bytes, signature: str) -> str:
    """Verify a Stripe delivery and credit a paid pack once, whatever the order or repeats."""
    try:
        event = stripe.Webhook.construct_event(
            payload, signature, settings.STRIPE_WEBHOOK_SECRET, tolerance=300
        )
    except (ValueError, stripe.SignatureVerificationError) as exc:
        raise BadWebhook(str(exc)) from None
    if event.type not in CREDITING_EVENTS:
        return "ignored"
    session = event.data.object.to_dict()  # stripe 16's objects are not dicts
    if session.get("payment_status") != "paid":
        return "not paid yet"  # async methods: async_payment_succeeded comes later
    session_id = session.get("id", "")
    purchase = Purchase.objects.filter(session_id=session_id).select_related("wallet").first()
    if purchase is None:
        logger.error("Stripe session %s was paid but no purchase was recorded for it", session_id)
        raise UnmatchedPayment(session_id)
    amount, currency = session.get("amount_total"), str(session.get("currency") or "").lower()
    if (amount, currency) != (purchase.amount, purchase.currency):
        logger.error(
            "Stripe session %s was paid %s %s, but its purchase is %s %s",
            session_id,
            amount,
            currency,
            purchase.amount,
            purchase.currency,
        )
        raise UnmatchedPayment(session_id)
    try:
        with transaction.atomic():
            StripeEvent.objects.create(event_id=event.id, event_type=event.type)
            # `completed` and `async_payment_succeeded` for the same payment credit once
            # between them: the purchase is claimed by a conditional UPDATE, and the ledger row
            # is keyed by the session besides.
            claimed = Purchase.objects.filter(pk=purchase.pk, status=Purchase.Status.OPEN).update(
                status=Purchase.Status.CREDITED, credited_at=timezone.now()
            )
            if not claimed:
                return "duplicate"
            entry = grant_credits(
                wallet=purchase.wallet,
                amount=purchase.credits,
                kind=LedgerEntry.Kind.PURCHASE,
                reason=f"Bought {purchase.name}",
                reference=f"stripe:{session_id}",
            )
    except IntegrityError:
        return "duplicate"
    return "credited" if entry else "duplicate"
