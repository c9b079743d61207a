"""Each problem type has its own `title` (RFC 9457: a short summary of the type that `code`
names), in the request's language; `status`, `code`, `detail` and `errors` are unchanged."""

import pytest
from django.urls import get_resolver

from api.tests.api_clients import token_client
from api.tests.test_api import _file, assert_problem, compose_json
from bananasite.errors import TITLES, AppError
from billing.models import Wallet
from billing.services import adjust_credits
from compositions.tests.factories import compose

pytestmark = pytest.mark.django_db

# Every code of the contract's error table (shared/design/api-v1.md, "Errors").
CONTRACT_CODES = [
    "invalid_request",
    "prompt_invalid",
    "prompt_blocked",
    "too_few_images",
    "too_many_images",
    "image_corrupt",
    "image_too_large_pixels",
    "image_url_forbidden",
    "image_fetch_failed",
    "unsupported_option",
    "not_authenticated",
    "insufficient_credits",
    "permission_denied",
    "model_not_allowed",
    "size_not_allowed",
    "account_suspended",
    "not_found",
    "invalid_state",
    "idempotency_in_progress",
    "image_too_large",
    "request_too_large",
    "unsupported_image_type",
    "idempotency_key_reused",
    "rate_limited",
    "daily_quota_exceeded",
    "monthly_quota_exceeded",
    "provider_unavailable",
]


@pytest.fixture
def api(owner):
    return token_client(owner)


def in_language(api, language):
    if language:
        api.defaults["HTTP_ACCEPT_LANGUAGE"] = language
    return api


@pytest.mark.parametrize(
    ("language", "title"),
    [(None, "Image too large"), ("de", "Bild zu groß"), ("es", "Imagen demasiado grande")],
)
def test_a_photo_over_the_byte_limit_is_titled_image_too_large(api, settings, language, title):
    settings.BANANASITE_MAX_UPLOAD_BYTES = 10_000
    api = in_language(api, language)
    response = api.post("/api/v1/uploads", {"file": _file("rocket.jpg")}, format="multipart")
    body = assert_problem(response, 413, "image_too_large")
    assert body["title"] == title
    assert body["errors"][0]["code"] == "image_too_large"


@pytest.mark.parametrize(
    ("language", "title"), [(None, "Prompt too long"), ("de", "Prompt zu lang")]
)
def test_a_validation_error_is_titled_by_its_code(api, language, title):
    body = assert_problem(
        compose_json(in_language(api, language), prompt="x" * 4001), 400, "prompt_too_long"
    )
    assert body["title"] == title
    assert body["errors"][0]["field"] == "prompt"


def test_a_plain_invalid_request_keeps_the_generic_title(api):
    body = assert_problem(compose_json(in_language(api, "de"), prompt=12), 400, "invalid_request")
    assert body["title"] == "Ungültige Anfrage"


def test_a_stranger_composition_is_titled_not_found_in_german(api, stranger):
    theirs = compose(stranger)
    response = in_language(api, "de").get(f"/api/v1/compositions/{theirs.public_id}")
    body = assert_problem(response, 404, "not_found")
    assert body["title"] == "Nicht gefunden"


def test_insufficient_credits_keeps_the_contract_title(api, owner):
    """The contract's own example (api-v1.md, "Errors") is titled "Insufficient credits"."""
    wallet = Wallet.objects.get(workspace=owner.current_workspace)
    adjust_credits(wallet=wallet, amount=-49, reason="t")
    body = assert_problem(compose_json(api, num_images=2), 402, "insufficient_credits")
    assert body["title"] == "Insufficient credits"


@pytest.mark.parametrize("code", CONTRACT_CODES)
def test_every_contract_code_has_its_own_title(code):
    assert code in TITLES


def test_no_two_codes_share_a_title():
    titles = [str(title) for title in TITLES.values()]
    assert len(set(titles)) == len(titles)


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_every_error_class_code_has_a_title():
    assert get_resolver().url_patterns  # imports every app's views, and with them their errors
    untitled = {
        f"{cls.__module__}.{cls.__name__}: {cls.code}"
        for cls in _subclasses(AppError)
        if "code" in vars(cls) and cls.code not in TITLES
    }
    assert not untitled
