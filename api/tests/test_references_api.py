"""Saved references in the REST API (issue 16, additions to the contract): create, list, get,
delete, `{"reference": "ref_..."}` in a composition's inputs, consent, strangers."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts.services import create_api_token
from api.tests.test_api import _file, api_client, assert_problem, upload
from compositions.models import Composition
from compositions.tasks import run_composition
from references.models import Reference

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(owner):
    return api_client(create_api_token(workspace=owner.current_workspace, user=owner, name="r")[1])


@pytest.fixture
def stranger_api(stranger):
    return api_client(
        create_api_token(workspace=stranger.current_workspace, user=stranger, name="s")[1]
    )


def create(api, *names, headers=None, **fields):
    body = {"name": "Blue mug", "kind": "product", **fields}
    body["images"] = [_file(n) for n in (names or ["coffee.png"])]
    return api.post("/api/v1/references", body, format="multipart", **(headers or {}))


def until(days):
    return (timezone.now() + timedelta(days=days)).date().isoformat()


def test_create_a_reference_with_images_and_roles(api):
    response = create(api, "coffee.png", "rocket.jpg", roles=["product", "style"], notes="Ceramic")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["id"].startswith("ref_") and body["version"] == 1 and body["kind"] == "product"
    assert [(i["position"], i["role"]) for i in body["images"]] == [(1, "product"), (2, "style")]
    assert body["images"][0]["upload"].startswith("up_") and body["images"][0]["width"] == 600
    assert body["usable"] is True and body["unusable_reason"] is None and body["consent"] is None
    assert api.get(f"/api/v1/references/{body['id']}").json() == body


def test_roles_left_out_follow_the_kind(api):
    body = create(api, "coffee.png", "rocket.jpg", kind="logo", roles=["other"]).json()
    assert [i["role"] for i in body["images"]] == ["other", "logo"]


def test_creating_is_idempotent_with_a_key(api):
    first = create(api, headers={"HTTP_IDEMPOTENCY_KEY": "ref-1"})
    again = create(api, headers={"HTTP_IDEMPOTENCY_KEY": "ref-1"})
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert Reference.objects.count() == 1


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"name": ""}, 400, "invalid_request"),
        ({"kind": "person"}, 400, "unsupported_option"),
        ({"depicts_person": "true"}, 400, "consent_required"),
        ({"depicts_person": "true", "consent": "true"}, 400, "consent_until_required"),
        ({"depicts_person": "yes"}, 400, "invalid_request"),
        ({"roles": ["hero"]}, 400, "unsupported_option"),
    ],
)
def test_bad_fields_are_clear_problems_and_create_nothing(api, media_files, fields, status, code):
    assert_problem(create(api, **fields), status, code)
    assert not Reference.objects.exists() and media_files() == []


def test_a_reference_needs_images_and_good_ones(api, media_files):
    response = api.post("/api/v1/references", {"name": "x", "kind": "logo"}, format="multipart")
    assert_problem(response, 400, "invalid_request")
    bad = api.post(
        "/api/v1/references",
        {
            "name": "x",
            "kind": "logo",
            "images": [_file("coffee.png"), _file("doc.jpg", b"%PDF-1.7")],
        },
        format="multipart",
    )
    assert_problem(bad, 415, "unsupported_image_type")
    assert not Reference.objects.exists() and media_files() == []


def test_a_person_needs_consent_recorded_with_who_and_until_when(api, owner):
    body = create(
        api,
        "astronaut.png",
        kind="character",
        depicts_person="true",
        consent="true",
        consent_until=until(30),
    ).json()
    assert body["depicts_person"] is True
    consent = body["consent"]
    assert consent["attested_by"] == owner.email
    assert consent["workspace"] == owner.current_workspace.slug
    assert consent["valid_until"].startswith(until(31)) and consent["withdrawn_at"] is None
    past = create(
        api, kind="character", depicts_person="true", consent="true", consent_until=until(-1)
    )
    assert_problem(past, 400, "consent_until_past")


def test_list_filters_by_kind_and_searches_with_cursor_pages(api):
    create(api, name="Blue mug", notes="ceramic")
    create(api, name="Acme", kind="logo")
    create(api, name="Red mug")
    names = [r["name"] for r in api.get("/api/v1/references").json()["results"]]
    assert names == ["Red mug", "Acme", "Blue mug"]
    assert [r["name"] for r in api.get("/api/v1/references?kind=logo").json()["results"]] == [
        "Acme"
    ]
    assert [r["name"] for r in api.get("/api/v1/references?q=ceramic").json()["results"]] == [
        "Blue mug"
    ]
    page = api.get("/api/v1/references?limit=2").json()
    assert len(page["results"]) == 2 and page["next"]
    rest = api.get(page["next"]).json()
    assert [r["name"] for r in rest["results"]] == ["Blue mug"] and rest["next"] is None
    assert_problem(api.get("/api/v1/references?kind=person"), 400, "unsupported_option")


def test_delete_a_reference(api):
    ref = create(api).json()["id"]
    assert api.delete(f"/api/v1/references/{ref}").status_code == 204
    assert_problem(api.get(f"/api/v1/references/{ref}"), 404, "not_found")


def test_a_strangers_reference_is_404_everywhere(api, stranger_api):
    ref = create(api).json()["id"]
    assert_problem(stranger_api.get(f"/api/v1/references/{ref}"), 404, "not_found")
    assert_problem(stranger_api.delete(f"/api/v1/references/{ref}"), 404, "not_found")
    assert stranger_api.get("/api/v1/references").json()["results"] == []
    theirs = {
        "prompt": "The cat from image 1 with the mug from image 2",
        "image_size": "512",
        "inputs": [{"upload": upload(stranger_api)}, {"reference": ref}],
    }
    assert_problem(
        stranger_api.post("/api/v1/compositions", theirs, format="json"), 400, "reference_not_found"
    )
    assert Reference.objects.filter(public_id=ref).exists()


def test_a_reference_in_inputs_composes_and_records_its_version(api):
    ref = create(api, "coffee.png").json()["id"]
    payload = {
        "prompt": "The cat from image 1 with the mug from image 2",
        "image_size": "512",
        "inputs": [{"upload": upload(api), "role": "subject"}, {"reference": ref}],
    }
    response = api.post("/api/v1/compositions", payload, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert [
        (i["position"], i["role"], i["reference"], i["reference_version"]) for i in body["inputs"]
    ] == [
        (1, "subject", None, None),
        (2, "product", ref, 1),
    ]
    run_composition(body["id"])
    done = api.get(f"/api/v1/compositions/{body['id']}").json()
    assert done["status"] == "succeeded" and len(done["results"]) == 1
    assert done["inputs"][1]["reference_version"] == 1


def test_an_input_names_exactly_one_source(api):
    ref = create(api).json()["id"]
    payload = {
        "prompt": "The cat from image 1 with the mug from image 2",
        "inputs": [{"upload": upload(api), "reference": ref}, {"reference": ref}],
    }
    assert_problem(api.post("/api/v1/compositions", payload, format="json"), 400, "invalid_request")
    payload["inputs"] = [{"upload": upload(api)}, {"reference": 12}]
    assert_problem(api.post("/api/v1/compositions", payload, format="json"), 400, "invalid_request")
    assert not Composition.objects.exists()


def test_a_person_whose_consent_expired_is_refused_with_409(api, owner, media_files):
    ref = create(
        api,
        "astronaut.png",
        kind="character",
        depicts_person="true",
        consent="true",
        consent_until=until(1),
    ).json()["id"]
    payload = {
        "prompt": "The cat from image 1 with the person from image 2",
        "image_size": "512",
        "inputs": [{"upload": upload(api)}, {"reference": ref}],
    }
    with time_machine.travel(timezone.now() + timedelta(days=3)):
        body = assert_problem(
            api.post("/api/v1/compositions", payload, format="json"),
            409,
            "reference_consent_expired",
        )
        assert "expired" in body["detail"]
        got = api.get(f"/api/v1/references/{ref}").json()
        assert got["usable"] is False and got["unusable_reason"] == "reference_consent_expired"
    assert not Composition.objects.exists()
    assert owner.current_workspace.wallet.balance == 50  # nothing held


def test_an_estimate_counts_a_references_images(api):
    ref = create(api, "coffee.png", "rocket.jpg").json()["id"]
    body = {
        "prompt": "The cat from image 1 with the mug from image 2",
        "image_size": "512",
        "inputs": [{"upload": upload(api)}, {"reference": ref}],
    }
    estimate = api.post("/api/v1/estimate", body, format="json").json()
    assert estimate["allowed"] is True and estimate["credits"] == 1
    many = {**body, "inputs": [{"upload": upload(api)}] + [{"reference": ref}] * 7}
    estimate = api.post("/api/v1/estimate", many, format="json").json()
    assert estimate["allowed"] is False  # 15 images
    assert [r["code"] for r in estimate["reasons"]] == ["too_many_images"]


def test_a_nul_in_the_search_is_dropped_not_an_error(api):
    create(api, name="Blue mug")
    response = api.get("/api/v1/references?q=Blue%00")
    assert response.status_code == 200
    assert [r["name"] for r in response.json()["results"]] == ["Blue mug"]
