"""The composer's server side (issue 12): photos uploaded as they are picked, the form that
refers to them, what a refusal sends back, the prompt linter, costs on the detail buttons."""

import json
import re

import pytest
from django.test import Client
from django.urls import reverse

from bananasite.model_catalog import build_models
from billing.models import Plan, Wallet
from billing.services import adjust_credits
from compositions.models import Composition, Upload
from compositions.prompt_lint import lint

from .factories import compose

pytestmark = pytest.mark.django_db

COMPOSE = reverse("compositions:compose")
UPLOAD = reverse("compositions:compose_upload")
FROM_RESULT = reverse("compositions:compose_upload_from_result")


def upload(client, uploaded, sample="coffee.png", **kwargs):
    return client.post(UPLOAD, {"file": uploaded(sample=sample, **kwargs)})


def state_of(response) -> dict:
    html = response.content.decode()
    match = re.search(r'<script id="composer-state" type="application/json">(.*?)</script>', html)
    assert match, "the page carries the composer's state"
    return json.loads(match.group(1))


def compose_with_uploads(client, ids, roles, **fields):
    data = {
        "prompt": "The cat from image 1 next to the cup in image 2",
        "preset": "none",
        "style": "natural",
        "model": "local",
        "aspect_ratio": "1:1",
        "image_size": "512",
        "num_images": "1",
        "uploads": ids,
        "roles": roles,
    }
    data.update(fields)
    return client.post(COMPOSE, data)


def test_a_photo_is_stored_the_moment_it_is_picked(owner, owner_client, uploaded):
    response = upload(owner_client, uploaded)
    assert response.status_code == 201
    body = response.json()
    stored = Upload.objects.get(public_id=body["id"])
    assert stored.workspace == owner.current_workspace
    assert body["name"] == "coffee.png" and body["bytes"] == stored.bytes
    assert body["thumb"] == reverse("compositions:upload_file", args=[body["id"], "thumb"])
    assert owner_client.get(body["thumb"]).status_code == 200


def test_a_text_file_named_jpg_is_refused_with_a_friendly_json_error(
    owner_client, uploaded, media_files
):
    text = uploaded("notes.jpg", b"just some text, not a photo", content_type="image/jpeg")
    response = owner_client.post(UPLOAD, {"file": text})
    assert response.status_code == 415
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "unsupported_image_type" and problem["status"] == 415
    assert "notes.jpg" in problem["detail"] and problem["error"] == problem["detail"]
    assert Upload.objects.count() == 0 and media_files() == []


def test_uploads_need_a_session_and_the_csrf_token(owner, uploaded):
    assert Client().post(UPLOAD, {"file": uploaded(sample="coffee.png")}).status_code == 302
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(owner)
    assert strict.post(UPLOAD, {"file": uploaded(sample="coffee.png")}).status_code == 403
    assert Upload.objects.count() == 0


def test_a_past_result_becomes_an_upload_of_this_workspace_only(
    owner, owner_client, stranger_client
):
    composition = compose(owner)
    from compositions.tasks import run_composition

    run_composition(composition.public_id)
    result = composition.results.get()
    assert stranger_client.post(FROM_RESULT, {"result": result.public_id}).status_code == 404
    response = owner_client.post(FROM_RESULT, {"result": result.public_id})
    assert response.status_code == 201
    copy = Upload.objects.get(public_id=response.json()["id"])
    assert copy.workspace == owner.current_workspace and copy.source == "result"
    assert owner_client.post(FROM_RESULT, {"result": "res_nothere"}).status_code == 404


def test_a_photo_taken_out_before_use_is_deleted_with_its_files(
    owner_client, stranger_client, uploaded, media_files
):
    up = upload(owner_client, uploaded).json()["id"]
    delete = reverse("compositions:compose_upload_delete", args=[up])
    assert stranger_client.post(delete).status_code == 404
    assert Upload.objects.filter(public_id=up).exists()
    assert owner_client.post(delete).status_code == 200
    assert not Upload.objects.filter(public_id=up).exists()


def test_an_input_of_a_composition_is_not_deleted(owner):
    composition = compose(owner)
    client = Client()
    client.force_login(owner)
    used = composition.inputs.first().upload
    response = client.post(reverse("compositions:compose_upload_delete", args=[used.public_id]))
    assert response.status_code == 409
    assert Upload.objects.filter(pk=used.pk).exists()


def test_the_form_refers_to_uploads_in_their_order_with_their_roles(owner_client, uploaded):
    first = upload(owner_client, uploaded, "chelsea.png").json()["id"]
    second = upload(owner_client, uploaded, "coffee.png").json()["id"]
    response = compose_with_uploads(owner_client, [second, first], ["product", "subject"])
    assert response.status_code == 302
    composition = Composition.objects.get()
    inputs = list(composition.inputs.select_related("upload"))
    assert [i.upload.public_id for i in inputs] == [second, first]
    assert [i.role for i in inputs] == ["product", "subject"]
    assert Upload.objects.count() == 2  # used as they are, not copied


def test_a_refusal_sends_back_the_chosen_photos_roles_and_prompt(owner_client, uploaded):
    only = upload(owner_client, uploaded, "chelsea.png").json()["id"]
    response = compose_with_uploads(owner_client, [only], ["subject"], prompt="Just image 1")
    assert response.status_code == 400
    assert "Add at least 2 photos to combine (you added 1)." in response.content.decode()
    state = state_of(response)
    assert [(c["id"], c["role"]) for c in state["chosen"]] == [(only, "subject")]
    assert re.search(r">\s*Just image 1</textarea>", response.content.decode())
    assert Composition.objects.count() == 0 and Upload.objects.count() == 1


def test_no_credits_and_the_daily_quota_are_refused_and_keep_the_photos(
    owner, owner_client, uploaded
):
    ids = [upload(owner_client, uploaded, n).json()["id"] for n in ("chelsea.png", "coffee.png")]
    wallet = Wallet.objects.get(workspace=owner.current_workspace)
    adjust_credits(wallet=wallet, amount=-wallet.balance, reason="spent elsewhere")
    response = compose_with_uploads(owner_client, ids, ["product", ""])
    assert response.status_code == 400
    assert "needs 1 credit; the workspace has 0" in response.content.decode()
    assert [(c["id"], c["role"]) for c in state_of(response)["chosen"]] == [
        (ids[0], "product"),
        (ids[1], ""),
    ]
    assert state_of(response)["balance"] == 0

    adjust_credits(wallet=wallet, amount=50, reason="topped up")
    Plan.objects.filter(pk=wallet.plan_id).update(daily_images_per_member=0)
    response = compose_with_uploads(owner_client, ids, ["product", ""])
    assert response.status_code == 400
    assert "You can make 0 images a day on this plan" in response.content.decode()
    assert [c["id"] for c in state_of(response)["chosen"]] == ids
    assert state_of(response)["daily_left"] == 0
    assert Composition.objects.count() == 0


def test_the_page_knows_the_quota_left(owner, owner_client, settings):
    wallet = Wallet.objects.select_related("plan").get(workspace=owner.current_workspace)
    state = state_of(owner_client.get(COMPOSE))
    assert state["daily_left"] == wallet.plan.daily_images_per_member
    assert state["balance"] == wallet.balance


def test_an_upload_of_another_workspace_is_not_found(owner_client, stranger_client, uploaded):
    theirs = upload(stranger_client, uploaded, "chelsea.png").json()["id"]
    mine = upload(owner_client, uploaded, "coffee.png").json()["id"]
    response = compose_with_uploads(owner_client, [theirs, mine], ["", ""])
    assert response.status_code == 400
    assert "no longer here" in response.content.decode()
    assert [c["id"] for c in state_of(response)["chosen"]] == [mine]
    assert Composition.objects.count() == 0


def test_a_long_prompt_is_refused_not_cut(owner_client, uploaded):
    ids = [upload(owner_client, uploaded, n).json()["id"] for n in ("chelsea.png", "coffee.png")]
    response = compose_with_uploads(owner_client, ids, ["", ""], prompt="image 1 " * 600)
    assert response.status_code == 400
    assert "The prompt is 4,799 characters; the limit is 4,000." in response.content.decode()
    assert "maxlength" not in re.search(r"<textarea[^>]*>", response.content.decode()).group(0)


def test_offline_the_page_says_so_and_marks_what_it_cannot_do(owner_client, settings):
    settings.BANANASITE_PROVIDERS = {}
    html = owner_client.get(COMPOSE).content.decode()
    assert "Offline compositor: layouts and cut-outs, no AI." in html
    assert ">Face swap (needs AI)</option>" in html
    assert ">Outfit change (needs AI)</option>" in html
    assert ">Collage</option>" in html
    settings.BANANASITE_PROVIDERS = {"gemini": {"api_key": "k"}}
    settings.BANANASITE_MODELS = build_models(settings.BANANASITE_PROVIDERS)
    html = owner_client.get(COMPOSE).content.decode()
    assert "Offline compositor" not in html and "(needs AI)" not in html


def test_each_preset_has_an_example_and_its_inputs(owner_client):
    from django.contrib.staticfiles import finders

    state = state_of(owner_client.get(COMPOSE))
    for value, preset in state["presets"].items():
        if value == "none":
            continue
        path = preset["example"].removeprefix("/static/")
        assert finders.find(path), f"{value} has an example image"
    assert [f["name"] for f in state["presets"]["thumbnail"]["inputs"]["fields"]] == [
        "title",
        "subtitle",
    ]
    assert [f["name"] for f in state["presets"]["logo_placement"]["inputs"]["fields"]] == [
        "position",
        "size",
    ]
    assert state["presets"]["background_replace"]["inputs"]["fields"][0]["name"] == "background"


def test_variations_and_use_as_input_show_their_cost(owner, owner_client):
    from compositions.tasks import run_composition

    composition = compose(owner, num_images=2)
    run_composition(composition.public_id)
    html = owner_client.get(composition.get_absolute_url()).content.decode()
    assert re.search(r"Variations <span class=\"cost\">· 2 credits</span>", html)
    assert 'Use as input <span class="cost">· from 1 credit</span>' in html


# --- The prompt linter (the browser runs the same rules; see test_browser_composer) -------


@pytest.fixture
def nano_banana(settings):
    settings.BANANASITE_PROVIDERS = {"gemini": {"api_key": "k"}}
    settings.BANANASITE_MODELS = build_models(settings.BANANASITE_PROVIDERS)


def codes(**kwargs):
    kwargs.setdefault("preset", "none")
    kwargs.setdefault("model_id", "nano-banana-2")
    kwargs.setdefault("roles", [])
    return [w.code for w in lint(**kwargs)]


def test_lint_names_an_image_that_is_not_there():
    warnings = lint(
        prompt="Put image 1, image 2 and image 3 on image 4",
        roles=[],
        preset="none",
        model_id="nano-banana-2",
        count=3,
    )
    assert [w.message for w in warnings] == ["The prompt names image 4, but there are 3 photos."]


def test_lint_finds_an_unmentioned_slot_by_number_or_role_word():
    assert codes(prompt="The cat from image 1", count=2) == ["image_unmentioned"]
    assert codes(prompt="Image 1 on the background", roles=["", "background"], count=2) == []
    assert codes(prompt="Combine all images", count=3) == []
    assert codes(prompt="images 1 to 3 together", count=3) == []


def test_lint_keeps_an_eye_on_placeholders_and_the_models_limits(nano_banana):
    assert "placeholder_left" in codes(
        prompt='image 1 before image 2, title "YOUR TITLE HERE"', count=2
    )
    people = ["subject"] * 5
    assert codes(prompt="all images", roles=people, count=5) == ["too_many_characters"]
    assert codes(prompt="all images", roles=people, count=5, model_id="nano-banana-pro") == []
    objects = ["product"] * 11
    assert codes(prompt="all images", roles=objects, count=11) == ["too_many_objects"]
    assert codes(prompt="all images", roles=objects, count=11, model_id="local") == []


def test_lint_uses_the_presets_default_roles():
    # Logo on a product: image 1 is the product, image 2 the logo, by default.
    assert codes(prompt="Put the logo on the product", preset="logo_placement", count=2) == []
