"""The workspace page's retention and export forms (owners and admins), the export's one
download, and the account deletion page."""

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts.middleware import WorkspaceRequest
from accounts.models import RETENTION_MAX_DAYS, Membership, User
from accounts.services import require_manager, set_retention
from accounts.views import form_state, render_workspace
from bananasite.errors import AppError, InvalidState

from . import services
from .models import Export

FOREVER = "forever"
CUSTOM = "custom"


def _retention_days(choice: str, custom: str) -> int | None:
    """The form's choice (forever, 7/30/90/365, or custom with a number) as days."""
    if choice == FOREVER:
        return None
    raw = custom.strip() if choice == CUSTOM else choice
    if not (raw.isascii() and raw.isdigit()):  # "²".isdigit() is true; int("²") is not
        raise AppError(
            _("Enter a number of days from 1 to %(max)d.") % {"max": RETENTION_MAX_DAYS},
            field="custom_days" if choice == CUSTOM else "retention",
        )
    return int(raw)


@login_required
@require_POST
def retention(request: WorkspaceRequest) -> HttpResponse:
    require_manager(user=request.user, workspace=request.workspace)
    values = {
        "retention": request.POST.get("retention", FOREVER),
        "custom_days": request.POST.get("custom_days", ""),
    }
    try:
        days = _retention_days(values["retention"], values["custom_days"])
        set_retention(actor=request.user, workspace=request.workspace, days=days)
    except AppError as exc:
        if exc.field == "retention_days":
            exc.field = "custom_days"
        return render_workspace(request, status=400, retention_form=form_state(values, exc))
    if days is None:
        messages.success(request, _("Compositions are kept until you delete them."))
    else:
        messages.success(
            request,
            _(
                "Compositions are kept for %(days)d days; older ones are deleted within the "
                "hour, with their files."
            )
            % {"days": days},
        )
    return redirect("accounts:workspace")


@login_required
@require_POST
def request_export(request: WorkspaceRequest) -> HttpResponse:
    require_manager(user=request.user, workspace=request.workspace)
    try:
        services.request_export(
            user=request.user,
            workspace=request.workspace,
            page_url=request.build_absolute_uri(reverse("accounts:workspace")),
            language=translation.get_language(),
        )
    except InvalidState as exc:
        messages.error(request, exc.message)
        return redirect("accounts:workspace")
    messages.success(
        request,
        _("Your export is being built. We will email you when it is ready; it also shows here."),
    )
    return redirect("accounts:workspace")


@require_GET  # not HEAD: a HEAD would take the one download
@login_required
def download_export(request: WorkspaceRequest, export_id: str) -> HttpResponseBase:
    export = get_object_or_404(
        Export.objects.select_related("workspace"),
        public_id=export_id,
        workspace=request.workspace,
    )
    require_manager(user=request.user, workspace=request.workspace)
    try:
        name = services.take_download(export=export)
    except InvalidState:
        raise Http404(_("This export has been downloaded or has expired.")) from None
    response = StreamingHttpResponse(
        services.stream_then_delete(export, name), content_type="application/zip"
    )
    response["Content-Disposition"] = f'attachment; filename="{export.download_name}"'
    response["Content-Length"] = str(export.bytes)
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _deletion_context(
    user: User, *, values: dict[str, str] | None = None, errors: dict[str, str] | None = None
) -> dict:
    values = values or {}
    needing = services.teams_needing_owner(user=user)
    heirs = {
        team.pk: Membership.objects.filter(workspace=team)
        .exclude(user=user)
        .select_related("user")
        .order_by("user__email")
        for team in needing
    }
    context = {
        "teams_needing_owner": [
            (team, heirs[team.pk], values.get(f"owner_{team.public_id}", "")) for team in needing
        ],
        "teams_owned_alone": services.teams_owned_alone(user=user),
        "other_teams": Membership.objects.filter(user=user, workspace__kind="team")
        .exclude(role=Membership.Role.OWNER)
        .select_related("workspace")
        .order_by("workspace__name"),
        "errors": errors or {},
    }
    return context


@login_required
def delete_account(request: WorkspaceRequest) -> HttpResponse:
    user = request.user
    if request.method != "POST":
        return render(request, "privacy/delete_account.html", _deletion_context(user))
    needing = services.teams_needing_owner(user=user)
    chosen = {team.pk: request.POST.get(f"owner_{team.public_id}", "") for team in needing}
    new_owners = {
        pk: heir
        for pk, email in chosen.items()
        if email
        and (heir := User.objects.filter(email__iexact=email, memberships__workspace_id=pk).first())
    }
    try:
        handed = services.delete_account(
            user=user, password=request.POST.get("password", ""), new_owners=new_owners
        )
    except AppError as exc:
        values = {f"owner_{t.public_id}": chosen[t.pk] for t in needing}
        field = exc.field or "form"
        return render(
            request,
            "privacy/delete_account.html",
            _deletion_context(user, values=values, errors={field: exc.message}),
            status=400,
        )
    logout(request)
    if handed:
        messages.success(
            request,
            _("Your account is deleted. These teams have their new owners: %(teams)s.")
            % {"teams": ", ".join(handed)},
        )
    else:
        messages.success(request, _("Your account is deleted. Thank you for using bananasite."))
    return redirect("/")
