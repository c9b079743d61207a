"""Compositions through each real provider client against its local fake, run by the task."""

import base64
import io
import time

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image
from rest_framework.test import APIClient

from accounts.services import create_api_token
from bananasite.errors import ValidationFailed
from bananasite.model_catalog import build_models
from billing.models import Wallet
from compositions.models import Composition
from compositions.options import CompositionOptions, NewImage
from compositions.provenance import read_provenance
from compositions.providers.http import CircuitBreaker
from compositions.services import create_composition
from compositions.tasks import run_composition
from conftest import SAMPLES, sample_bytes

from .factories import compose
from .fakes import FakeProvider, Reply, aiml_ok, gemini_ok, openrouter_ok, png, runware_ok

pytestmark = pytest.mark.django_db

OUT = png((10, 200, 120), (96, 64))
ANSWERS = {
    "gemini": gemini_ok(OUT, text="A cat beside a cup."),
    "vertex": gemini_ok(OUT),
    "openrouter": openrouter_ok(OUT),
    "runware": runware_ok(OUT),
    "aimlapi": aiml_ok(OUT),
}


@pytest.fixture
def fakes():
    servers = {}
    yield servers
    for server in servers.values():
        server.close()


def configure(settings, fakes, *names, **extra):
    providers = {}
    for name in names:
        fakes[name] = fakes.get(name) or FakeProvider()
        conf = {"api_key": f"key-{name}", "base_url": fakes[name].url, "max_attempts": 1}
        if name == "vertex":
            conf.update(access_token="tok", project="p1", location="global")
        providers[name] = {**conf, **extra}
    settings.BANANASITE_PROVIDERS = providers
    settings.BANANASITE_MODELS = build_models(providers)
    settings.BANANASITE_DEFAULT_MODEL = settings.BANANASITE_MODELS[0]["id"]


@pytest.mark.parametrize("name", list(ANSWERS))
def test_a_composition_through_each_provider(name, owner, settings, fakes):
    configure(settings, fakes, name)
    fakes[name].script(Reply(200, ANSWERS[name]))
    composition = compose(
        owner, model="nano-banana-2", image_size="1K", samples=("chelsea.png", "logo.png")
    )
    assert composition.provider == name
    assert run_composition(composition.public_id) == "succeeded"
    composition.refresh_from_db()
    result = composition.results.get()
    # The provider's bytes are stored as received (the image data untouched), plus the
    # provenance packet and the signed Content Credentials.
    with result.file.open("rb") as fh:
        stored = fh.read()
    idat = OUT.index(b"IDAT") - 4
    assert OUT[idat : OUT.rfind(b"IEND") - 4] in stored
    assert result.credentials["signed"] and result.credentials["state"] == "valid"
    assert b"trainedAlgorithmicMedia" in read_provenance(stored)
    assert b'bananasite:provider="' + name.encode() + b'"' in read_provenance(stored)
    assert (result.width, result.height) == (96, 64)
    assert composition.credits_charged == 6  # nano-banana-2 at 1K
    # What the provider got: JPEGs, with the logo's transparency flattened onto white.
    sent = fakes[name].requests[0]
    assert "jpeg" in str(sent["json"]).lower()


def test_the_inputs_sent_are_upright_flattened_jpegs(owner, settings, fakes):
    configure(settings, fakes, "gemini")
    fakes["gemini"].script(Reply(200, gemini_ok(OUT)))
    composition = compose(owner, model="nano-banana-2", samples=("chelsea.png", "logo.png"))
    run_composition(composition.public_id)
    parts = fakes["gemini"].requests[0]["json"]["contents"][0]["parts"]
    logo = Image.open(io.BytesIO(base64.b64decode(parts[2]["inlineData"]["data"])))
    assert parts[2]["inlineData"]["mimeType"] == "image/jpeg" and logo.mode == "RGB"
    assert min(logo.getpixel((2, 2))) > 240  # white where the logo's background was


def test_a_refusal_fails_plainly_and_charges_nothing(owner, owner_client, settings, fakes):
    configure(settings, fakes, "gemini")
    fakes["gemini"].script(Reply(200, {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}}))
    composition = compose(owner, model="nano-banana-2")
    assert run_composition(composition.public_id) == "provider_safety_block"
    composition.refresh_from_db()
    assert composition.status == "failed" and composition.error_code == "provider_safety_block"
    assert "declined" in composition.error_message
    assert composition.credits_charged == 0
    assert Wallet.objects.get(workspace=owner.current_workspace).balance == 50
    page = owner_client.get(composition.get_absolute_url()).content.decode()
    assert "The image model declined the request" in page and "You were not charged" in page


def test_the_second_provider_takes_over_when_the_first_is_down(owner, settings, fakes):
    configure(settings, fakes, "gemini", "openrouter")
    fakes["gemini"].script(Reply(503, {"error": {"code": 503, "message": "overloaded"}}))
    fakes["openrouter"].script(Reply(200, openrouter_ok(OUT)))
    composition = compose(owner, model="nano-banana-2")
    assert composition.provider == "gemini"
    assert run_composition(composition.public_id) == "succeeded"
    composition.refresh_from_db()
    assert composition.provider == "openrouter"
    assert composition.usage["fallback_from"] == ["gemini"]


def test_an_open_circuit_refuses_new_compositions_at_once_and_charges_nothing(
    owner, settings, fakes
):
    configure(settings, fakes, "gemini")
    breaker = CircuitBreaker("gemini")
    for _ in range(breaker.threshold):
        breaker.record_failure()
    api = APIClient()
    api.credentials(
        HTTP_AUTHORIZATION="Bearer "
        + create_api_token(workspace=owner.current_workspace, user=owner, name="t")[1]
    )
    up = [
        api.post("/api/v1/uploads", {"file": _file(n)}, format="multipart").json()["id"]
        for n in ("chelsea.png", "coffee.png")
    ]
    response = api.post(
        "/api/v1/compositions",
        {"prompt": "x", "model": "nano-banana-2", "inputs": [{"upload": u} for u in up]},
        format="json",
    )
    assert response.status_code == 503 and response.json()["code"] == "provider_unavailable"
    assert not Composition.objects.exists()
    assert Wallet.objects.get(workspace=owner.current_workspace).balance == 50
    # The local compositor does not depend on the circuit.
    ok = api.post(
        "/api/v1/compositions",
        {"prompt": "x", "model": "local", "inputs": [{"upload": u} for u in up]},
        format="json",
    )
    assert ok.status_code == 202


def test_repeated_failures_open_the_circuit(owner, settings, fakes):
    configure(settings, fakes, "gemini")
    fakes["gemini"].script(Reply(503, {"error": {"code": 503, "message": "down"}}))
    for _ in range(CircuitBreaker("gemini").threshold):
        composition = compose(owner, model="nano-banana-2", image_size="512")
        run_composition(composition.public_id)
    assert CircuitBreaker("gemini").is_open()


def test_models_endpoint_lists_the_configured_provider(owner, settings, fakes):
    configure(settings, fakes, "aimlapi")
    api = APIClient()
    api.force_authenticate(owner)
    models = {m["id"]: m for m in api.get("/api/v1/models").json()}
    assert set(models) == {"nano-banana-2", "nano-banana-pro", "nano-banana", "local"}
    assert models["nano-banana-2"]["provider"] == "aimlapi"
    assert models["nano-banana-2"]["max_images"] == 5  # AIML's own cap
    assert models["nano-banana"]["max_images"] == 3
    assert models["nano-banana-2"]["default"] is True


def test_too_many_inputs_for_the_model_are_refused_before_anything_is_charged(
    owner, settings, fakes
):
    configure(settings, fakes, "gemini")
    images = [
        NewImage(n, (SAMPLES / n).open("rb"), None)
        for n in ("chelsea.png", "coffee.png", "logo.png", "brick.png")
    ]
    with pytest.raises(ValidationFailed) as exc:
        create_composition(
            workspace=owner.current_workspace,
            user=owner,
            options=CompositionOptions(prompt="x", model="nano-banana"),
            images=images,
        )
    assert exc.value.code == "too_many_images" and "at most 3" in exc.value.message
    assert Wallet.objects.get(workspace=owner.current_workspace).balance == 50


def _file(name):
    return SimpleUploadedFile(name, sample_bytes(name))


ENV_NAMES = {
    "gemini": {"GEMINI_API_KEY": "k", "GEMINI_BASE_URL": "{url}"},
    "vertex": {"VERTEX_API_KEY": "k", "VERTEX_BASE_URL": "{url}"},
    "openrouter": {"OPENROUTER_API_KEY": "k", "OPENROUTER_BASE_URL": "{url}"},
    "runware": {"RUNWARE_API_KEY": "k", "RUNWARE_BASE_URL": "{url}"},
    "aimlapi": {"AIMLAPI_API_KEY": "k", "AIMLAPI_BASE_URL": "{url}"},
}


@pytest.mark.worker
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("name", list(ENV_NAMES))
def test_a_real_worker_configured_by_environment_composes_through_each_provider(
    name, owner, settings, fakes, start_worker
):
    configure(settings, fakes, name)
    fakes[name].script(Reply(200, ANSWERS[name]))
    env = {k: v.format(url=fakes[name].url) for k, v in ENV_NAMES[name].items()}
    worker = start_worker(env)
    composition = compose(owner, model="nano-banana-2", image_size="1K")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        composition.refresh_from_db()
        if composition.is_finished:
            break
        time.sleep(0.2)  # waiting on another process, not on the clock
    assert composition.status == "succeeded", worker.log()
    assert composition.provider == name and len(fakes[name].requests) == 1
    with composition.results.get().file.open("rb") as fh:
        assert OUT[OUT.index(b"IDAT") - 4 : OUT.rfind(b"IEND") - 4] in fh.read()


def test_an_unreached_fallback_keeps_its_probe(owner, settings, fakes):
    configure(settings, fakes, "gemini", "openrouter")
    fakes["gemini"].script(Reply(200, ANSWERS["gemini"]))
    fallback = CircuitBreaker("openrouter")
    for _ in range(fallback.threshold):
        fallback.record_failure()
    with time_machine.travel(timezone.now() + timezone.timedelta(seconds=fallback.cooldown + 1)):
        composition = compose(owner, model="nano-banana-2")
        assert run_composition(composition.public_id) == "succeeded"
        assert fallback.allow()  # the probe is still there for a composition that needs it
