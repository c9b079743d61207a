import pytest
from django.core.management import call_command

from bananasite.model_catalog import build_models

from .fakes import FakeProvider, Reply


@pytest.fixture
def fake():
    server = FakeProvider()
    yield server
    server.close()


def test_lists_only_the_local_compositor_without_keys(capsys, settings):
    settings.BANANASITE_PROVIDERS = {}
    settings.BANANASITE_MODELS = build_models({})
    settings.BANANASITE_DEFAULT_MODEL = "local"
    call_command("providers")
    out = capsys.readouterr().out
    assert "only the local compositor runs" in out and "local (default): local:local" in out


def test_lists_routes_and_checks_the_key_without_printing_it(capsys, settings, fake):
    providers = {"openrouter": {"api_key": "sk-or-secret", "base_url": fake.url}}
    settings.BANANASITE_PROVIDERS = providers
    settings.BANANASITE_MODELS = build_models(providers)
    settings.BANANASITE_DEFAULT_MODEL = "nano-banana-2"
    fake.script(Reply(401, {"error": {"code": 401, "message": "bad"}}))
    call_command("providers", "--check")
    out = capsys.readouterr().out
    assert "openrouter: configured" in out and "key check: refused (401)" in out
    assert "nano-banana-2 (default): openrouter:google/gemini-3.1-flash-image" in out
    assert "sk-or-secret" not in out
    assert fake.requests[0]["path"] == "/api/v1/key"
