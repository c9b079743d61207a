"""Outgoing webhooks, signed per the Standard Webhooks specification.

Headers `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of
"id.timestamp.body">`, the key being the base64 part of the endpoint's `whsec_` secret. Retried
with backoff by a scheduled task (webhooks.tasks); every attempt is recorded on the delivery.
Deliveries run on a queue of their own (BANANASITE_WEBHOOK_QUEUE), served by its own cluster,
so a slow endpoint never holds a worker that compositions need.
"""

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_q.tasks import async_task

from accounts.models import Workspace
from bananasite.errors import AppError
from bananasite.fetch import FetchFailed, FetchForbidden, check_url
from bananasite.tasks import enqueue_on_commit

from .models import Webhook, WebhookDelivery


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def create_webhook(*, workspace: Workspace, url: str, events: list[str]) -> Webhook:
    """Register an endpoint, up to BANANASITE_WEBHOOK_LIMIT per workspace (each one is sent
    every event it asks for: the limit bounds what one workspace costs the delivery queue)."""
    limit = settings.BANANASITE_WEBHOOK_LIMIT
    try:
        check_url(url)
    except (FetchForbidden, FetchFailed) as exc:
        raise AppError(
            _("That endpoint cannot be used: %(message)s") % {"message": exc.message}, field="url"
        ) from None
    with transaction.atomic():
        # The workspace's row, locked, serialises two requests that would both take the
        # last place (SQLite's IMMEDIATE transactions do so anyway).
        Workspace.objects.select_for_update().only("pk").get(pk=workspace.pk)
        if Webhook.objects.filter(workspace=workspace).count() >= limit:
            raise AppError(
                _(
                    "A workspace can have at most %(limit)s webhook endpoints. Remove one before "
                    "adding another."
                )
                % {"limit": limit},
                field="url",
            )
        return Webhook.objects.create(
            workspace=workspace, url=url, events=sorted(set(events)), secret=new_secret()
        )


def delete_webhook(*, webhook: Webhook) -> None:
    webhook.delete()  # its deliveries go with it


def wanted(*, workspace_id: int, event: str) -> list[Webhook]:
    """The workspace's endpoints that subscribed to `event`."""
    return [h for h in Webhook.objects.filter(workspace_id=workspace_id) if event in h.events]


def emit(*, workspace_id: int, event: str, data: Callable[[], dict[str, Any]]) -> None:
    """Queue a delivery of `event` to every endpoint of the workspace that wants it; `data()`
    builds the payload's `data`, only when some endpoint does.

    Call inside the transaction that made the change; sending starts on commit."""
    hooks = wanted(workspace_id=workspace_id, event=event)
    payload = data() if hooks else {}
    for hook in hooks:
        delivery = WebhookDelivery.objects.create(
            webhook=hook,
            event=event,
            payload={"type": event, "timestamp": timezone.now().isoformat(), "data": payload},
            next_attempt_at=timezone.now(),
        )
        _enqueue(delivery)


def queue_delivery(public_id: str) -> None:
    """Hand a delivery to the webhook queue now (inline with BANANASITE_TASKS_SYNC)."""
    async_task(
        "webhooks.tasks.deliver",
        public_id,
        group="webhooks",
        cluster=settings.BANANASITE_WEBHOOK_QUEUE,
        sync=settings.BANANASITE_TASKS_SYNC,
    )


def _enqueue(delivery: WebhookDelivery) -> None:
    enqueue_on_commit(
        "webhooks.tasks.deliver",
        delivery.public_id,
        group="webhooks",
        cluster=settings.BANANASITE_WEBHOOK_QUEUE,
    )


def redeliver(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again now (from the UI), whatever happened before."""
    with transaction.atomic():
        # A fresh round of attempts, with the whole backoff schedule ahead of it.
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=WebhookDelivery.Status.PENDING, next_attempt_at=timezone.now(), attempts=0
        )
        _enqueue(delivery)
    delivery.refresh_from_db()
    return delivery
