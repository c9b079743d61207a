from datetime import timedelta
from urllib.parse import urlencode

from allauth.account.models import EmailAddress
from allauth.core import ratelimit
from allauth.mfa.models import Authenticator
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.mail import send_mail
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from bananasite.errors import AppError
from bananasite.middleware import back_on_error

from . import services
from .models import ApiToken, Invitation, Membership, User, Workspace


def _membership(request) -> Membership:
    return get_object_or_404(Membership, workspace=request.workspace, user=request.user)


def workspace_context(request, **extra):
    """What the workspace page shows; `extra` adds a form's state (webhooks uses it too)."""
    workspace = request.workspace
    me = _membership(request)
    context = {
        "workspace": workspace,
        "me": me,
        "members": Membership.objects.filter(workspace=workspace)
        .select_related("user")
        .order_by("role", "user__email"),
        "invitations": Invitation.objects.filter(
            workspace=workspace, accepted_at__isnull=True, expires_at__gt=timezone.now()
        ),
        "roles": [
            (Membership.Role.MEMBER, Membership.Role.MEMBER.label),
            (Membership.Role.ADMIN, Membership.Role.ADMIN.label),
        ],
        "scopes": ApiToken.SCOPES,
    }
    if me.can_manage:
        context["tokens"] = ApiToken.objects.filter(workspace=workspace).select_related("user")
        # Who would be stopped at the door if the team required two-factor sign-in.
        context["with_second_factor"] = set(
            Authenticator.objects.filter(
                user__memberships__workspace=workspace, type__in=services.SECOND_FACTORS
            ).values_list("user_id", flat=True)
        )
    context.update(extra)
    return context


def form_state(values: dict, error: AppError) -> dict:
    """A refused form as the workspace page shows it again: what was typed, and the message
    beside the field it is about (or above the form when it is about no one field)."""
    field = error.field if error.field in values else "form"
    return {"values": values, "errors": {field: error.message}}


def render_workspace(request, *, status: int = 200, **extra):
    return render(
        request, "accounts/workspace.html", workspace_context(request, **extra), status=status
    )


@login_required
def workspace_settings(request):
    return render_workspace(request)


@login_required
@require_POST
def create_team(request):
    values = {"name": request.POST.get("name", "")}
    try:
        team = services.create_team(owner=request.user, name=values["name"])
    except AppError as exc:
        return render_workspace(request, status=400, team_form=form_state(values, exc))
    messages.success(
        request,
        _(
            "Created the team %(name)s; you are working in it now. It starts without "
            "credits: buy a pack under Credits, or ask an administrator."
        )
        % {"name": team.name},
    )
    return redirect("accounts:workspace")


@login_required
@require_POST
def switch(request):
    workspace = get_object_or_404(
        Workspace, slug=request.POST.get("workspace", ""), memberships__user=request.user
    )
    services.switch_workspace(user=request.user, workspace=workspace)
    messages.success(request, _("You are working in %(name)s.") % {"name": workspace.name})
    # Any other page may show something of the workspace left behind; its history does not.
    return redirect("compositions:history")


@login_required
@require_POST
@back_on_error("accounts:workspace")
def invite(request):
    values = {
        "email": request.POST.get("email", ""),
        "role": request.POST.get("role", Membership.Role.MEMBER),
    }
    services.require_manager(user=request.user, workspace=request.workspace)
    try:
        invitation, raw = services.invite_member(
            inviter=request.user,
            workspace=request.workspace,
            email=values["email"],
            role=values["role"],
        )
    except AppError as exc:
        return render_workspace(request, status=400, invite_form=form_state(values, exc))
    link = request.build_absolute_uri(reverse("accounts:invitation", args=[raw]))
    send_mail(
        _("Join %(name)s on bananasite") % {"name": request.workspace.name},
        _(
            "%(email)s invited you to the team %(name)s on bananasite.\n\nAccept within "
            "%(days)s days, signed in as %(invited)s:\n%(link)s\n"
        )
        % {
            "email": request.user.email,
            "name": request.workspace.name,
            "days": services.INVITATION_DAYS,
            "invited": invitation.email,
            "link": link,
        },
        None,
        [invitation.email],
    )
    messages.success(request, _("Invitation sent to %(email)s.") % {"email": invitation.email})
    return redirect("accounts:workspace")


@login_required
@require_POST
def cancel_invitation(request):
    services.require_manager(user=request.user, workspace=request.workspace)
    email = request.POST.get("email", "").strip()
    Invitation.objects.filter(
        email__iexact=email, workspace=request.workspace, accepted_at__isnull=True
    ).delete()
    messages.success(request, _("Invitation to %(email)s withdrawn.") % {"email": email})
    return redirect("accounts:workspace")


# Where allauth sends the person once the link in the verification mail is opened
# (accounts.adapter): back to the invitation that asked for it.
AFTER_VERIFICATION = "accounts_after_verification"


def invitation(request, token):
    """The link in the invitation mail. Signed out, it says which team invited whom and by
    whom, and leads through sign-in or sign-up back here (`next`); signed in, it accepts."""
    found = services.find_invitation(token)
    valid = bool(found and not found.accepted_at and found.expires_at > timezone.now())
    here = reverse("accounts:invitation", args=[token])
    if not request.user.is_authenticated:
        if request.method == "POST":
            return redirect_to_login(here)
        return render(
            request,
            "accounts/invitation.html",
            {
                "invitation": found,
                "valid": valid,
                "next_query": urlencode({"next": here}),
                "has_account": bool(
                    valid and found and User.objects.filter(email__iexact=found.email).exists()
                ),
            },
        )
    if request.method == "POST":
        # A refusal (expired, another address) comes back to this page with its message.
        request.error_redirect = here
        if "verify" in request.POST:
            if valid and found and found.email.lower() == request.user.email.lower():
                _send_verification(request, email=found.email, then=here)
            return redirect(here)
        workspace = services.accept_invitation(user=request.user, raw_token=token)
        messages.success(request, _("Welcome to %(name)s.") % {"name": workspace.name})
        return redirect("compositions:compose")
    verified = bool(
        valid and found and services.has_verified_email(user=request.user, email=found.email)
    )
    return render(
        request,
        "accounts/invitation.html",
        {"invitation": found, "valid": valid, "verified": verified},
    )


def _send_verification(request, *, email: str, then: str) -> None:
    """Mail allauth's verification link for one of the person's addresses, within allauth's
    rate limit; once it is opened, allauth brings them back to `then`."""
    address = EmailAddress.objects.filter(
        user=request.user, email__iexact=email
    ).first() or EmailAddress.objects.add_email(request, request.user, email)
    if address.verified:
        return
    if not ratelimit.consume(request, action="confirm_email", key=email.lower()):
        messages.error(
            request,
            _(
                "A link was sent to %(email)s a moment ago. Check your inbox (and spam "
                "folder), or try again in a few minutes."
            )
            % {"email": email},
        )
        return
    address.send_confirmation(request)
    request.session[AFTER_VERIFICATION] = then
    messages.success(
        request,
        _("We sent a verification link to %(email)s. Open it, then accept the invitation here.")
        % {"email": email},
    )


def _member(request) -> User:
    """The member named by email in the form; only members of this workspace are found."""
    return get_object_or_404(
        User,
        email__iexact=request.POST.get("email", "").strip(),
        memberships__workspace=request.workspace,
    )


@login_required
@require_POST
@back_on_error("accounts:workspace")
def remove_member(request):
    member = _member(request)
    services.remove_member(actor=request.user, workspace=request.workspace, member=member)
    messages.success(request, _("Removed %(email)s.") % {"email": member.email})
    return redirect("accounts:workspace")


@login_required
@require_POST
@back_on_error("accounts:workspace")
def transfer(request):
    member = _member(request)
    services.transfer_ownership(owner=request.user, workspace=request.workspace, new_owner=member)
    messages.success(
        request, _("%(email)s owns the team now; you are an admin.") % {"email": member.email}
    )
    return redirect("accounts:workspace")


@login_required
@require_POST
@back_on_error("accounts:workspace")
def leave(request):
    workspace = request.workspace
    services.leave_workspace(user=request.user, workspace=workspace)
    messages.success(request, _("You left %(name)s.") % {"name": workspace.name})
    return redirect("compositions:compose")


@login_required
@require_POST
@back_on_error("accounts:workspace")
def require_mfa(request):
    """The owner's switch: require two-factor sign-in of every member of the team, or not."""
    required = request.POST.get("require_mfa") == "on"
    changed = services.set_mfa_requirement(
        actor=request.user, workspace=request.workspace, required=required
    )
    if not changed:
        messages.info(request, _("Nothing changed."))
    elif required:
        messages.success(
            request,
            _(
                "Every member of %(team)s now needs two-factor sign-in; those without it are "
                "asked to set it up before they reach the team. API tokens keep working."
            )
            % {"team": request.workspace.name},
        )
    else:
        messages.success(
            request,
            _("%(team)s no longer requires two-factor sign-in.") % {"team": request.workspace.name},
        )
    return redirect("accounts:workspace")


def _expiry(days: str):
    """The expiry for "expires after N days" (empty: never)."""
    if not days:
        return None
    if not days.isdigit() or not 1 <= int(days) <= 3650:
        raise AppError(
            _("Expiry must be 1 to 3650 days, or empty for none."), field="expires_in_days"
        )
    return timezone.now() + timedelta(days=int(days))


@login_required
@require_POST
@back_on_error("accounts:workspace")
def create_token(request):
    services.require_manager(user=request.user, workspace=request.workspace)
    values = {
        "name": request.POST.get("name", ""),
        "scopes": request.POST.getlist("scopes"),
        "expires_in_days": request.POST.get("expires_in_days", "").strip(),
    }
    try:
        token, raw = services.create_api_token(
            workspace=request.workspace,
            user=request.user,
            name=values["name"],
            scopes=values["scopes"] or None,
            expires_at=_expiry(values["expires_in_days"]),
        )
    except AppError as exc:
        return render_workspace(request, status=400, token_form=form_state(values, exc))
    # Shown once, on this response only; it is not stored anywhere we could show it again.
    return render_workspace(request, new_token=raw, new_token_name=token.name)


@login_required
@require_POST
def revoke_token(request, token_id):
    services.require_manager(user=request.user, workspace=request.workspace)
    token = get_object_or_404(ApiToken, public_id=token_id, workspace=request.workspace)
    services.revoke_api_token(token=token)
    messages.success(
        request, _("Revoked %(name)s; it stopped working at once.") % {"name": token.name}
    )
    return redirect("accounts:workspace")
