"""Lifecycle rules at submit: aliases, deprecated models that warn, shut-down models refused
before anything is charged, naming their successor; options a model lacks are refused."""

import datetime
import math

import pytest

from accounts.services import create_api_token
from api.tests.test_api import api_client, assert_problem, compose_json
from billing.models import LedgerEntry, Wallet
from catalogue.models import ImageModel, ProviderModel
from compositions.catalog import all_models, find_model
from compositions.models import Composition, Upload
from compositions.tasks import run_composition

pytestmark = pytest.mark.django_db

RATIOS = ["1:1", "16:9"]


def local_model(id, **fields):
    """A model the local compositor serves, so it runs without a network."""
    model = ImageModel.objects.create(
        id=id,
        name=fields.pop("name", id.title()),
        image_sizes=["512", "1K"],
        aspect_ratios=RATIOS,
        credits_per_image={"512": 2, "1K": 3},
        **fields,
    )
    ProviderModel.objects.create(model=model, provider="local", provider_model="local")
    return model


@pytest.fixture
def api(owner):
    return api_client(create_api_token(workspace=owner.current_workspace, user=owner, name="t")[1])


@pytest.fixture
def successor(db):
    return local_model("banana-next", name="Banana Next")


def test_the_seeded_catalogue_matches_the_providers_deprecations_page():
    assert [m.id for m in all_models()] == ["local"]  # no provider configured in tests
    old = find_model("gemini-3.1-flash-image-preview")
    assert old.id == "nano-banana-2-preview" and old.shut_down
    assert old.successor == "nano-banana-2"
    assert find_model("nano-banana").shut_down  # its shutdown date, 2 October 2026, has passed


def test_an_alias_resolves_to_its_model(api, successor):
    successor.aliases = ["nb-next"]
    successor.save()
    response = compose_json(api, model="nb-next")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["model"] == "banana-next" and body["warnings"] == []
    assert Composition.objects.get().model == "banana-next"


def test_a_deprecated_model_runs_and_says_so(api, successor, client, owner):
    local_model(
        "banana-old",
        lifecycle=ImageModel.Lifecycle.DEPRECATED,
        shutdown_date=datetime.date(2099, 1, 31),
        successor=successor,
    )
    response = compose_json(api, model="banana-old")
    assert response.status_code == 202, response.content
    [warning] = response.json()["warnings"]
    assert warning["code"] == "model_deprecated" and warning["successor"] == "banana-next"
    assert warning["shutdown_date"] == "2099-01-31"
    assert "Banana Next" in warning["message"]
    composition = Composition.objects.get()
    run_composition(composition.public_id)
    composition.refresh_from_db()
    assert composition.status == Composition.Status.SUCCEEDED
    assert composition.provider_model == "local"
    assert composition.route_reason["chosen"] == "local"
    assert api.get(f"/api/v1/compositions/{composition.public_id}").json()["warnings"]
    client.force_login(owner)
    page = client.get(f"/c/{composition.public_id}/").content.decode()
    assert "deprecated and will be shut down on 31 January 2099" in page
    assert "How it was made" in page and "<code>local</code>" in page


@pytest.mark.parametrize("how", ["lifecycle", "date"])
def test_a_shut_down_model_is_refused_before_anything_is_charged(api, successor, owner, how):
    if how == "lifecycle":
        local_model("banana-gone", lifecycle=ImageModel.Lifecycle.SHUT_DOWN, successor=successor)
    else:  # a deprecated model whose day has come, without an edit
        local_model(
            "banana-gone",
            lifecycle=ImageModel.Lifecycle.DEPRECATED,
            shutdown_date=datetime.date(2026, 1, 1),
            successor=successor,
        )
    body = assert_problem(compose_json(api, model="banana-gone"), 400, "model_shut_down")
    assert "Banana Next (banana-next)" in body["detail"]
    assert not Composition.objects.exists()
    assert Upload.objects.count() == 2  # only the two API uploads compose_json made first
    wallet = Wallet.objects.get(workspace=owner.current_workspace)
    assert wallet.balance == 50
    assert not LedgerEntry.objects.exclude(kind="grant").exists()


def test_the_browser_form_refuses_a_shut_down_model_with_a_friendly_error(client, owner, successor):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from conftest import sample_bytes

    local_model("banana-gone", lifecycle=ImageModel.Lifecycle.SHUT_DOWN, successor=successor)
    client.force_login(owner)
    response = client.post(
        "/compose/",
        {
            "prompt": "The cat next to the cup",
            "model": "banana-gone",
            "aspect_ratio": "1:1",
            "image_size": "512",
            "num_images": 1,
            "style": "natural",
            "preset": "none",
            "images": [
                SimpleUploadedFile("a.png", sample_bytes("chelsea.png")),
                SimpleUploadedFile("b.png", sample_bytes("coffee.png")),
            ],
        },
    )
    assert response.status_code == 400
    assert "was shut down" in response.content.decode()
    assert "Banana Next (banana-next)" in response.content.decode()
    assert not Composition.objects.exists()


def test_match_image_1_is_refused_for_a_model_without_it(api, successor):
    response = compose_json(api, model="banana-next", aspect_ratio="match_input_image")
    body = assert_problem(response, 400, "unsupported_option")
    assert body["errors"][0]["field"] == "aspect_ratio"
    assert "cannot match image 1" in body["detail"]
    assert not Composition.objects.exists()


def test_match_image_1_takes_the_first_photos_nearest_ratio(api, successor):
    successor.options = {"match_input_aspect": True}
    successor.aspect_ratios = ["1:1", "4:3", "3:4", "16:9"]
    successor.save()
    response = compose_json(api, model="banana-next", aspect_ratio="match_input_image")
    assert response.status_code == 202, response.content
    first = Upload.objects.get(public_id=response.json()["inputs"][0]["upload"])
    composition = Composition.objects.get()
    expected = min(
        successor.aspect_ratios,
        key=lambda r: abs(
            math.log(int(r.split(":")[0]) / int(r.split(":")[1]))
            - math.log(first.width / first.height)
        ),
    )
    assert composition.aspect_ratio == expected == response.json()["aspect_ratio"]
    assert first.width != first.height  # the sample is not square: the choice means something


def test_models_lists_lifecycle_aliases_options_and_successor(api, successor):
    local_model(
        "banana-old",
        aliases=["bo"],
        lifecycle=ImageModel.Lifecycle.DEPRECATED,
        shutdown_date=datetime.date(2099, 1, 31),
        successor=successor,
        options={"match_input_aspect": True},
    )
    models = {m["id"]: m for m in api.get("/api/v1/models").json()}
    old = models["banana-old"]
    assert old["lifecycle"] == "deprecated" and old["aliases"] == ["bo"]
    assert old["successor"] == "banana-next" and old["shutdown_date"] == "2099-01-31"
    assert old["options"] == {"match_input_aspect": True}
    assert old["batch_credits_per_image"] == {"512": 1, "1K": 2}  # half price, rounded up
    assert models["local"]["lifecycle"] == "ga"


def test_reference_limits_are_catalogue_data_the_linter_reads(settings):
    from compositions.prompt_lint import lint

    settings.BANANASITE_PROVIDERS = ["gemini"]
    assert find_model("nano-banana-2").reference_limits == {"objects": 10, "characters": 4}
    assert find_model("nano-banana-pro").reference_limits == {"objects": 6, "characters": 5}
    ImageModel.objects.filter(id="nano-banana-2").update(reference_limits={"objects": 2})
    from catalogue import registry

    registry.invalidate()
    assert find_model("nano-banana-2").reference_limits == {"objects": 2}
    with pytest.raises(Exception, match="reference_limits"):
        bad = ImageModel.objects.get(id="nano-banana-2")
        bad.reference_limits = {"people": "many"}
        bad.full_clean()
    roles = ["product", "product", "product"]
    prompt = "Put image 1, image 2 and image 3 on a table."
    codes = [
        w.code
        for w in lint(prompt=prompt, roles=roles, preset="", model_id="nano-banana-2", count=3)
    ]
    assert "too_many_objects" in codes  # 3 objects over the edited limit of 2
