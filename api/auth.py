"""Who is calling the API, for which workspace, and what they may do.

Kept apart from the views: DRF imports authentication classes (from settings) while it is
still importing its own views, so this module must not import rest_framework.views."""

from datetime import timedelta

from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.permissions import BasePermission

from accounts.models import ApiToken, Workspace, hash_token
from accounts.services import can_manage
from bananasite.errors import AppError


class AccountSuspended(AppError):
    code = "account_suspended"
    status = 403
    title = "Account suspended"


class BearerTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer bns_...`: a workspace's API token."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        keyword, _, raw = header.partition(" ")
        if keyword.lower() != self.keyword.lower() or not raw.strip():
            raise exceptions.AuthenticationFailed("Use the header: Authorization: Bearer <token>.")
        token = (
            ApiToken.objects.select_related("workspace", "user")
            .filter(token_hash=hash_token(raw.strip()))
            .first()
        )
        if token is not None and token.user.is_suspended:
            # Its tokens were revoked with the suspension; say why rather than "unknown".
            raise AccountSuspended(
                "This account is suspended; its API tokens no longer work.",
            )
        now = timezone.now()
        if (
            token is None
            or not token.user.is_active
            or token.revoked_at is not None
            or (token.expires_at is not None and token.expires_at <= now)
        ):
            raise exceptions.AuthenticationFailed("The token is unknown, revoked or expired.")
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
                raise exceptions.NotFound("No workspace with that slug is yours.")
            request._request.workspace = workspace
        return result


# --- Permissions ------------------------------------------------------------------------------


class HasScope(BasePermission):
    """A token needs the view's scope for the method; a browser session has every scope."""

    message = "This token does not have the scope this call needs."

    def has_permission(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return False
        scopes = getattr(view, "required_scopes", {})
        needed = scopes.get(request.method) or scopes.get("*")
        token = request.auth
        if needed is None or token is None or not hasattr(token, "has_scope"):
            return True
        return token.has_scope(needed)


class IsWorkspaceAdmin(BasePermission):
    message = "Only the workspace's owners and admins can do this."

    def has_permission(self, request, view):
        return can_manage(user=request.user, workspace=request.workspace)
