"""What a token may do: the scope each endpoint and method needs (deny by default, HEAD is
GET), and only while its person is still a member of its workspace."""

import pytest
from django.urls import URLPattern, resolve
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory, force_authenticate

from accounts.models import ApiToken, Membership
from accounts.services import create_api_token, create_team, leave_workspace, transfer_ownership
from api import urls as api_urls
from api.auth import ANY_SCOPE
from api.views import WorkspaceAPIView
from compositions.tasks import run_composition
from webhooks.models import Webhook

from .test_api import api_client, assert_problem, compose_json

pytestmark = pytest.mark.django_db

# Every endpoint and method of the API and the scope a token needs for it. HEAD is asked of
# every GET below. A new endpoint must be added here (test_the_table_covers_every_endpoint).
SCOPES = [
    ("GET", "/api/v1/me", ANY_SCOPE),
    ("GET", "/api/v1/models", ANY_SCOPE),
    ("POST", "/api/v1/uploads", "uploads:write"),
    ("GET", "/api/v1/uploads/up_x", "compositions:read"),
    ("DELETE", "/api/v1/uploads/up_x", "uploads:write"),
    ("GET", "/api/v1/compositions", "compositions:read"),
    ("POST", "/api/v1/compositions", "compositions:write"),
    ("GET", "/api/v1/compositions/cmp_x", "compositions:read"),
    ("DELETE", "/api/v1/compositions/cmp_x", "compositions:write"),
    ("POST", "/api/v1/compositions/cmp_x/cancel", "compositions:write"),
    ("POST", "/api/v1/compositions/cmp_x/variations", "compositions:write"),
    ("POST", "/api/v1/compositions/cmp_x/retry", "compositions:write"),
    ("POST", "/api/v1/estimate", "compositions:read"),
    ("GET", "/api/v1/references", "compositions:read"),
    ("POST", "/api/v1/references", "uploads:write"),
    ("GET", "/api/v1/references/ref_x", "compositions:read"),
    ("DELETE", "/api/v1/references/ref_x", "uploads:write"),
    ("GET", "/api/v1/results/res_x/file", "compositions:read"),
    ("GET", "/api/v1/results/res_x/thumbnail", "compositions:read"),
    ("POST", "/api/v1/reports", "reports:write"),
    ("POST", "/api/v1/verify", ANY_SCOPE),
    ("GET", "/api/v1/usage", "usage:read"),
    ("GET", "/api/v1/webhooks", "webhooks:write"),
    ("POST", "/api/v1/webhooks", "webhooks:write"),
    ("DELETE", "/api/v1/webhooks/wh_x", "webhooks:write"),
    ("GET", "/api/v1/templates", "compositions:read"),
    ("POST", "/api/v1/templates", "compositions:write"),
    ("GET", "/api/v1/templates/tpl_x", "compositions:read"),
    ("POST", "/api/v1/templates/tpl_x/runs", "compositions:write"),
    ("POST", "/api/v1/batches", "compositions:write"),
    ("GET", "/api/v1/batches/bat_x", "compositions:read"),
    ("GET", "/api/v1/batches/bat_x/rows", "compositions:read"),
    ("POST", "/api/v1/batches/bat_x/cancel", "compositions:write"),
    ("GET", "/api/v1/batches/bat_x/archive", "compositions:read"),
]
WITH_HEAD = SCOPES + [("HEAD", url, scope) for method, url, scope in SCOPES if method == "GET"]
SCOPED = [row for row in WITH_HEAD if row[2] != ANY_SCOPE]


def client_with(owner, scopes):
    raw = create_api_token(workspace=owner.current_workspace, user=owner, name="t", scopes=scopes)[
        1
    ]
    return api_client(raw)


def call(client, method, url):
    return client.generic(method, url, "{}", content_type="application/json")


@pytest.mark.parametrize(("method", "url", "scope"), SCOPED)
def test_a_token_without_the_endpoints_scope_is_refused(owner, method, url, scope):
    others = [s for s in ApiToken.SCOPES if s != scope]
    response = call(client_with(owner, others), method, url)
    assert response.status_code == 403, response.content
    if method != "HEAD":  # HEAD answers without a body
        assert_problem(response, 403, "permission_denied")


@pytest.mark.parametrize(("method", "url", "scope"), SCOPED)
def test_that_scope_alone_lets_the_call_through(owner, method, url, scope):
    response = call(client_with(owner, [scope]), method, url)
    # Past the scope check: the made-up ids are 404, the empty bodies 400.
    assert response.status_code not in (401, 403), response.content


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("url", ["/api/v1/me", "/api/v1/models"])
def test_me_and_models_answer_any_token_of_the_workspace(owner, method, url):
    assert call(client_with(owner, ["usage:read"]), method, url).status_code == 200


def test_options_describes_an_endpoint_to_any_token(owner):
    # What the public schema says too; no data of the workspace.
    response = client_with(owner, ["usage:read"]).options("/api/v1/webhooks")
    assert response.status_code == 200 and response.json()["name"] == "Webhooks"


def _routed_views():
    for pattern in api_urls.urlpatterns:
        view_class = getattr(pattern.callback, "view_class", None)
        if (
            isinstance(pattern, URLPattern)
            and view_class
            and issubclass(view_class, WorkspaceAPIView)
        ):
            yield view_class


def test_the_table_covers_every_endpoint_and_method():
    routed = {
        (view_class, method.upper())
        for view_class in _routed_views()
        for method in view_class.http_method_names
        if method not in ("head", "options") and hasattr(view_class, method)
    }
    covered = {(resolve(url).func.view_class, method) for method, url, _ in SCOPES}
    assert routed == covered
    for method, url, scope in SCOPES:
        assert resolve(url).func.view_class.required_scopes[method] == scope, (method, url)


class Undeclared(WorkspaceAPIView):
    """A view whose author forgot to name a scope."""

    def get(self, request):
        return Response({"secret": True})


def test_a_method_without_a_declared_scope_refuses_every_token(owner):
    token = create_api_token(workspace=owner.current_workspace, user=owner, name="all")[0]
    for method in ("get", "head"):
        request = getattr(APIRequestFactory(), method)("/")
        force_authenticate(request, user=owner, token=token)
        assert Undeclared.as_view()(request).status_code == 403
    # A browser session has every scope.
    request = APIRequestFactory().get("/")
    force_authenticate(request, user=owner)
    assert Undeclared.as_view()(request).status_code == 200


def test_head_on_a_result_file_needs_compositions_read(owner):
    api = client_with(owner, None)
    composition_id = compose_json(api).json()["id"]
    run_composition(composition_id)
    url = api.get(f"/api/v1/compositions/{composition_id}").json()["results"][0]["url"]
    uploads_only = client_with(owner, ["uploads:write"])
    assert uploads_only.head(url).status_code == 403
    assert uploads_only.get(url).status_code == 403
    assert client_with(owner, ["compositions:read"]).head(url).status_code in (200, 302)


def test_a_usage_token_cannot_create_or_list_webhooks(owner, settings):
    settings.BANANASITE_FETCH_ALLOW_NETWORKS = ["127.0.0.1/32"]
    body = {"url": "http://127.0.0.1:9/hook", "events": ["composition.succeeded"]}
    usage = client_with(owner, ["usage:read"])
    assert_problem(usage.post("/api/v1/webhooks", body, format="json"), 403, "permission_denied")
    assert_problem(usage.get("/api/v1/webhooks"), 403, "permission_denied")
    assert not Webhook.objects.exists()
    hooks = client_with(owner, ["webhooks:write"])
    created = hooks.post("/api/v1/webhooks", body, format="json")
    assert created.status_code == 201, created.content
    hook_id = created.json()["id"]
    assert_problem(usage.delete(f"/api/v1/webhooks/{hook_id}"), 403, "permission_denied")
    assert hooks.delete(f"/api/v1/webhooks/{hook_id}").status_code == 204


def test_a_token_created_without_scopes_has_every_scope_including_webhooks(owner):
    token = create_api_token(workspace=owner.current_workspace, user=owner, name="all")[0]
    assert token.has_scope("webhooks:write")
    assert set(token.scopes) == set(ApiToken.SCOPES)


# --- Membership ------------------------------------------------------------------------------


@pytest.fixture
def team_and_mate(owner, make_user):
    team = create_team(owner=owner, name="Acme")
    mate = make_user("mate@example.com")
    Membership.objects.create(workspace=team, user=mate, role=Membership.Role.ADMIN)
    return team, mate


def _token(workspace, user):
    return api_client(create_api_token(workspace=workspace, user=user, name="m")[1])


def test_a_token_stops_working_when_its_membership_is_deleted(team_and_mate):
    team, mate = team_and_mate
    client = _token(team, mate)
    assert client.get("/api/v1/me").status_code == 200
    # As the admin site (or any other path that does not revoke tokens) would.
    Membership.objects.filter(workspace=team, user=mate).delete()
    assert_problem(client.get("/api/v1/me"), 401, "not_authenticated")
    assert_problem(client.get("/api/v1/compositions"), 401, "not_authenticated")


def test_a_token_survives_a_transfer_but_not_leaving_after_it(owner, team_and_mate):
    team, mate = team_and_mate
    client = _token(team, owner)
    transfer_ownership(owner=owner, workspace=team, new_owner=mate)
    assert client.get("/api/v1/me").status_code == 200  # still a member, now an admin
    # Leaving revokes the token; deny it by membership too, should the revocation be undone.
    leave_workspace(user=owner, workspace=team)
    ApiToken.objects.filter(workspace=team, user=owner).update(revoked_at=None)
    assert_problem(client.get("/api/v1/me"), 401, "not_authenticated")
