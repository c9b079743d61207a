"""Who is calling the API, for which workspace, and what they may do.

Kept apart from the views: DRF imports authentication classes (from settings) while it is
still importing its own views, so this module must not import rest_framework.views."""

from datetime import timedelta

from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.permissions import BasePermission

from accounts.models import ApiToken, Membership, Workspace, hash_token
from accounts.services import SecondFactorRequired, can_manage, team_needs_second_factor
from bananasite.errors import AppError


class AccountSuspended(AppError):
    code = "account_suspended"
    status = 403


class BearerTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer bns_...`: a workspace's API token."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        keyword, _sep, raw = header.partition(" ")
        if keyword.lower() != self.keyword.lower() or not raw.strip():
            raise exceptions.AuthenticationFailed(
                _("Use the header: Authorization: Bearer <token>.")
            )
        token = (
            ApiToken.objects.select_related("workspace", "user")
            .annotate(
                is_member=Exists(
                    Membership.objects.filter(
                        workspace=OuterRef("workspace"), user=OuterRef("user")
                    )
                )
            )
            .filter(token_hash=hash_token(raw.strip()))
            .first()
        )
        if token is not None and token.user.is_suspended:
            # Its tokens were revoked with the suspension; say why rather than "unknown".
            raise AccountSuspended(
                _("This account is suspended; its API tokens no longer work."),
            )
        now = timezone.now()
        if (
            token is None
            or not token.user.is_active
            # However the person left the workspace (removed, left, a membership deleted in
            # the admin), the token acts for them there no longer.
            or not token.is_member
            or token.revoked_at is not None
            or (token.expires_at is not None and token.expires_at <= now)
        ):
            raise exceptions.AuthenticationFailed(_("The token is unknown, revoked or expired."))
        if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
            type(token).objects.filter(pk=token.pk).update(last_used_at=now)
        request._request.workspace = token.workspace
        return token.user, token

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class WorkspaceSessionAuthentication(SessionAuthentication):
    """A signed-in browser (CSRF enforced); `X-Workspace: <slug>` picks one of the user's."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        user = result[0]
        slug = request.META.get("HTTP_X_WORKSPACE")
        if slug:
            workspace = Workspace.objects.filter(slug=slug, memberships__user=user).first()
            if workspace is None:
                raise exceptions.NotFound(_("No workspace with that slug is yours."))
            request._request.workspace = workspace
        if team_needs_second_factor(user=user, workspace=request._request.workspace):
            # The browser's pages send such a person to set it up; the API says so. Tokens
            # (BearerTokenAuthentication) are never asked.
            raise SecondFactorRequired(
                "This team requires two-factor sign-in. Set it up at /accounts/2fa/ and try "
                "again, or use an API token."
            )
        return result


# --- Permissions ------------------------------------------------------------------------------


# In a view's `required_scopes`, a method open to every token of the workspace, whatever its
# scopes (/me and /models: what any client needs to find its bearings).
ANY_SCOPE = "any"


class HasScope(BasePermission):
    """A token needs the scope the view declares for the method; a browser session has every
    scope.

    Deny by default: a method the view does not list in `required_scopes` refuses every token,
    so a new endpoint (or a new method on an old one) is closed until someone names its scope.
    HEAD is GET without the body, so it needs GET's scope. OPTIONS describes the endpoint,
    which the public schema does too, so any token may ask."""

    message = _("This token does not have the scope this call needs.")

    def has_permission(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return False
        token = request.auth
        if not isinstance(token, ApiToken):
            return True  # a signed-in browser session
        method = "GET" if request.method == "HEAD" else request.method
        if method == "OPTIONS":
            return True
        needed = getattr(view, "required_scopes", {}).get(method)
        if needed is None:
            return False
        return needed == ANY_SCOPE or token.has_scope(needed)


class IsWorkspaceAdmin(BasePermission):
    message = _("Only the workspace's owners and admins can do this.")

    def has_permission(self, request, view):
        return can_manage(user=request.user, workspace=request.workspace)
