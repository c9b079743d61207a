"""Problem details follow Accept-Language: `title` and `detail` in German or Spanish, `code`
always English (clients branch on it), and English without the header."""

import pytest
from rest_framework.test import APIClient

from api.tests.api_clients import token_client
from billing.models import Wallet
from billing.services import adjust_credits

pytestmark = pytest.mark.django_db


def problem(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response["Content-Language"] == response.wsgi_request.LANGUAGE_CODE
    return response.json()


@pytest.mark.parametrize(
    ("language", "title", "detail"),
    [
        (None, "Not found", "There is no such API endpoint."),
        ("de", "Nicht gefunden", "Diesen API-Endpunkt gibt es nicht."),
        ("es", "No encontrado", "No existe ese endpoint de la API."),
    ],
)
def test_an_unknown_endpoint(language, title, detail):
    headers = {"HTTP_ACCEPT_LANGUAGE": language} if language else {}
    body = problem(APIClient().get("/api/v1/no-such-thing", **headers), 404)
    assert (body["code"], body["title"], body["detail"]) == ("not_found", title, detail)


@pytest.mark.parametrize(
    ("language", "title"),
    [
        ("de-DE,de;q=0.9", "Nicht angemeldet"),
        ("es-ES", "No autenticado"),
        ("en", "Not authenticated"),
    ],
)
def test_a_missing_token(language, title):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer nope")
    body = problem(client.get("/api/v1/me", HTTP_ACCEPT_LANGUAGE=language), 401)
    assert body["code"] == "not_authenticated"
    assert body["title"] == title


@pytest.mark.parametrize(
    ("language", "title", "detail"),
    [
        (
            "de",
            "Nicht genügend Credits",
            "Diese Komposition braucht 2 Credits; der Arbeitsbereich hat 1.",
        ),
        (
            "es",
            "Créditos insuficientes",
            "Esta composición necesita 2 créditos; el espacio de trabajo tiene 1.",
        ),
        (None, "Insufficient credits", "This composition needs 2 credits; the workspace has 1."),
    ],
)
def test_a_refusal_from_the_services(owner, language, title, detail):
    from api.tests.test_api import compose_json

    api = token_client(owner)
    if language:
        api.defaults["HTTP_ACCEPT_LANGUAGE"] = language
    adjust_credits(
        wallet=Wallet.objects.get(workspace=owner.current_workspace), amount=-49, reason="t"
    )
    body = problem(compose_json(api, num_images=2), 402)
    assert body["code"] == "insufficient_credits"
    assert (body["title"], body["detail"]) == (title, detail)


def test_field_errors_are_translated_but_their_codes_are_not(owner):
    from api.tests.test_api import compose_json

    api = token_client(owner)
    api.defaults["HTTP_ACCEPT_LANGUAGE"] = "de"
    body = problem(compose_json(api, priority="batch"), 400)
    assert body["code"] == "batch_unavailable"
    assert body["title"] == "Batch-Stufe nicht verfügbar"  # the code's own title (RFC 9457)
    assert body["errors"][0]["code"] == "batch_unavailable"
    assert body["errors"][0]["field"] == "priority"
    assert "hat hier keine Batch-Stufe: Nur die Gemini-API bietet eine an." in body["detail"]
