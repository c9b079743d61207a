"""Model options as data (issue 14): Google Search grounding and the thinking level are asked
for, refused for models that lack them, carried to the provider and charged (per search)."""

import pytest
from rest_framework.test import APIClient

from accounts.services import create_api_token
from bananasite.errors import ValidationFailed
from billing.models import LedgerEntry, Wallet
from compositions.catalog import available_routes, get_model
from compositions.models import Composition
from compositions.tasks import run_composition

from .factories import compose
from .fakes import FakeProvider, Reply, gemini_ok, png, runware_ok

pytestmark = pytest.mark.django_db

OUT = png((10, 200, 120), (96, 64))
NB2_1K, SEARCH = 6, 2  # the seeded catalogue: nano-banana-2 at 1K, one grounding search


@pytest.fixture
def fakes():
    servers: dict[str, FakeProvider] = {}
    yield servers
    for server in servers.values():
        server.close()


def configure(settings, fakes, *names):
    """These providers against their fakes, with the catalogue from the database (the seed,
    where the Gemini 3 image models offer grounding and thinking levels)."""
    providers = {}
    for name in names:
        fakes[name] = FakeProvider()
        providers[name] = {"api_key": f"key-{name}", "base_url": fakes[name].url, "max_attempts": 1}
    settings.BANANASITE_PROVIDERS = providers
    settings.BANANASITE_MODELS = None


def grounded(searches: list[str] | None) -> dict:
    answer = gemini_ok(OUT, text="Done.")
    if searches is not None:
        answer["candidates"][0]["groundingMetadata"] = {"webSearchQueries": searches}
    return answer


def balance(user) -> int:
    return Wallet.objects.get(workspace=user.current_workspace).balance


def test_grounding_and_thinking_reach_gemini_and_two_searches_charge_the_one_held(
    owner, settings, fakes
):
    configure(settings, fakes, "gemini")
    fakes["gemini"].script(Reply(200, grounded(["eiffel tower height", "eiffel tower colour"])))
    composition = compose(
        owner, model="nano-banana-2", image_size="1K", grounding=True, thinking_level="high"
    )
    # The hold: the image plus one search.
    assert composition.credits_reserved == NB2_1K + SEARCH
    assert composition.model_options == {"grounding": True, "thinking_level": "high"}
    assert balance(owner) == 50 - NB2_1K - SEARCH

    assert run_composition(composition.public_id) == "succeeded"
    body = fakes["gemini"].requests[0]["json"]
    assert body["tools"] == [{"google_search": {}}]
    assert body["generationConfig"]["thinkingConfig"] == {"thinkingLevel": "high"}
    composition.refresh_from_db()
    assert composition.usage["searches"] == 2
    # Two searches reported, one held: the charge is capped at the hold.
    assert composition.credits_charged == NB2_1K + SEARCH
    assert balance(owner) == 50 - NB2_1K - SEARCH
    capture = LedgerEntry.objects.get(composition_ref=composition.public_id, kind="capture")
    assert capture.reason == "1 image delivered, 2 searches (1 charged: capped at the hold)"


@pytest.mark.parametrize(
    "searches, charged",
    [(None, NB2_1K + SEARCH), ([], NB2_1K), (["one query"], NB2_1K + SEARCH)],
    ids=["not-reported-charges-one", "none-made", "one-made"],
)
def test_searches_are_charged_as_reported(owner, settings, fakes, searches, charged):
    configure(settings, fakes, "gemini")
    fakes["gemini"].script(Reply(200, grounded(searches)))
    composition = compose(owner, model="nano-banana-2", image_size="1K", grounding=True)
    assert run_composition(composition.public_id) == "succeeded"
    composition.refresh_from_db()
    assert composition.credits_charged == charged
    assert balance(owner) == 50 - charged


def test_without_options_the_payload_has_neither_and_nothing_is_held_for_searches(
    owner, settings, fakes
):
    configure(settings, fakes, "gemini")
    fakes["gemini"].script(Reply(200, grounded(["ignored"])))
    composition = compose(owner, model="nano-banana-2", image_size="1K")
    assert composition.credits_reserved == NB2_1K and composition.model_options == {}
    assert run_composition(composition.public_id) == "succeeded"
    body = fakes["gemini"].requests[0]["json"]
    assert "tools" not in body and "thinkingConfig" not in body["generationConfig"]
    composition.refresh_from_db()
    assert composition.credits_charged == NB2_1K


def test_runware_carries_search_and_thinking(owner, settings, fakes):
    configure(settings, fakes, "runware")
    fakes["runware"].script(Reply(200, runware_ok(OUT)))
    composition = compose(
        owner, model="nano-banana-2", image_size="1K", grounding=True, thinking_level="minimal"
    )
    assert run_composition(composition.public_id) == "succeeded"
    task = fakes["runware"].requests[0]["json"][0]
    assert task["providerSettings"] == {"google": {"search": True}}
    assert task["settings"] == {"thinking": "minimal"}
    composition.refresh_from_db()
    # Runware reports no search count: one search is charged.
    assert composition.credits_charged == NB2_1K + SEARCH


@pytest.mark.parametrize(
    "model, options, field, words",
    [
        ("local", {"grounding": True}, "grounding", "does not offer Google Search grounding"),
        ("local", {"thinking_level": "high"}, "thinking_level", "does not offer a thinking"),
        ("nano-banana-2", {"thinking_level": "medium"}, "thinking_level", "minimal or high"),
    ],
)
def test_an_option_the_model_lacks_is_refused_before_anything_is_charged(
    owner, settings, fakes, model, options, field, words
):
    configure(settings, fakes, "gemini")
    with pytest.raises(ValidationFailed) as caught:
        compose(owner, model=model, image_size="1K", **options)
    (problem,) = [e for e in caught.value.errors if e[0] == field]
    assert problem[1] == "unsupported_option" and words in problem[2]
    assert f"({model})" in problem[2]
    assert not Composition.objects.exists() and balance(owner) == 50


def test_a_route_that_cannot_carry_an_option_is_not_a_candidate(owner, settings, fakes):
    configure(settings, fakes, "openrouter", "gemini")
    model = get_model("nano-banana-2")
    assert [r.provider for r in available_routes(model, inputs=2)] == ["gemini", "openrouter"]
    carrying = available_routes(model, inputs=2, options={"grounding": True})
    assert [r.provider for r in carrying] == ["gemini"]
    # With only OpenRouter (which documents neither option), grounding is refused at submit.
    configure(settings, fakes, "openrouter")
    with pytest.raises(ValidationFailed) as caught:
        compose(owner, model="nano-banana-2", image_size="1K", grounding=True)
    assert caught.value.code == "unsupported_option"
    assert "No image service configured here can pass grounding" in caught.value.message
    assert not Composition.objects.exists() and balance(owner) == 50


def test_the_api_takes_the_options_and_refuses_them_for_a_model_without(owner, settings, fakes):
    configure(settings, fakes, "gemini")
    api = APIClient()
    raw = create_api_token(workspace=owner.current_workspace, user=owner, name="ci")[1]
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    ids = []
    for name in ("chelsea.png", "coffee.png"):
        with open(f"samples/{name}", "rb") as fh:
            answer = api.post("/api/v1/uploads", {"file": fh}, format="multipart")
        assert answer.status_code == 201, answer.content
        ids.append(answer.json()["id"])
    body = {
        "prompt": "The cat from image 1 next to the cup from image 2",
        "inputs": [{"upload": ids[0]}, {"upload": ids[1]}],
        "image_size": "1K",
        "grounding": True,
        "thinking_level": "high",
    }
    refused = api.post("/api/v1/compositions", {**body, "model": "local"}, format="json")
    assert refused.status_code == 400
    assert refused["Content-Type"] == "application/problem+json"
    problem = refused.json()
    assert problem["code"] == "unsupported_option"
    assert "grounding" in problem["detail"].lower() and "(local)" in problem["detail"]
    assert balance(owner) == 50 and not Composition.objects.exists()

    made = api.post("/api/v1/compositions", {**body, "model": "nano-banana-2"}, format="json")
    assert made.status_code == 202, made.content
    shown = made.json()
    assert shown["model_options"] == {"grounding": True, "thinking_level": "high"}
    assert shown["credits"]["reserved"] == NB2_1K + SEARCH
    again = api.get(f"/api/v1/compositions/{shown['id']}").json()
    assert again["model_options"] == shown["model_options"]

    # The estimate holds the search too, and says why a model without it would refuse.
    estimate = api.post("/api/v1/estimate", {**body, "model": "nano-banana-2"}, format="json")
    assert estimate.json()["credits"] == NB2_1K + SEARCH
    estimate = api.post("/api/v1/estimate", {**body, "model": "local"}, format="json").json()
    assert not estimate["allowed"]
    assert {r["code"] for r in estimate["reasons"]} == {"unsupported_option"}


def test_the_compose_page_offers_the_options_and_refuses_them_beside_the_field(
    owner, owner_client, settings, fakes
):
    configure(settings, fakes, "gemini")
    page = owner_client.get("/compose/").content.decode()
    assert "Search the web (Google Search grounding," in page and 'name="thinking_level"' in page
    with open("samples/chelsea.png", "rb") as a, open("samples/coffee.png", "rb") as b:
        answer = owner_client.post(
            "/compose/",
            {
                "images": [a, b],
                "prompt": "The cat from image 1 next to the cup from image 2",
                "preset": "none",
                "style": "natural",
                "model": "local",
                "aspect_ratio": "1:1",
                "image_size": "1K",
                "num_images": 1,
                "grounding": "on",
            },
        )
    assert answer.status_code == 400  # a refused form comes back with its errors
    html = answer.content.decode()
    field = html[html.index('id="grounding-field"') :]
    assert "does not offer Google Search grounding" in field[: field.index("</div>")]
    assert not Composition.objects.exists() and balance(owner) == 50


def test_the_detail_page_shows_the_options(owner, owner_client, settings, fakes):
    configure(settings, fakes, "gemini")
    fakes["gemini"].script(Reply(200, grounded(["a", "b"])))
    composition = compose(
        owner, model="nano-banana-2", image_size="1K", grounding=True, thinking_level="minimal"
    )
    run_composition(composition.public_id)
    page = owner_client.get(composition.get_absolute_url()).content.decode()
    assert "web search (2 searches)" in page and "thinking minimal" in page
    # A variation keeps the options, so its price on the button holds a search again.
    assert f'Variations <span class="cost">· {NB2_1K + SEARCH} credits' in page
