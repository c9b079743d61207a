"""`{% webhooks_section workspace %}`: the workspace page's webhooks, without accounts
importing webhooks (the dependency runs from webhooks to accounts)."""

from typing import Any

from django import template

from accounts.models import Workspace

from ..models import Webhook, WebhookDelivery

register = template.Library()


@register.inclusion_tag("webhooks/section.html", takes_context=True)
def webhooks_section(context: template.Context, workspace: Workspace) -> dict[str, Any]:
    return {
        "csrf_token": context.get("csrf_token"),
        # A refused form's state (webhooks.views.create): what was typed and the error.
        "form": context.get("webhook_form") or {},
        "events": Webhook.Event.values,
        "webhooks": Webhook.objects.filter(workspace=workspace),
        "deliveries": WebhookDelivery.objects.filter(webhook__workspace=workspace).select_related(
            "webhook"
        )[:20],
    }
