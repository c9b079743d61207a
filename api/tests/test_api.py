"""REST API v1, against the contract in shared/design/api-v1.md."""

import os

import pytest
from rest_framework.test import APIClient

from accounts.models import Membership
from accounts.services import create_api_token, revoke_api_token
from billing.models import Wallet
from compositions.models import Composition, Upload
from compositions.tasks import run_composition
from conftest import png_header_only, sample_bytes

pytestmark = pytest.mark.django_db


def api_client(raw_token=None):
    client = APIClient()
    if raw_token:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_token}")
    return client


@pytest.fixture
def token(owner):
    return create_api_token(workspace=owner.current_workspace, user=owner, name="ci")[1]


@pytest.fixture
def api(token):
    return api_client(token)


@pytest.fixture
def teammate_api(owner, make_user):
    mate = make_user("mate@example.com")
    Membership.objects.create(workspace=owner.current_workspace, user=mate)
    return api_client(create_api_token(workspace=owner.current_workspace, user=mate, name="m")[1])


@pytest.fixture
def stranger_api(stranger):
    return api_client(
        create_api_token(workspace=stranger.current_workspace, user=stranger, name="s")[1]
    )


def upload(api, name="chelsea.png"):
    response = api.post("/api/v1/uploads", {"file": _file(name)}, format="multipart")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def _file(name, data=None):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data if data is not None else sample_bytes(name))


def compose_json(api, **body):
    ids = [upload(api, "chelsea.png"), upload(api, "coffee.png")]
    payload = {
        "prompt": "The cat from image 1 next to the cup from image 2",
        "inputs": [{"upload": ids[0], "role": "subject"}, {"upload": ids[1]}],
        "image_size": "512",
    }
    payload.update(body)
    return api.post("/api/v1/compositions", payload, format="json")


def assert_problem(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["code"] == code
    assert {"type", "title", "detail"} <= body.keys()
    return body


# --- me, models ------------------------------------------------------------------------------


def test_me_describes_the_caller_and_workspace(api, owner):
    body = api.get("/api/v1/me").json()
    assert body["user"] == {"email": owner.email}
    assert body["workspace"]["slug"] == owner.current_workspace.slug
    assert body["workspace"]["plan"] == "free"
    assert body["balance"] == 50
    assert body["quotas"]["daily_images"] == {"used": 0, "limit": 30}


def test_models_lists_the_local_compositor(api):
    [model] = api.get("/api/v1/models").json()
    assert model["id"] == "local" and model["provider"] == "local" and model["allowed"] is True
    assert model["max_images"] == 14 and "16:9" in model["aspect_ratios"]
    assert model["credits_per_image"]["1K"] == 1


# --- authentication --------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer nope", "Token abc", "Basic eDp5"])
def test_missing_or_bad_tokens_are_401(header):
    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)
    assert_problem(client.get("/api/v1/me"), 401, "not_authenticated")


def test_revoked_and_expired_tokens_stop_working_at_once(owner):
    from datetime import timedelta

    from django.utils import timezone

    token, raw = create_api_token(workspace=owner.current_workspace, user=owner, name="x")
    client = api_client(raw)
    assert client.get("/api/v1/me").status_code == 200
    revoke_api_token(token=token)
    assert_problem(client.get("/api/v1/me"), 401, "not_authenticated")
    _, raw2 = create_api_token(
        workspace=owner.current_workspace,
        user=owner,
        name="old",
        expires_at=timezone.now() - timedelta(seconds=1),
    )
    assert_problem(api_client(raw2).get("/api/v1/me"), 401, "not_authenticated")


def test_tokens_are_stored_hashed_and_record_last_use(owner):
    token, raw = create_api_token(workspace=owner.current_workspace, user=owner, name="h")
    assert raw.startswith(f"bns_{token.prefix}_")
    assert raw not in token.token_hash and len(token.token_hash) == 64
    api_client(raw).get("/api/v1/me")
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_a_token_without_the_scope_is_403(owner):
    raw = create_api_token(
        workspace=owner.current_workspace, user=owner, name="ro", scopes=["compositions:read"]
    )[1]
    client = api_client(raw)
    assert client.get("/api/v1/compositions").status_code == 200
    assert_problem(
        client.post("/api/v1/uploads", {"file": _file("chelsea.png")}, format="multipart"),
        403,
        "permission_denied",
    )
    assert_problem(client.get("/api/v1/usage"), 403, "permission_denied")
    assert_problem(
        client.post("/api/v1/compositions", {"prompt": "x"}, format="json"),
        403,
        "permission_denied",
    )


def test_browser_session_works_with_csrf_enforced(owner):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.get("/api/v1/me").status_code == 200
    assert_problem(client.post("/api/v1/estimate", {}, format="json"), 403, "permission_denied")


def test_x_workspace_picks_another_of_my_workspaces(owner, stranger):
    from accounts.services import create_team

    team = create_team(owner=owner, name="Acme Studio")
    client = APIClient()
    client.force_login(owner)
    assert client.get("/api/v1/me", HTTP_X_WORKSPACE=team.slug).json()["workspace"]["slug"] == (
        team.slug
    )
    assert_problem(
        client.get("/api/v1/me", HTTP_X_WORKSPACE=stranger.current_workspace.slug), 404, "not_found"
    )


# --- uploads ---------------------------------------------------------------------------------


def test_upload_a_file(api, owner):
    response = api.post("/api/v1/uploads", {"file": _file("coffee.png")}, format="multipart")
    body = response.json()
    assert response.status_code == 201
    assert body["id"].startswith("up_") and body["status"] == "ready"
    assert (body["width"], body["height"], body["content_type"]) == (600, 400, "image/png")
    assert len(body["sha256"]) == 64 and body["bytes"] > 0
    assert api.get(f"/api/v1/uploads/{body['id']}").json() == body


@pytest.mark.parametrize(
    ("name", "data", "status", "code"),
    [
        ("doc.jpg", b"%PDF-1.7\n%%EOF", 415, "unsupported_image_type"),
        ("bomb.png", png_header_only(50000, 50000), 400, "image_too_large_pixels"),
        ("cut.jpg", sample_bytes("rocket.jpg")[:4000], 400, "image_corrupt"),
    ],
)
def test_bad_uploads_are_clear_problems_and_store_nothing(
    api, media_files, name, data, status, code
):
    response = api.post("/api/v1/uploads", {"file": _file(name, data)}, format="multipart")
    body = assert_problem(response, status, code)
    assert body["errors"][0]["field"] == "file"
    assert not Upload.objects.exists() and media_files() == []


def test_delete_an_upload_removes_its_file(api, media_files, django_capture_on_commit_callbacks):
    upload_id = upload(api)
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(f"/api/v1/uploads/{upload_id}").status_code == 204
    assert media_files() == []
    assert_problem(api.get(f"/api/v1/uploads/{upload_id}"), 404, "not_found")


# --- compositions ----------------------------------------------------------------------------


def test_create_a_composition_from_uploads(api, owner):
    response = compose_json(api, preset="collage", num_images=2)
    assert response.status_code == 202
    body = response.json()
    assert body["id"].startswith("cmp_") and body["status"] == "queued"
    assert body["progress"] == {"stage": "queued", "percent": 0}
    assert [i["position"] for i in body["inputs"]] == [1, 2]
    assert [i["role"] for i in body["inputs"]] == ["subject", "other"]
    assert body["credits"] == {"reserved": 2, "charged": 0, "refunded": 0}
    assert body["error"] is None and body["results"] == [] and body["parent"] is None
    assert Wallet.objects.get(workspace=owner.current_workspace).balance == 48


def test_a_finished_composition_shows_results_with_authenticated_urls(api, owner):
    composition_id = compose_json(api).json()["id"]
    run_composition(composition_id)
    body = api.get(f"/api/v1/compositions/{composition_id}").json()
    assert body["status"] == "succeeded" and body["progress"]["percent"] == 100
    assert body["credits"] == {"reserved": 0, "charged": 1, "refunded": 0}
    [result] = body["results"]
    assert result["id"].startswith("res_") and result["content_type"] == "image/png"
    assert (result["width"], result["height"]) == (512, 512)
    image = api.get(result["url"])
    assert image.status_code == 200
    assert b"".join(image.streaming_content)[:8] == b"\x89PNG\r\n\x1a\n"
    assert api.get(result["thumbnail_url"]).status_code == 200
    assert_problem(APIClient().get(result["url"]), 401, "not_authenticated")


def test_multipart_submission_with_repeated_images(api):
    response = api.post(
        "/api/v1/compositions",
        {
            "prompt": "combine image 1 and image 2",
            "images": [_file("chelsea.png"), _file("logo.png")],
            "preset": "logo_placement",
            "image_size": "512",
        },
        format="multipart",
    )
    assert response.status_code == 202, response.content
    assert [i["role"] for i in response.json()["inputs"]] == ["product", "logo"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"inputs": "one"}, 400, "invalid_request"),
        ({"prompt": ""}, 400, "prompt_invalid"),
        ({"prompt": "x" * 4001}, 400, "prompt_too_long"),
        ({"num_images": 5}, 400, "invalid_request"),
        ({"aspect_ratio": "7:3"}, 400, "unsupported_option"),
        ({"model": "gpt-image"}, 400, "unsupported_option"),
        ({"image_size": "4K"}, 403, "size_not_allowed"),
        ({"parent": "cmp_nope"}, 400, "not_found"),
    ],
)
def test_bad_composition_requests_are_problems_and_charge_nothing(api, owner, body, status, code):
    response = compose_json(api, **body)
    assert_problem(response, status, code)
    assert not Composition.objects.exists()
    assert Wallet.objects.get(workspace=owner.current_workspace).balance == 50


def test_too_few_and_too_many_inputs(api):
    one = upload(api)
    assert_problem(
        api.post(
            "/api/v1/compositions", {"prompt": "x", "inputs": [{"upload": one}]}, format="json"
        ),
        400,
        "too_few_images",
    )
    many = {"prompt": "x", "inputs": [{"upload": one}] * 15}
    assert_problem(api.post("/api/v1/compositions", many, format="json"), 400, "too_many_images")


def test_insufficient_credits_is_402(api, owner):
    from billing.services import adjust_credits

    wallet = Wallet.objects.get(workspace=owner.current_workspace)
    adjust_credits(wallet=wallet, amount=-49, reason="test")
    body = assert_problem(compose_json(api, num_images=2), 402, "insufficient_credits")
    assert body["detail"] == "This composition needs 2 credits; the workspace has 1."


def test_over_quota_is_429_with_retry_after(api):
    from billing.models import Plan

    Plan.objects.filter(code="free").update(daily_images_per_member=1)
    response = compose_json(api, num_images=2)
    assert_problem(response, 429, "daily_quota_exceeded")
    assert int(response["Retry-After"]) > 0


def test_list_is_newest_first_with_cursor_and_filters(api, owner):
    from compositions.tests.factories import compose

    made = [compose(owner, prompt=f"n{i}") for i in range(5)]
    made[0].fail(code="provider_error", message="x")
    page = api.get("/api/v1/compositions", {"limit": 2}).json()
    assert [c["prompt"] for c in page["results"]] == ["n4", "n3"]
    # New compositions arriving between pages do not shift the next page.
    compose(owner, prompt="newer")
    second = api.get(page["next"]).json()
    assert [c["prompt"] for c in second["results"]] == ["n2", "n1"]
    third = api.get(second["next"]).json()
    assert [c["prompt"] for c in third["results"]] == ["n0"] and third["next"] is None
    failed = api.get("/api/v1/compositions", {"status": "failed"}).json()["results"]
    assert [c["prompt"] for c in failed] == ["n0"]
    assert failed[0]["error"] == {"code": "provider_error", "message": "x"}
    assert_problem(api.get("/api/v1/compositions", {"status": "bogus"}), 400, "invalid_request")
    assert_problem(
        api.get("/api/v1/compositions", {"created_after": "yesterday"}), 400, "invalid_request"
    )


def test_cancel_then_cancel_again_is_409(api):
    composition_id = compose_json(api).json()["id"]
    response = api.post(f"/api/v1/compositions/{composition_id}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "canceled"
    assert response.json()["credits"] == {"reserved": 0, "charged": 0, "refunded": 1}
    assert_problem(api.post(f"/api/v1/compositions/{composition_id}/cancel"), 409, "invalid_state")


def test_variations_and_parent_lineage(api):
    source = compose_json(api).json()["id"]
    response = api.post(
        f"/api/v1/compositions/{source}/variations",
        {"num_images": 2, "style": "creative"},
        format="json",
    )
    assert response.status_code == 202
    body = response.json()
    assert body["parent"] == source and body["num_images"] == 2 and body["style"] == "creative"
    child = compose_json(api, parent=source).json()
    assert child["parent"] == source


def test_delete_a_composition(api, django_capture_on_commit_callbacks):
    composition_id = compose_json(api).json()["id"]
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(f"/api/v1/compositions/{composition_id}").status_code == 204
    assert_problem(api.get(f"/api/v1/compositions/{composition_id}"), 404, "not_found")


def test_estimate_creates_nothing(api, owner):
    one, two = upload(api), upload(api, "coffee.png")
    body = {"prompt": "x", "inputs": [{"upload": one}, {"upload": two}], "num_images": 3}
    response = api.post("/api/v1/estimate", body, format="json").json()
    assert (response["credits"], response["allowed"], response["reasons"]) == (3, True, [])
    # "x" says nothing of either photo: the linter warns, and the estimate still allows it.
    assert [w["code"] for w in response["warnings"]] == ["image_unmentioned"] * 2
    refused = api.post("/api/v1/estimate", {**body, "image_size": "4K"}, format="json").json()
    assert refused["allowed"] is False
    assert [r["code"] for r in refused["reasons"]] == ["size_not_allowed"]
    assert not Composition.objects.exists()


def test_estimate_lints_the_prompt_with_the_roles_sent(api):
    one, two = upload(api), upload(api, "coffee.png")
    inputs = [{"upload": one, "role": "subject"}, {"upload": two, "role": "background"}]
    body = {"prompt": "The subject on the background, then image 3, titled YOUR TITLE HERE"}
    warned = api.post("/api/v1/estimate", {**body, "inputs": inputs}, format="json").json()
    assert warned["allowed"] is True
    assert [w["code"] for w in warned["warnings"]] == ["image_not_there", "placeholder_left"]
    assert "image 3, but there are 2 photos" in warned["warnings"][0]["message"]
    form = {
        "prompt": "The cat from image 1 beside the cup in image 2",
        "images": [_file("chelsea.png"), _file("coffee.png")],
        "roles": ["subject", "product"],
    }
    clean = api.post("/api/v1/estimate", form, format="multipart").json()
    assert clean["warnings"] == []


@pytest.mark.parametrize("raw", ["0", "1", "yes", "on", "True"])
def test_a_form_boolean_is_only_true_or_false_as_the_schema_says(api, raw):
    body = {"prompt": "x", "images": [_file("chelsea.png"), _file("coffee.png")], "consent": raw}
    response = api.post("/api/v1/estimate", body, format="multipart")
    assert_problem(response, 400, "invalid_request")
    assert response.json()["errors"][0]["field"] == "consent"


@pytest.mark.parametrize("raw", ["true", "false"])
def test_a_form_boolean_true_or_false_is_accepted(api, raw):
    body = {"prompt": "x", "images": [_file("chelsea.png"), _file("coffee.png")], "consent": raw}
    assert api.post("/api/v1/estimate", body, format="multipart").json()["allowed"] is True


def test_a_json_boolean_must_be_a_boolean(api):
    one, two = upload(api), upload(api, "coffee.png")
    body = {"prompt": "x", "inputs": [{"upload": one}, {"upload": two}], "consent": 1}
    assert_problem(api.post("/api/v1/estimate", body, format="json"), 400, "invalid_request")


# --- teammates and strangers -----------------------------------------------------------------


def test_teammates_share_the_workspace(api, teammate_api):
    composition_id = compose_json(api).json()["id"]
    assert teammate_api.get(f"/api/v1/compositions/{composition_id}").status_code == 200
    listed = teammate_api.get("/api/v1/compositions").json()["results"]
    assert [c["id"] for c in listed] == [composition_id]


def test_a_stranger_gets_404_for_everything(api, stranger_api):
    composition_id = compose_json(api).json()["id"]
    run_composition(composition_id)
    body = api.get(f"/api/v1/compositions/{composition_id}").json()
    result = body["results"][0]
    upload_id = body["inputs"][0]["upload"]
    for method, url in [
        ("get", f"/api/v1/compositions/{composition_id}"),
        ("delete", f"/api/v1/compositions/{composition_id}"),
        ("post", f"/api/v1/compositions/{composition_id}/cancel"),
        ("post", f"/api/v1/compositions/{composition_id}/variations"),
        ("get", f"/api/v1/uploads/{upload_id}"),
        ("delete", f"/api/v1/uploads/{upload_id}"),
        ("get", result["url"]),
    ]:
        assert_problem(getattr(stranger_api, method)(url), 404, "not_found")
    assert stranger_api.get("/api/v1/compositions").json()["results"] == []
    # Using another workspace's upload as an input is refused too.
    response = stranger_api.post(
        "/api/v1/compositions",
        {"prompt": "x", "inputs": [{"upload": upload_id}, {"upload": upload_id}]},
        format="json",
    )
    assert_problem(response, 400, "not_found")
    assert_problem(
        stranger_api.post(
            "/api/v1/reports",
            {"target_type": "result", "target_id": result["id"], "reason": "spam"},
            format="json",
        ),
        404,
        "not_found",
    )


# --- reports and usage -----------------------------------------------------------------------


def test_report_a_result_once_while_open(api):
    composition_id = compose_json(api).json()["id"]
    run_composition(composition_id)
    result_id = api.get(f"/api/v1/compositions/{composition_id}").json()["results"][0]["id"]
    body = {"target_type": "result", "target_id": result_id, "reason": "privacy", "details": "me"}
    response = api.post("/api/v1/reports", body, format="json")
    assert response.status_code == 201
    assert response.json()["target_id"] == result_id and response.json()["status"] == "open"
    assert_problem(api.post("/api/v1/reports", body, format="json"), 409, "report_exists")
    assert_problem(
        api.post("/api/v1/reports", {**body, "reason": "boring"}, format="json"),
        400,
        "unsupported_option",
    )


def test_usage_per_day_with_member_totals_for_admins(api, teammate_api, owner):
    composition_id = compose_json(api).json()["id"]
    run_composition(composition_id)
    body = api.get("/api/v1/usage").json()
    assert len(body["days"]) == 30
    assert body["totals"] == {"images": 1, "credits": 1, "compositions": 1, "failed": 0}
    assert body["members"] == [
        {"email": owner.email, "compositions": 1, "failed": 0, "credits": 1, "images": 1}
    ]
    assert "members" not in teammate_api.get("/api/v1/usage").json()
    bad = api.get("/api/v1/usage", {"from": "2026-13-01"})
    assert_problem(bad, 400, "invalid_request")


def test_the_schema_and_docs_are_served(client):
    schema = client.get("/api/v1/schema")
    assert schema.status_code == 200
    assert b"/api/v1/compositions" in schema.content
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()
    assert b"cdn" not in docs.content.lower()


def test_errors_never_leak_internals(api, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("password=hunter2 at /srv/app/secret.py")

    monkeypatch.setattr("compositions.services.create_upload", boom)
    response = api.post("/api/v1/uploads", {"file": _file("chelsea.png")}, format="multipart")
    body = assert_problem(response, 500, "internal_error")
    assert "hunter2" not in response.content.decode() and "/srv" not in body["detail"]


def test_a_photo_over_the_byte_limit_is_413(api, settings, media_files):
    settings.BANANASITE_MAX_UPLOAD_BYTES = 10_000
    response = api.post("/api/v1/uploads", {"file": _file("rocket.jpg")}, format="multipart")
    assert_problem(response, 413, "image_too_large")
    assert media_files() == []


def test_oversized_api_request_is_problem_json_413(api, settings):
    settings.BANANASITE_MAX_REQUEST_BYTES = 2048
    response = api.post(
        "/api/v1/uploads",
        {"file": _file("big.png", os.urandom(8192))},
        format="multipart",
    )
    assert_problem(response, 413, "request_too_large")


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/api/v1/me"),
        ("get", "/api/v1/models"),
        ("post", "/api/v1/uploads"),
        ("get", "/api/v1/uploads/up_x"),
        ("delete", "/api/v1/uploads/up_x"),
        ("get", "/api/v1/compositions"),
        ("post", "/api/v1/compositions"),
        ("get", "/api/v1/compositions/cmp_x"),
        ("delete", "/api/v1/compositions/cmp_x"),
        ("post", "/api/v1/compositions/cmp_x/cancel"),
        ("post", "/api/v1/compositions/cmp_x/variations"),
        ("post", "/api/v1/estimate"),
        ("get", "/api/v1/results/res_x/file"),
        ("post", "/api/v1/reports"),
        ("get", "/api/v1/usage"),
        ("get", "/api/v1/webhooks"),
        ("post", "/api/v1/webhooks"),
        ("delete", "/api/v1/webhooks/wh_x"),
    ],
)
def test_anonymous_callers_get_401_everywhere(method, url):
    assert_problem(getattr(APIClient(), method)(url), 401, "not_authenticated")


def test_unknown_api_paths_are_problem_json(api):
    assert_problem(api.get("/api/v1/nothing-here"), 404, "not_found")
    assert_problem(api.get("/api/v1/results/res_x/original"), 404, "not_found")


def test_member_totals_count_each_composition_once_whatever_its_results(api, owner):
    # Two compositions, one with two results: a join with results must not inflate the counts.
    first = compose_json(api, num_images=2).json()["id"]
    second = compose_json(api).json()["id"]
    run_composition(first)
    run_composition(second)
    body = api.get("/api/v1/usage").json()
    assert body["members"] == [
        {"email": owner.email, "compositions": 2, "failed": 0, "credits": 3, "images": 3}
    ]
    assert body["totals"] == {"images": 3, "credits": 3, "compositions": 2, "failed": 0}


def test_more_files_than_django_reads_is_a_400_problem_not_a_500(owner, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from api.tests.api_clients import token_client

    api = token_client(owner)
    files = [
        SimpleUploadedFile(f"a{i}.png", b"x")
        for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FILES + 1)
    ]
    for path in ("/api/v1/estimate", "/api/v1/compositions"):
        response = api.post(path, {"prompt": "p", "images": files}, format="multipart")
        assert response.status_code == 400, (path, response.content)
        assert response.json()["code"] == "too_many_images"


@pytest.mark.parametrize(
    "field, value, code",
    [
        ("prompt", 123, "invalid_request"),
        ("parent", False, "invalid_request"),
        # A choice (the schema's enum): neither `true` nor "true" is a thinking level.
        ("thinking_level", True, "unsupported_option"),
        ("thinking_level", "true", "unsupported_option"),
    ],
)
def test_a_json_string_field_refuses_numbers_and_booleans(api, field, value, code):
    # DRF turns `true` into "True"; the schema says string, so it is a 400 like any bad type.
    one, two = upload(api), upload(api, "coffee.png")
    body = {"prompt": "x", "inputs": [{"upload": one}, {"upload": two}], field: value}
    for path in ("/api/v1/estimate", "/api/v1/compositions"):
        response = api.post(path, body, format="json")
        assert_problem(response, 400, code)
        assert response.json()["errors"][0]["field"] == field
