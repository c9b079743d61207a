"""Each real provider client against a local fake that speaks its protocol (providers.md)."""

import base64
import logging
import os
import subprocess
import sys
import time

import pytest
import time_machine
from django.conf import settings as django_settings
from django.utils import timezone

from bananasite.model_catalog import build_models
from compositions.catalog import ModelSpec, Route, available_routes, get_model, output_size
from compositions.providers import get_provider
from compositions.providers.base import (
    InputImage,
    ProviderAuthError,
    ProviderError,
    ProviderNoImage,
    ProviderSafetyBlock,
    ProviderTimeout,
    ProviderUnavailable,
)
from compositions.providers.gemini import GeminiProvider, VertexProvider
from compositions.providers.http import CircuitBreaker
from compositions.tasks import run_composition
from conftest import database_url

from .factories import compose
from .fakes import (
    FakeProvider,
    Reply,
    aiml_ok,
    compose_request,
    gemini_ok,
    google_error,
    openrouter_ok,
    png,
    runware_ok,
)

KEY = "sk-very-secret-key-123"
RED, BLUE, GREEN = png((220, 20, 20)), png((20, 20, 220)), png((20, 160, 20))
INPUT_A, INPUT_B = png((1, 2, 3), (40, 30)), png((4, 5, 6), (30, 40))

OK = {
    "gemini": lambda *imgs, text="": gemini_ok(*imgs, text=text),
    "vertex": lambda *imgs, text="": gemini_ok(*imgs, text=text),
    "openrouter": lambda *imgs, text="": openrouter_ok(*imgs, text=text),
    "runware": lambda *imgs, text="": runware_ok(*imgs),
    "aimlapi": lambda *imgs, text="": aiml_ok(*imgs),
}
BAD_KEY = {
    # Google answers an invalid key with 400, not 401.
    "gemini": Reply(
        400,
        google_error(
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}],
        ),
    ),
    "vertex": Reply(
        401, google_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
    ),
    "openrouter": Reply(401, {"error": {"code": 401, "message": "No auth credentials found"}}),
    "runware": Reply(
        401,
        {
            "errors": [
                {"code": "invalidApiKey", "message": "Invalid API key.", "parameter": "apiKey"}
            ]
        },
    ),
    "aimlapi": Reply(
        401, {"message": "This request requires a valid API key", "statusCode": "401"}
    ),
}
NO_CREDIT = {
    "gemini": Reply(403, google_error(403, "PERMISSION_DENIED", "Billing is not enabled.")),
    "vertex": Reply(403, google_error(403, "PERMISSION_DENIED", "Billing is not enabled.")),
    "openrouter": Reply(402, {"error": {"code": 402, "message": "Insufficient credits"}}),
    "runware": Reply(
        402, {"errors": [{"code": "insufficientCredits", "message": "Not enough balance"}]}
    ),
    # AIML says so with 403, not 402.
    "aimlapi": Reply(
        403, {"message": "You've run out of credits. Top up to continue.", "statusCode": "403"}
    ),
}
PROVIDERS = list(OK)


@pytest.fixture
def fake():
    server = FakeProvider()
    yield server
    server.close()


@pytest.fixture
def slept():
    return []


def client(name, fake, settings, slept, **config):
    conf = {"api_key": KEY, "base_url": fake.url, "max_attempts": 3, "timeout": 2.0, **config}
    if name == "vertex":
        conf.update(access_token=KEY, project="proj-1", location="global")
    settings.BANANASITE_PROVIDERS = {name: conf}
    return type(get_provider(name))(sleep=slept.append)


def request(num_images=1, model="model-x", **kw):
    kw.setdefault("aspect_ratio", "16:9")
    kw.setdefault("image_size", "2K")
    return compose_request(
        prompt="Put image 1 in image 2",
        images=[InputImage(INPUT_A, "image/png"), InputImage(INPUT_B, "image/png")],
        model=model,
        num_images=num_images,
        **kw,
    )


@pytest.mark.parametrize("name", PROVIDERS)
def test_success_with_several_images(name, fake, settings, slept):
    provider = client(name, fake, settings, slept)
    per_call = provider.images_per_call
    fake.script(
        Reply(
            200, OK[name](RED, BLUE, text="Done.") if per_call > 1 else OK[name](RED, text="Done.")
        )
    )
    result = provider.compose(request(num_images=2))
    assert len(result.images) == 2
    assert all(i.mime_type == "image/png" for i in result.images)
    assert result.images[0].data in (RED, BLUE)
    # One call returns one image at Gemini/OpenRouter: two calls in parallel; else one call.
    assert len(fake.requests) == (2 if per_call == 1 else 1)
    assert slept == []


@pytest.mark.parametrize("name", PROVIDERS)
@pytest.mark.parametrize("refusals", [BAD_KEY, NO_CREDIT], ids=["invalid_key", "out_of_credit"])
def test_an_invalid_key_or_no_credit_is_an_auth_error_never_retried(
    name, refusals, fake, settings, slept
):
    provider = client(name, fake, settings, slept)
    fake.script(refusals[name])
    with pytest.raises(ProviderAuthError) as exc:
        provider.compose(request())
    assert not exc.value.retryable and len(fake.requests) == 1
    assert KEY not in exc.value.message and KEY not in exc.value.detail


@pytest.mark.parametrize("name", PROVIDERS)
def test_429_is_retried_after_the_time_it_asks_for(name, fake, settings, slept):
    provider = client(name, fake, settings, slept)
    if name in ("gemini", "vertex"):
        busy = Reply(
            429,
            google_error(
                429,
                "RESOURCE_EXHAUSTED",
                "Resource has been exhausted",
                [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1.5s"}],
            ),
        )
        expected = 1.5
    else:
        busy = Reply(
            429, {"error": {"code": 429, "message": "slow down"}}, headers={"Retry-After": "2"}
        )
        expected = 2.0
    fake.script(busy, Reply(200, OK[name](RED)))
    result = provider.compose(request())
    assert len(result.images) == 1 and len(fake.requests) == 2
    assert slept == [expected]


@pytest.mark.parametrize("name", PROVIDERS)
def test_500_then_success(name, fake, settings, slept):
    provider = client(name, fake, settings, slept)
    fake.script(
        Reply(500, {"error": {"code": 500, "message": "internal"}}), Reply(200, OK[name](GREEN))
    )
    assert provider.compose(request()).images[0].data == GREEN
    assert len(slept) == 1 and 0 < slept[0] <= 1.0  # backoff with jitter


@pytest.mark.parametrize("name", PROVIDERS)
def test_persistent_5xx_ends_unavailable_after_bounded_attempts(name, fake, settings, slept):
    provider = client(name, fake, settings, slept)
    fake.script(Reply(503, {"error": {"code": 503, "message": "overloaded"}}))
    with pytest.raises(ProviderUnavailable) as exc:
        provider.compose(request())
    assert exc.value.retryable and len(fake.requests) == 3 and len(slept) == 2


@pytest.mark.parametrize("name", PROVIDERS)
def test_a_timeout(name, fake, settings, slept):
    provider = client(name, fake, settings, slept, timeout=0.2, max_attempts=2)
    fake.script(Reply(200, OK[name](RED), delay=0.5))
    with pytest.raises(ProviderTimeout):
        provider.compose(request())
    assert len(fake.requests) == 2


@pytest.mark.parametrize("name", PROVIDERS)
def test_malformed_json(name, fake, settings, slept):
    provider = client(name, fake, settings, slept)
    fake.script(Reply(200, b"{not json"))
    with pytest.raises(ProviderError, match=r"could not read|without an image"):
        provider.compose(request())


@pytest.mark.parametrize("name", PROVIDERS)
def test_a_huge_body_is_cut_off(name, fake, settings, slept, monkeypatch):
    monkeypatch.setattr("compositions.providers.http.MAX_BODY", 50_000)
    provider = client(name, fake, settings, slept)
    fake.script(Reply(200, b"x" * 200_000))
    with pytest.raises(ProviderError, match="too large"):
        provider.compose(request())


@pytest.mark.parametrize("name", PROVIDERS)
def test_a_payload_that_is_not_an_image(name, fake, settings, slept):
    provider = client(name, fake, settings, slept)
    bogus = OK[name](b"this is not an image at all")
    fake.script(Reply(200, bogus))
    with pytest.raises(ProviderError, match="not an image"):
        provider.compose(request())


# --- Refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "body", "error"),
    [
        (
            "gemini",
            {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "usageMetadata": {}},
            ProviderSafetyBlock,
        ),
        (
            "gemini",
            {
                "candidates": [
                    {
                        "content": {"role": "model"},
                        "finishReason": "IMAGE_PROHIBITED_CONTENT",
                        "finishMessage": "could not be generated",
                    }
                ]
            },
            ProviderSafetyBlock,
        ),
        (
            "gemini",
            {
                "candidates": [
                    {"content": {"parts": [{"text": "I can't"}]}, "finishReason": "IMAGE_SAFETY"}
                ]
            },
            ProviderSafetyBlock,
        ),
        (
            "gemini",
            {
                "candidates": [
                    {
                        "content": {"parts": [{"text": "Here is a story instead."}]},
                        "finishReason": "STOP",
                    }
                ]
            },
            ProviderNoImage,
        ),
        (
            "gemini",
            {"candidates": [{"content": {"parts": []}, "finishReason": "NO_IMAGE"}]},
            ProviderNoImage,
        ),
        (
            "openrouter",
            {
                "choices": [
                    {
                        "finish_reason": "content_filter",
                        "native_finish_reason": "IMAGE_SAFETY",
                        "message": {"role": "assistant", "content": ""},
                    }
                ]
            },
            ProviderSafetyBlock,
        ),
        (
            "openrouter",
            {
                "choices": [
                    {
                        "finish_reason": "stop",
                        "native_finish_reason": "STOP",
                        "message": {"role": "assistant", "content": "Only words."},
                    }
                ]
            },
            ProviderNoImage,
        ),
        (
            "runware",
            {
                "data": [],
                "errors": [
                    {"code": "invalidProviderContent", "message": "Invalid content detected"}
                ],
            },
            ProviderSafetyBlock,
        ),
        ("aimlapi", {"data": [], "meta": {}}, ProviderNoImage),
    ],
)
def test_refusals_end_in_a_clear_failure(name, body, error, fake, settings, slept):
    provider = client(name, fake, settings, slept)
    fake.script(Reply(200, body))
    with pytest.raises(error) as exc:
        provider.compose(request())
    assert exc.value.code in ("provider_safety_block", "provider_no_image")
    assert exc.value.message and "{" not in exc.value.message and len(fake.requests) == 1


def test_openrouter_moderation_403_is_a_safety_block(fake, settings, slept):
    provider = client("openrouter", fake, settings, slept)
    fake.script(
        Reply(
            403,
            {"error": {"code": 403, "message": "flagged", "metadata": {"reasons": ["violence"]}}},
        )
    )
    with pytest.raises(ProviderSafetyBlock):
        provider.compose(request())


def test_aiml_safety_message_is_a_safety_block(fake, settings, slept):
    provider = client("aimlapi", fake, settings, slept)
    fake.script(Reply(400, {"message": "Request blocked by content policy", "statusCode": "400"}))
    with pytest.raises(ProviderSafetyBlock):
        provider.compose(request())


def test_no_image_reports_what_the_model_said(fake, settings, slept):
    provider = client("gemini", fake, settings, slept)
    fake.script(
        Reply(
            200,
            {
                "candidates": [
                    {"content": {"parts": [{"text": "Which cat?"}]}, "finishReason": "STOP"}
                ]
            },
        )
    )
    with pytest.raises(ProviderNoImage, match='It said: "Which cat\\?"'):
        provider.compose(request())


# --- Reading answers --------------------------------------------------------------------------


def test_gemini_skips_thought_images_and_keeps_text_and_usage(fake, settings, slept):
    provider = client("gemini", fake, settings, slept)
    fake.script(Reply(200, gemini_ok(RED, text="Here is the composite.", thought=BLUE)))
    result = provider.compose(request(model="gemini-3.1-flash-image"))
    assert [i.data for i in result.images] == [RED]
    assert result.text == "Here is the composite."
    assert result.usage["output_tokens"] == 1120 and result.request_id == "resp-1"
    assert result.cost_usd == pytest.approx(1120 * 60 / 1e6)


def test_gemini_accepts_snake_case_inline_data(fake, settings, slept):
    provider = client("gemini", fake, settings, slept)
    body = {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {
                            "inline_data": {
                                "mime_type": "image/png",
                                "data": base64.b64encode(RED).decode(),
                            }
                        }
                    ]
                },
                "finishReason": "STOP",
            }
        ]
    }
    fake.script(Reply(200, body))
    assert provider.compose(request()).images[0].data == RED


def test_aiml_reads_both_answer_shapes(fake, settings, slept):
    provider = client("aimlapi", fake, settings, slept)
    fake.script(Reply(200, aiml_ok(RED, shape="images")))
    result = provider.compose(request())
    assert result.images[0].data == RED and result.text == "Here is your picture"
    fake.script(Reply(200, aiml_ok(BLUE)))
    assert provider.compose(request()).cost_usd == 0.06


def test_aiml_downloads_result_urls_through_the_safe_fetcher(fake, settings, slept):
    settings.BANANASITE_FETCH_ALLOW_NETWORKS = ["127.0.0.1/32"]
    provider = client("aimlapi", fake, settings, slept)
    fake.script(Reply(200, {"data": [{"url": f"{fake.url}/cdn/out.png"}]}), Reply(200, GREEN))
    assert provider.compose(request()).images[0].data == GREEN
    settings.BANANASITE_FETCH_ALLOW_NETWORKS = []
    fake.script(Reply(200, {"data": [{"url": f"{fake.url}/cdn/out.png"}]}))
    with pytest.raises(ProviderUnavailable):  # a loopback URL from a provider is refused
        provider.compose(request())


def test_runware_keeps_images_when_errors_come_alongside(fake, settings, slept):
    provider = client("runware", fake, settings, slept)
    body = {**runware_ok(RED), "errors": [{"code": "someWarning", "message": "one task failed"}]}
    fake.script(Reply(200, body))
    result = provider.compose(request())
    assert [i.data for i in result.images] == [RED] and result.cost_usd == 0.0672


# --- What we send, field by field ------------------------------------------------------------


def test_gemini_request_shape(fake, settings, slept):
    provider = client("gemini", fake, settings, slept)
    fake.script(Reply(200, gemini_ok(RED)))
    provider.compose(request(model="gemini-3.1-flash-image"))
    [sent] = fake.requests
    assert sent["path"] == "/v1beta/models/gemini-3.1-flash-image:generateContent"
    assert sent["headers"]["x-goog-api-key"] == KEY
    parts = sent["json"]["contents"][0]["parts"]
    assert sent["json"]["contents"][0]["role"] == "user"
    assert parts[0] == {"text": "Put image 1 in image 2"}
    assert [p["inlineData"]["mimeType"] for p in parts[1:]] == ["image/png", "image/png"]
    assert base64.b64decode(parts[1]["inlineData"]["data"]) == INPUT_A  # order kept
    assert sent["json"]["generationConfig"] == {
        "responseModalities": ["TEXT", "IMAGE"],
        "imageConfig": {"aspectRatio": "16:9", "imageSize": "2K"},
    }


def test_gemini_25_gets_no_image_size(fake, settings, slept):
    provider = client("gemini", fake, settings, slept)
    fake.script(Reply(200, gemini_ok(RED)))
    provider.compose(request(model="gemini-2.5-flash-image", image_size="1K"))
    assert fake.requests[0]["json"]["generationConfig"]["imageConfig"] == {"aspectRatio": "16:9"}


def test_vertex_request_shape_with_token_and_with_express_key(fake, settings, slept):
    provider = client("vertex", fake, settings, slept)
    fake.script(Reply(200, gemini_ok(RED)))
    provider.compose(request(model="gemini-3-pro-image"))
    sent = fake.requests[0]
    assert sent["path"] == (
        "/v1beta1/projects/proj-1/locations/global/publishers/google/models/"
        "gemini-3-pro-image:generateContent"
    )
    assert sent["headers"]["authorization"] == f"Bearer {KEY}"
    assert sent["headers"]["x-goog-user-project"] == "proj-1"
    assert "generationConfig" in sent["json"]
    settings.BANANASITE_PROVIDERS = {"vertex": {"api_key": KEY, "base_url": fake.url}}
    express = VertexProvider(sleep=slept.append)
    fake.script(Reply(200, gemini_ok(RED)))
    express.compose(request(model="gemini-3-pro-image"))
    assert (
        fake.requests[0]["path"]
        == "/v1beta1/publishers/google/models/gemini-3-pro-image:generateContent"
    )
    assert fake.requests[0]["headers"]["x-goog-api-key"] == KEY


def test_vertex_default_hosts():
    assert VertexProvider.__mro__[1] is GeminiProvider


def test_openrouter_request_shape(fake, settings, slept):
    provider = client("openrouter", fake, settings, slept)
    fake.script(Reply(200, openrouter_ok(RED)))
    provider.compose(request(model="google/gemini-3.1-flash-image", image_size="512"))
    [sent] = fake.requests
    body = sent["json"]
    assert sent["path"] == "/api/v1/chat/completions"
    assert sent["headers"]["authorization"] == f"Bearer {KEY}"
    assert body["model"] == "google/gemini-3.1-flash-image"
    assert body["modalities"] == ["image", "text"]  # without it Gemini answers text only
    assert body["image_config"] == {"aspect_ratio": "16:9", "image_size": "0.5K"}
    content = body["messages"][0]["content"]
    assert content[0] == {"type": "text", "text": "Put image 1 in image 2"}  # text first
    assert content[1]["type"] == "image_url"
    assert content[1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert body["stream"] is False


def test_runware_request_shape(fake, settings, slept):
    provider = client("runware", fake, settings, slept)
    fake.script(Reply(200, runware_ok(RED, BLUE, GREEN)))
    provider.compose(request(model="google:4@3", num_images=3, image_size="1K"))
    [sent] = fake.requests
    assert sent["path"] == "/v1" and sent["headers"]["authorization"] == f"Bearer {KEY}"
    [task] = sent["json"]  # always an array of tasks
    assert task["taskType"] == "imageInference" and task["model"] == "google:4@3"
    assert len(task["taskUUID"]) == 36 and task["positivePrompt"] == "Put image 1 in image 2"
    assert (task["width"], task["height"]) == (1376, 768)  # Google's 1K pair for 16:9
    assert "resolution" not in task  # never both
    refs = task["inputs"]["referenceImages"]
    assert len(refs) == 2 and all(r.startswith("data:image/png;base64,") for r in refs)
    assert task["numberResults"] == 3 and task["includeCost"] is True
    assert task["outputType"] == "base64Data" and task["deliveryMethod"] == "sync"


def test_runware_takes_the_requests_size_for_a_ratio_without_a_google_pair(fake, settings, slept):
    provider = client("runware", fake, settings, slept)
    fake.script(Reply(200, runware_ok(RED)))
    provider.compose(request(model="google:4@3", aspect_ratio="1:4", image_size="1K"))
    [task] = fake.requests[0]["json"]
    assert (task["width"], task["height"]) == output_size("1:4", "1K") == (512, 2048)


def test_aiml_request_shape(fake, settings, slept):
    provider = client("aimlapi", fake, settings, slept)
    fake.script(Reply(200, aiml_ok(RED, BLUE)))
    provider.compose(request(model="google/nano-banana-2", num_images=2))
    [sent] = fake.requests
    body = sent["json"]
    assert sent["path"] == "/v1/images/generations"
    assert body["model"] == "google/nano-banana-2" and body["prompt"] == "Put image 1 in image 2"
    assert len(body["image_urls"]) == 2 and body["image_urls"][0].startswith("data:image/png")
    assert body["aspect_ratio"] == "16:9" and body["resolution"] == "2K" and body["num_images"] == 2
    fake.script(Reply(200, aiml_ok(RED)))
    provider.compose(request(model="google/nano-banana-edit", image_size="1K"))
    assert "resolution" not in fake.requests[0]["json"]  # 2.5 takes none


# --- Keys and the circuit breaker ------------------------------------------------------------


def test_keys_never_reach_logs_or_errors(fake, settings, slept, caplog):
    caplog.set_level(logging.DEBUG)
    provider = client("gemini", fake, settings, slept)
    fake.script(Reply(400, google_error(400, "INVALID_ARGUMENT", f"bad request for key {KEY}")))
    with pytest.raises(ProviderError) as exc:
        provider.compose(request())
    assert KEY not in caplog.text and KEY not in exc.value.detail and KEY not in exc.value.message


def test_circuit_opens_after_repeated_failures_and_a_probe_closes_it(settings):
    breaker = CircuitBreaker("gemini", threshold=3, cooldown=60)
    for _ in range(3):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.is_open() and not breaker.allow()
    with time_machine.travel(timezone.now() + timezone.timedelta(seconds=61)):
        assert breaker.allow()  # one probe
        assert not breaker.allow()  # and only one
        breaker.record_success()
        assert not breaker.is_open() and breaker.allow()


# --- Routes: which providers may run a model now ----------------------------------------------

GEMINI = Route("gemini", "gemini-3.1-flash-image", 14)
AIML = Route("aimlapi", "google/nano-banana-2", 5)
LOCAL = Route("local", "local", 14)


def model_with(*routes):
    first = routes[0]
    return ModelSpec(
        id="m",
        provider=first.provider,
        name="M",
        provider_model=first.provider_model,
        max_images=first.max_images,
        image_sizes=("1K",),
        aspect_ratios=("1:1",),
        credits_per_image={"1K": 1},
        routes=routes,
    )


def open_circuit(provider):
    breaker = CircuitBreaker(provider)
    for _ in range(breaker.threshold):
        breaker.record_failure()
    assert breaker.is_open()


def test_the_catalogue_reads_each_models_routes_in_order(settings):
    settings.BANANASITE_MODELS = build_models({"gemini": {}, "aimlapi": {}})
    assert get_model("nano-banana-2").routes == (GEMINI, AIML)
    assert get_model("local").routes == (LOCAL,)  # an entry without routes: its own provider


def test_available_routes_are_those_that_take_the_inputs_in_order():
    model = model_with(GEMINI, AIML, LOCAL)
    assert available_routes(model, inputs=5) == [GEMINI, AIML, LOCAL]
    assert available_routes(model, inputs=6) == [GEMINI, LOCAL]  # over AIML's cap of 5
    assert available_routes(model, inputs=15) == []


def test_available_routes_skip_an_open_circuit_but_never_the_local_compositor():
    model = model_with(GEMINI, AIML, LOCAL)
    open_circuit("gemini")
    assert available_routes(model, inputs=2) == [AIML, LOCAL]
    open_circuit("aimlapi")
    open_circuit("local")
    assert available_routes(model, inputs=2) == [LOCAL]
    assert available_routes(model_with(GEMINI, AIML), inputs=2) == []


def test_available_routes_look_at_a_circuit_without_taking_its_probe():
    model = model_with(GEMINI, AIML)
    open_circuit("gemini")
    breaker = CircuitBreaker("gemini")
    with time_machine.travel(timezone.now() + timezone.timedelta(seconds=breaker.cooldown + 1)):
        assert available_routes(model, inputs=2) == [GEMINI, AIML]
        assert available_routes(model, inputs=2) == [GEMINI, AIML]
        assert breaker.allow()  # the one probe is still there for the call itself


# --- Base URLs: the host alone or the provider's documented base -----------------------------

PASTED_BASES = {
    "gemini": ("", "/v1beta", "/v1beta/"),
    "vertex": ("", "/v1", "/v1beta1/"),
    "openrouter": ("", "/api/v1", "/api/v1/", "/api"),
    "runware": ("", "/v1", "/v1/"),
    "aimlapi": ("", "/v1", "/v1/"),
}
EXPECTED_PATHS = {
    "gemini": "/v1beta/models/model-x:generateContent",
    "vertex": "/v1beta1/projects/proj-1/locations/global/publishers/google/models/"
    "model-x:generateContent",
    "openrouter": "/api/v1/chat/completions",
    "runware": "/v1",
    "aimlapi": "/v1/images/generations",
}


@pytest.mark.parametrize(
    ("name", "pasted"),
    [(name, pasted) for name, bases in PASTED_BASES.items() for pasted in bases],
)
def test_the_host_alone_or_the_documented_base_url_reach_the_same_endpoint(
    name, pasted, fake, settings, slept
):
    provider = client(name, fake, settings, slept, base_url=f"{fake.url}{pasted}")
    fake.script(Reply(200, OK[name](RED)))
    provider.compose(request())
    assert [r["path"] for r in fake.requests] == [EXPECTED_PATHS[name]]


def test_a_proxy_prefix_is_kept(fake, settings, slept):
    provider = client("openrouter", fake, settings, slept, base_url=f"{fake.url}/proxy/or/")
    fake.script(Reply(200, openrouter_ok(RED)))
    provider.compose(request())
    assert fake.requests[0]["path"] == "/proxy/or/api/v1/chat/completions"


# --- The request's deadline --------------------------------------------------------------------


@pytest.mark.parametrize("name", PROVIDERS)
def test_a_hung_provider_is_given_up_on_at_the_deadline_though_retries_remain(
    name, fake, settings, slept
):
    provider = client(name, fake, settings, slept, timeout=60.0, max_attempts=4)
    fake.script(Reply(200, OK[name](RED), delay=30))
    started = time.monotonic()
    with pytest.raises(ProviderTimeout) as exc:
        provider.compose(request(deadline=started + 2))
    assert 1.9 < time.monotonic() - started < 3
    assert len(fake.requests) == 1 and slept == []
    assert exc.value.message == "The image service took too long to answer."


def test_parallel_calls_all_end_by_the_deadline(fake, settings, slept):
    provider = client("gemini", fake, settings, slept, timeout=60.0)
    fake.script(Reply(200, gemini_ok(RED), delay=30))
    started = time.monotonic()
    with pytest.raises(ProviderTimeout):
        provider.compose(request(num_images=3, deadline=started + 1.5))
    assert time.monotonic() - started < 2.5 and len(fake.requests) == 3


def test_no_wait_or_retry_that_would_pass_the_deadline(fake, settings, slept):
    provider = client("openrouter", fake, settings, slept, max_attempts=4)
    fake.script(
        Reply(503, {"error": {"code": 503, "message": "busy"}}, headers={"Retry-After": "5"})
    )
    with pytest.raises(ProviderUnavailable):
        provider.compose(request(deadline=time.monotonic() + 2))
    assert len(fake.requests) == 1 and slept == []  # a 5 s wait would end past the deadline


def test_a_deadline_already_passed_calls_nobody(fake, settings, slept):
    provider = client("runware", fake, settings, slept)
    fake.script(Reply(200, runware_ok(RED)))
    with pytest.raises(ProviderTimeout):
        provider.compose(request(deadline=time.monotonic() - 0.1))
    assert fake.requests == []


def test_a_download_of_a_result_url_ends_by_the_deadline(fake, settings, slept):
    settings.BANANASITE_FETCH_ALLOW_NETWORKS = ["127.0.0.1/32"]
    provider = client("aimlapi", fake, settings, slept)
    fake.script(
        Reply(200, {"data": [{"url": f"{fake.url}/cdn/out.png"}]}),
        Reply(200, GREEN, delay=30),
    )
    started = time.monotonic()
    with pytest.raises(ProviderTimeout):
        provider.compose(request(deadline=started + 1.5))
    assert time.monotonic() - started < 2.5


# --- The circuit counts failed calls -----------------------------------------------------------


def test_the_circuit_opens_after_threshold_failed_calls_and_stops_the_retries(
    fake, settings, slept
):
    settings.BANANASITE_CIRCUIT_THRESHOLD = 3
    provider = client("gemini", fake, settings, slept, max_attempts=10)
    fake.script(Reply(503, google_error(503, "UNAVAILABLE", "overloaded")))
    with pytest.raises(ProviderUnavailable):
        provider.compose(request())
    assert len(fake.requests) == 3 and len(slept) == 2
    assert CircuitBreaker("gemini").is_open()


def test_an_answer_closes_the_count_and_a_timeout_we_imposed_is_not_a_failure(
    fake, settings, slept
):
    settings.BANANASITE_CIRCUIT_THRESHOLD = 2
    provider = client("openrouter", fake, settings, slept, max_attempts=1, timeout=60.0)
    fake.script(Reply(503, {"error": {"code": 503, "message": "busy"}}))
    with pytest.raises(ProviderUnavailable):
        provider.compose(request())
    fake.script(Reply(400, {"error": {"code": 400, "message": "bad input"}}))
    with pytest.raises(ProviderError):
        provider.compose(request())  # an answer: the provider is up, the count starts again
    fake.script(Reply(503, {"error": {"code": 503, "message": "busy"}}))
    with pytest.raises(ProviderUnavailable):
        provider.compose(request())
    assert not CircuitBreaker("openrouter").is_open()
    fake.script(Reply(200, openrouter_ok(RED), delay=30))
    with pytest.raises(ProviderTimeout):
        provider.compose(request(deadline=time.monotonic() + 0.5))  # our deadline, not theirs
    assert not CircuitBreaker("openrouter").is_open()


@pytest.mark.django_db
def test_an_outage_costs_the_down_provider_about_threshold_calls_not_calls_per_composition(
    owner, settings
):
    down, healthy = FakeProvider(), FakeProvider()
    try:
        conf = {"max_attempts": 4, "backoff_base": 0.01}
        settings.BANANASITE_PROVIDERS = {
            "gemini": {"api_key": KEY, "base_url": down.url, **conf},
            "openrouter": {"api_key": KEY, "base_url": healthy.url, **conf},
        }
        settings.BANANASITE_MODELS = build_models(settings.BANANASITE_PROVIDERS)
        settings.BANANASITE_CIRCUIT_THRESHOLD = 3
        down.script(Reply(503, google_error(503, "UNAVAILABLE", "overloaded")))
        healthy.script(Reply(200, openrouter_ok(GREEN)))
        for _ in range(5):
            composition = compose(owner, model="nano-banana-2", image_size="512")
            assert run_composition(composition.public_id) == "succeeded"
            composition.refresh_from_db()
            assert composition.provider == "openrouter"
        # Today's count: a composition retries the down provider 4 times, 20 calls for 5.
        assert len(down.requests) <= 3 and len(healthy.requests) == 5
    finally:
        down.close()
        healthy.close()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_circuit_opened_in_one_process_is_open_in_another(settings):
    """The embedded profile too: its cache is a database table, not each process's memory."""
    settings.CACHES = (
        {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}}
        if (url := settings.REDIS_URL)
        else {
            "default": {
                "BACKEND": "django.core.cache.backends.db.DatabaseCache",
                "LOCATION": "bananasite_cache",
            }
        }
    )
    breaker = CircuitBreaker("gemini")
    assert not breaker.is_open()
    elsewhere = (
        "from compositions.providers.http import CircuitBreaker; b = CircuitBreaker('gemini'); "
        "[b.record_failure() for _ in range(b.threshold)]"
    )
    try:
        done = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", elsewhere],
            cwd=django_settings.BASE_DIR,
            env={**os.environ, "DATABASE_URL": database_url()},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert breaker.is_open()
    finally:
        breaker.record_success()
