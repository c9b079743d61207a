"""The webhook actions on the workspace page (owners and admins only)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.middleware import WorkspaceRequest
from accounts.services import require_manager
from accounts.views import form_state, render_workspace
from bananasite.errors import AppError

from . import services
from .models import Webhook, WebhookDelivery


@login_required
@require_POST
def create(request: WorkspaceRequest) -> HttpResponse:
    require_manager(user=request.user, workspace=request.workspace)
    url = request.POST.get("url", "").strip()
    events = request.POST.getlist("events")
    try:
        if not events:
            raise AppError(_("Pick at least one event."), field="events")
        services.create_webhook(workspace=request.workspace, url=url, events=events)
    except AppError as exc:
        values = {"url": url, "events": events}
        # The workspace page again, with what was typed and the message beside its field.
        return render_workspace(request, status=400, webhook_form=form_state(values, exc))
    messages.success(request, _("Webhook endpoint added."))
    return redirect("accounts:workspace")


@login_required
@require_POST
def delete(request: WorkspaceRequest, webhook_id: str) -> HttpResponse:
    require_manager(user=request.user, workspace=request.workspace)
    webhook = get_object_or_404(Webhook, public_id=webhook_id, workspace=request.workspace)
    services.delete_webhook(webhook=webhook)
    messages.success(request, _("Webhook endpoint removed."))
    return redirect("accounts:workspace")


@login_required
@require_POST
def redeliver(request: WorkspaceRequest, delivery_id: str) -> HttpResponse:
    require_manager(user=request.user, workspace=request.workspace)
    delivery = get_object_or_404(
        WebhookDelivery, public_id=delivery_id, webhook__workspace=request.workspace
    )
    services.redeliver(delivery=delivery)
    messages.success(request, _("Sent again; the log below shows the outcome."))
    return redirect("accounts:workspace")
