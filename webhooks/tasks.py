"""Sending webhook deliveries: one attempt per task, retried with backoff until delivered.

Both tasks run on the webhook queue's own cluster, `Q_CLUSTER_NAME=webhooks manage.py qcluster`.
"""

import json
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from bananasite.errors import AppError
from bananasite.fetch import safe_request

from .models import WebhookDelivery
from .services import queue_delivery, sign

# Seconds to wait before attempt 2, 3, ...: about a day and a half in all, then give up.
BACKOFF = [60, 300, 1800, 7200, 28800, 86400]


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
            # One deadline for the whole exchange: an endpoint that dribbles its answer gets
            # no more than this.
            timeout=settings.BANANASITE_WEBHOOK_TIMEOUT,
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
    changes: dict[str, Any] = {
        "attempts": attempts,
        "last_status_code": status_code,
        "last_error": error[:300],
    }
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
    """Scheduled every minute: queue the deliveries whose next attempt is due, one task each,
    so the webhook cluster's workers send them side by side (a task that is delivered twice
    finds its attempt already claimed)."""
    due = list(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=timezone.now()
        ).values_list("public_id", flat=True)[:200]
    )
    for public_id in due:
        queue_delivery(public_id)
    return len(due)
