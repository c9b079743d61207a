"""Templates through the API: made from a composition or defined in full, versioned, run."""

import pytest
from rest_framework.test import APIClient

from accounts.models import Membership
from accounts.services import create_api_token
from billing.models import LedgerEntry, Wallet
from blueprints.models import Template, TemplateRun
from blueprints.services import revise_template
from compositions.models import Composition
from compositions.tests.factories import compose

from .helpers import fund, make_template, small_upload

pytestmark = pytest.mark.django_db


def client_for(user):
    raw = create_api_token(workspace=user.current_workspace, user=user, name="t")[1]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def api(owner):
    fund(owner)
    return client_for(owner)


def test_a_composition_becomes_a_template_with_a_slot_per_photo(api, owner):
    source = compose(owner, model="local", image_size="512", roles=["subject", "background"])
    response = api.post(
        "/api/v1/templates",
        {"name": "Cat and cup", "from_composition": source.public_id},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["id"].startswith("tpl_") and body["version"] == 1
    assert body["prompt"] == source.prompt
    assert [s["role"] for s in body["slots"]] == ["subject", "background"]
    assert all(s["fixed"] is None and s["required"] for s in body["slots"])
    assert body["options"]["model"] == "local" and body["options"]["image_size"] == "512"
    assert body["csv_columns"] == ["image_1", "image_2"]


def test_a_full_definition_with_placeholders_and_a_fixed_photo(api, owner):
    scene = small_upload(owner)
    response = api.post(
        "/api/v1/templates",
        {
            "name": "Thumbnails",
            "prompt": "A thumbnail of image 1 with the title {title}",
            "fields": [{"name": "title", "label": "Title"}],
            "slots": [
                {"role": "subject"},
                {"role": "background", "fixed": {"upload": scene.public_id}},
            ],
            "options": {"model": "local", "image_size": "512", "aspect_ratio": "16:9"},
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["fields"] == [{"name": "title", "label": "Title", "required": True}]
    assert body["slots"][1]["fixed"] == {"upload": scene.public_id}
    assert body["csv_columns"] == ["title", "image_1"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"name": "x", "prompt": "Use {nope}", "slots": [{}, {}]}, "unknown_placeholder"),
        (
            {"name": "x", "prompt": "p", "slots": [{}, {"fixed": {"upload": "up_missing"}}]},
            "not_found",
        ),
        ({"name": "x"}, "invalid_request"),
        ({"name": "x", "from_composition": "cmp_nope"}, "not_found"),
        (
            {"name": "x", "prompt": "p", "slots": [{}, {}], "fields": [{"name": "Bad Name"}]},
            "invalid_request",
        ),
    ],
)
def test_a_bad_definition_is_refused_and_creates_nothing(api, body, code):
    response = api.post("/api/v1/templates", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == code
    assert not Template.objects.exists()


def test_editing_makes_a_new_version_and_runs_record_the_one_they_used(api, owner):
    template = make_template(owner)
    product, scene = small_upload(owner), small_upload(owner, color=(0, 90, 200))
    run = {
        "fields": {"product": "Mug", "title": "Morning"},
        "inputs": [{"upload": product.public_id}, {"upload": scene.public_id}],
    }
    first = api.post(f"/api/v1/templates/{template.public_id}/runs", run, format="json")
    assert first.status_code == 202, first.content
    assert first.json()["id"].startswith("cmp_")
    assert first.json()["prompt"].startswith(
        "Put Mug from image 1 in the scene of image 2, titled Morning"
    )

    latest = template.latest
    revise_template(
        template=template,
        user=owner,
        name="Product shots v2",
        definition={
            "prompt": "{product} on a white table",
            "fields": latest.fields,
            "slots": latest.slots,
            "options": latest.options,
        },
    )
    second = api.post(f"/api/v1/templates/{template.public_id}/runs", run, format="json")
    assert second.status_code == 202, second.content
    assert second.json()["prompt"].startswith("Mug on a white table")

    detail = api.get(f"/api/v1/templates/{template.public_id}").json()
    assert detail["version"] == 2 and detail["name"] == "Product shots v2"
    assert [v["version"] for v in detail["versions"]] == [2, 1]
    assert detail["versions"][1]["prompt"].startswith("Put {product}")
    runs = {r.composition.public_id: r.version.number for r in TemplateRun.objects.all()}
    assert runs == {first.json()["id"]: 1, second.json()["id"]: 2}


def test_a_run_answers_like_a_submit_and_holds_its_credits(api, owner):
    scene = small_upload(owner)
    template = make_template(owner, fixed=scene)
    product = small_upload(owner)
    response = api.post(
        f"/api/v1/templates/{template.public_id}/runs",
        {"fields": {"product": "Lamp"}, "inputs": [{"upload": product.public_id}]},
        format="json",
    )
    assert response.status_code == 202, response.content
    composition = Composition.objects.get(public_id=response.json()["id"])
    assert [i.upload_id for i in composition.inputs.order_by("position")] == [product.pk, scene.pk]
    assert LedgerEntry.objects.filter(
        composition_ref=composition.public_id, kind="reserve", amount=-1
    ).exists()


def test_a_run_may_name_a_saved_reference_and_records_its_version(api, owner):
    from compositions.options import NewImage
    from conftest import SAMPLES
    from references.services import create_reference

    with (SAMPLES / "coffee.png").open("rb") as fh:
        reference = create_reference(
            workspace=owner.current_workspace,
            user=owner,
            name="Blue mug",
            kind="product",
            images=[NewImage(name="coffee.png", fileobj=fh, size=None)],
        )
    template = make_template(owner, fixed=small_upload(owner))
    response = api.post(
        f"/api/v1/templates/{template.public_id}/runs",
        {"fields": {"product": "Mug"}, "inputs": [{"reference": reference.public_id}]},
        format="json",
    )
    assert response.status_code == 202, response.content
    composition = Composition.objects.get(public_id=response.json()["id"])
    first = composition.inputs.order_by("position").first()
    assert first.reference_version.reference == reference
    unknown = api.post(
        f"/api/v1/templates/{template.public_id}/runs",
        {"fields": {"product": "Mug"}, "inputs": [{"reference": "ref_nope"}]},
        format="json",
    )
    assert unknown.status_code == 400 and unknown.json()["code"] == "reference_not_found"


@pytest.mark.parametrize(
    ("run", "code"),
    [
        ({"fields": {}, "inputs": [{"upload": "UP"}]}, "field_required"),
        (
            {"fields": {"product": "x", "colour": "red"}, "inputs": [{"upload": "UP"}]},
            "unknown_field",
        ),
        ({"fields": {"product": "x"}, "inputs": []}, "image_required"),
        ({"fields": {"product": "x"}, "inputs": [{"upload": "up_nope"}]}, "not_found"),
        ({"fields": {"product": "x"}, "inputs": [{"url": "not a url"}]}, "invalid_url"),
        ({"fields": {"product": 5}, "inputs": [{"upload": "UP"}]}, "invalid_request"),
    ],
)
def test_a_bad_run_is_refused_with_nothing_charged(api, owner, run, code):
    template = make_template(owner, fixed=small_upload(owner))
    product = small_upload(owner)
    for item in run["inputs"]:
        if item.get("upload") == "UP":
            item["upload"] = product.public_id
    balance = Wallet.objects.get(workspace=owner.current_workspace).balance
    response = api.post(f"/api/v1/templates/{template.public_id}/runs", run, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == code
    assert not Composition.objects.exists()
    assert Wallet.objects.get(workspace=owner.current_workspace).balance == balance


def test_teammates_share_templates(owner, make_user):
    fund(owner)
    mate = make_user("mate@example.com")
    Membership.objects.create(workspace=owner.current_workspace, user=mate)
    template = make_template(owner)
    listed = client_for(owner).get("/api/v1/templates").json()["results"]
    assert [t["id"] for t in listed] == [template.public_id]
    mate.current_workspace = owner.current_workspace
    mate.save()
    assert client_for(mate).get(f"/api/v1/templates/{template.public_id}").status_code == 200


def test_a_stranger_sees_no_template(owner, stranger):
    fund(owner)
    template = make_template(owner)
    source = compose(owner, model="local", image_size="512")
    other = client_for(stranger)
    assert other.get("/api/v1/templates").json()["results"] == []
    assert other.get(f"/api/v1/templates/{template.public_id}").status_code == 404
    response = other.post(
        f"/api/v1/templates/{template.public_id}/runs", {"fields": {}}, format="json"
    )
    assert response.status_code == 404
    made = other.post(
        "/api/v1/templates", {"name": "mine", "from_composition": source.public_id}, format="json"
    )
    assert made.status_code == 400 and made.json()["code"] == "not_found"


@pytest.mark.parametrize("options", [{"num_images": "abc"}, {"num_images": [1]}])
def test_options_of_the_wrong_type_are_a_400_not_a_500(api, options):
    response = api.post(
        "/api/v1/templates",
        {"name": "Bad", "prompt": "image 1 and image 2", "slots": [{}, {}], "options": options},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert not Template.objects.exists()


def test_a_nul_in_a_field_value_is_refused_before_anything_runs(api, owner):
    template = make_template(owner, fixed=small_upload(owner))
    product = small_upload(owner)
    response = api.post(
        f"/api/v1/templates/{template.public_id}/runs",
        {"fields": {"product": "La\x00mp"}, "inputs": [{"upload": product.public_id}]},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert not Composition.objects.exists()
