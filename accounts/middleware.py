from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from .models import User, Workspace
from .services import current_workspace_for


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
