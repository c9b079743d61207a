"""Reports from the browser: the form beside each result and input of a composition."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.middleware import WorkspaceRequest
from bananasite.errors import AppError
from compositions.models import Composition

from .models import Report
from .services import create_report


@login_required
@require_POST
def report(request: WorkspaceRequest, public_id: str) -> HttpResponse:
    """Report a result or an input of this composition (the form sits beside each one)."""
    composition = get_object_or_404(
        Composition.objects.visible_to(request.workspace), public_id=public_id
    )
    target_type = request.POST.get("target_type", "")
    reason = request.POST.get("reason", "")
    if target_type not in Report.TargetType.values or reason not in Report.Reason.values:
        messages.error(request, _("Choose what is wrong with it."))
        return redirect(composition)
    try:
        create_report(
            reporter=request.user,
            workspace=request.workspace,
            target_type=target_type,
            target_id=request.POST.get("target_id", ""),
            reason=reason,
            details=request.POST.get("details", ""),
        )
    except AppError as exc:
        # Not an error page: a repeat report or the hourly limit is said kindly, in place.
        messages.info(request, exc.message)
    else:
        messages.success(request, _("Thank you. Moderators will look at your report."))
    return redirect(composition)
