"""Outgoing webhooks, signed per the Standard Webhooks specification.

Headers `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of
"id.timestamp.body">`, the key being the base64 part of the endpoint's `whsec_` secret. Retried
with backoff by a scheduled task; every attempt is recorded on the delivery.
"""

import base64
import hashlib
import hmac
import json
import logging
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from bananasite.errors import AppError
from bananasite.fetch import FetchFailed, FetchForbidden, check_url, safe_request

from .models import Webhook, WebhookDelivery

logger = logging.getLogger(__name__)

# Seconds to wait before attempt 2, 3, ...: about a day and a half in all, then give up.
BACKOFF = [60, 300, 1800, 7200, 28800, 86400]


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def create_webhook(*, workspace, url: str, events: list[str]) -> Webhook:
    try:
        check_url(url)
    except (FetchForbidden, FetchFailed) as exc:
        raise AppError(f"That endpoint cannot be used: {exc.message}", field="url") from None
    return Webhook.objects.create(
        workspace=workspace, url=url, events=sorted(set(events)), secret=new_secret()
    )


def emit(composition, event: str) -> None:
    """Queue a delivery of `event` to every endpoint of the workspace that wants it.

    Call inside the transaction that changed the composition; sending starts on commit."""
    from .serializers import CompositionOut

    hooks = [
        h
        for h in Webhook.objects.filter(workspace_id=composition.workspace_id)
        if event in h.events
    ]
    if not hooks:
        return
    data = CompositionOut(composition).data
    for hook in hooks:
        delivery = WebhookDelivery.objects.create(
            webhook=hook,
            event=event,
            payload={"type": event, "timestamp": timezone.now().isoformat(), "data": data},
            next_attempt_at=timezone.now(),
        )
        _enqueue(delivery)


def _enqueue(delivery: WebhookDelivery) -> None:
    from django.conf import settings

    public_id = delivery.public_id
    transaction.on_commit(
        lambda: async_task(
            "compositions.webhooks.deliver",
            public_id,
            group="webhooks",
            sync=settings.BANANASITE_TASKS_SYNC,
        )
    )


def deliver(public_id: str) -> str:
    """One attempt at a delivery that is due; schedules the next one on failure."""
    now = timezone.now()
    # Claim the attempt: only one worker sends it, even if the task is delivered twice.
    claimed = WebhookDelivery.objects.filter(
        public_id=public_id, status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now
    ).update(next_attempt_at=now + timedelta(minutes=5))
    if not claimed:
        return "not due"
    delivery = WebhookDelivery.objects.select_related("webhook").get(public_id=public_id)
    body = json.dumps(delivery.payload, separators=(",", ":"), default=str).encode()
    timestamp = int(now.timestamp())
    headers = {
        "content-type": "application/json",
        "user-agent": "bananasite-webhooks/1",
        "webhook-id": delivery.public_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(delivery.webhook.secret, delivery.public_id, timestamp, body),
    }
    status_code, error = None, ""
    try:
        answer = safe_request(
            "POST",
            delivery.webhook.url,
            max_bytes=64 * 1024,
            timeout=10,
            headers=headers,
            content=body,
        )
        status_code = answer.status
        ok = 200 <= answer.status < 300
        if not ok:
            error = f"The endpoint answered {answer.status}."
    except AppError as exc:
        ok, error = False, exc.message
    attempts = delivery.attempts + 1
    changes = {"attempts": attempts, "last_status_code": status_code, "last_error": error[:300]}
    if ok:
        changes.update(
            status=WebhookDelivery.Status.SUCCEEDED,
            delivered_at=timezone.now(),
            next_attempt_at=None,
        )
    elif attempts > len(BACKOFF):
        changes.update(status=WebhookDelivery.Status.FAILED, next_attempt_at=None)
    else:
        changes.update(next_attempt_at=timezone.now() + timedelta(seconds=BACKOFF[attempts - 1]))
    WebhookDelivery.objects.filter(pk=delivery.pk).update(**changes)
    return "delivered" if ok else "will retry" if changes.get("next_attempt_at") else "failed"


def deliver_due() -> int:
    """Scheduled every minute: send the deliveries whose next attempt is due."""
    due = WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=timezone.now()
    ).values_list("public_id", flat=True)[:200]
    for public_id in due:
        deliver(public_id)
    return len(due)


def redeliver(delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again now (from the UI), whatever happened before."""
    with transaction.atomic():
        # A fresh round of attempts, with the whole backoff schedule ahead of it.
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=WebhookDelivery.Status.PENDING, next_attempt_at=timezone.now(), attempts=0
        )
        _enqueue(delivery)
    delivery.refresh_from_db()
    return delivery
