from django.contrib import messages
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext as _

from .models import User, Workspace
from .services import (
    current_workspace_for,
    has_second_factor,
    staff_needs_second_factor,
    team_needs_second_factor,
)

# The page a person was sent away from to set up two-factor sign-in (templates/mfa/index.html).
SETUP_NEXT = "accounts_mfa_next"


class WorkspaceRequest(HttpRequest):
    """A signed-in request as views see it, for the type checker: `login_required` makes
    `user` a User, and this middleware sets `workspace`."""

    user: User
    workspace: Workspace


class CurrentWorkspaceMiddleware:
    """Sets `request.workspace`: the signed-in user's current workspace, or None."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # request.user is read when the workspace is first needed, not now: signing in or
        # out during the request changes it.
        request.workspace = SimpleLazyObject(
            lambda: (
                current_workspace_for(user=request.user) if request.user.is_authenticated else None
            )
        )
        return self.get_response(request)


# Pages a person who must still set up two-factor sign-in can reach: allauth's views (sign-in,
# sign-out, the two-factor setup itself, email and password), and these: leaving or switching
# away from the team, an invitation, the public home page and share links are not the team's.
OPEN_WITHOUT_SECOND_FACTOR = {
    "accounts:switch",
    "accounts:leave",
    "accounts:invitation",
    "compositions:home",
    "sharing:public",
    "sharing:public_file",
    "ops:metrics",
    "ops:healthz",
    "ops:readyz",
}
# The REST API answers for itself: tokens are never asked for a second factor, and a browser
# session on a team that requires one gets a problem+json refusal (api.auth), not a redirect.
API_PREFIXES = ("/api/", "/v1/")


class TwoFactorRequiredMiddleware:
    """Sends people who must use two-factor sign-in, and do not yet, to set it up: staff and
    moderators before the admin (where the moderation queue is), members of a team whose owner
    requires it before any page of that team."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = request.user
        if not user.is_authenticated or request.path_info.startswith(API_PREFIXES):
            return None
        match = request.resolver_match
        if match is None or match.view_name in OPEN_WITHOUT_SECOND_FACTOR:
            return None
        if match.func.__module__.partition(".")[0] == "allauth":
            return None  # sign-in and out, the two-factor pages themselves, email, password
        if match.app_name == "admin":
            if staff_needs_second_factor(user=user):
                return self._to_setup(
                    request,
                    _(
                        "Staff and moderators sign in with two factors. Set up an "
                        "authenticator app or a passkey, then open the admin again."
                    ),
                )
            return None
        workspace = request.workspace
        if SETUP_NEXT in request.session and has_second_factor(user=user):
            del request.session[SETUP_NEXT]  # they set it up and went on: the link has served
        if team_needs_second_factor(user=user, workspace=workspace):
            return self._to_setup(
                request,
                _(
                    "%(team)s requires two-factor sign-in. Set up an authenticator app or a "
                    "passkey to continue, or switch to your personal workspace."
                )
                % {"team": workspace.name},
            )
        return None

    def _to_setup(self, request, message: str) -> HttpResponseRedirect:
        if request.method == "GET":
            # Where they were going, for the "continue" link once they have set it up.
            request.session[SETUP_NEXT] = request.get_full_path()
        messages.warning(request, message)
        return HttpResponseRedirect(reverse("mfa_index"))
