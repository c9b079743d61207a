import pytest
from django.core.management import call_command

from .fakes import FakeProvider, Reply

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake():
    server = FakeProvider()
    yield server
    server.close()


def test_lists_the_catalogue_with_lifecycle_aliases_and_routes(capsys, settings):
    settings.BANANASITE_PROVIDERS = {"gemini": {"api_key": "k"}, "runware": {"api_key": "r"}}
    call_command("models")
    out = capsys.readouterr().out
    assert "nano-banana-2 (aliases: gemini-3.1-flash-image, nb2)" in out
    assert "  gemini: gemini-3.1-flash-image, up to 14 images" in out
    assert "  runware: google:4@3" in out
    assert "nano-banana-2-preview (aliases: gemini-3.1-flash-image-preview)" in out
    assert "shut down, shutdown 2026-06-25, successor nano-banana-2" in out
    assert "local: Local compositor" in out


def test_check_asks_gemini_per_model_and_openrouter_once(capsys, settings, fake):
    settings.BANANASITE_PROVIDERS = {
        "gemini": {"api_key": "gm-secret", "base_url": fake.url},
        "openrouter": {"api_key": "or-secret", "base_url": fake.url},
        "aimlapi": {"api_key": "aiml"},
    }
    listing = {"data": [{"id": "google/gemini-3.1-flash-image"}]}
    fake.script(
        Reply(200, {"name": "models/gemini-3.1-flash-image"}),  # nano-banana-2 at gemini
        Reply(200, listing),  # openrouter's list, asked once
        Reply(404, {"error": {"code": 404, "message": "not found"}}),  # nano-banana-pro
        Reply(200, {}),
    )
    call_command("models", "--check")
    out = capsys.readouterr().out
    assert "gemini: gemini-3.1-flash-image, up to 14 images: answers" in out
    assert "openrouter: google/gemini-3.1-flash-image, up to 14 images: listed" in out
    assert "gemini: gemini-3-pro-image, up to 14 images: NOT FOUND (404)" in out
    assert "openrouter: google/gemini-3-pro-image-preview, up to 14 images: NOT LISTED" in out
    assert "aimlapi: google/nano-banana-2, up to 5 images: not checked" in out
    assert "local: local, up to 14 images: answers (local compositor)" in out
    assert "secret" not in out
    paths = [r["path"] for r in fake.requests]
    assert paths[:3] == [
        "/v1beta/models/gemini-3.1-flash-image",
        "/api/v1/models",
        "/v1beta/models/gemini-3-pro-image",
    ]
    assert paths.count("/api/v1/models") == 1
    assert fake.requests[0]["headers"]["x-goog-api-key"] == "gm-secret"
