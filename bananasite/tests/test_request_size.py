"""A request over BANANASITE_MAX_REQUEST_BYTES is refused from its Content-Length before the
body is read (bananasite.middleware): in the caller's language (chosen there, before
LocaleMiddleware runs) and in the caller's shape: problem+json under /api/, OpenAI's error JSON
under /v1/, a page with a way back everywhere else."""

import os

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db

BIG = SimpleUploadedFile  # a fresh one per request: the client reads it


@pytest.fixture(autouse=True)
def small_limit(settings):
    settings.BANANASITE_MAX_REQUEST_BYTES = 2048


def big_file(name="big.png"):
    return BIG(name, os.urandom(8192))


@pytest.mark.parametrize(
    ("language", "title", "detail"),
    [
        ("de-DE,de;q=0.9", "Anfrage zu groß", "Die Anfrage ist 8,1\xa0KB groß"),
        ("es", "Solicitud demasiado grande", "La solicitud ocupa 8,1\xa0KB"),
        (None, "Request too large", "The request is 8.1\xa0KB; the limit is 2.0\xa0KB."),
    ],
)
def test_the_api_answers_problem_json_in_the_callers_language(language, title, detail):
    headers = {"HTTP_ACCEPT_LANGUAGE": language} if language else {}
    response = Client().post("/api/v1/uploads", {"file": big_file()}, **headers)
    assert response.status_code == 413
    assert response["Content-Type"] == "application/problem+json"
    assert response["Content-Language"] == (language or "en")[:2]
    assert "Accept-Language" in response["Vary"]
    body = response.json()
    assert (body["status"], body["code"], body["title"]) == (413, "request_too_large", title)
    assert body["detail"].startswith(detail)


def test_the_openai_endpoint_answers_in_openais_shape():
    response = Client().post(
        "/v1/images/edits",
        {"image[]": [big_file("a.png")], "prompt": "p"},
        HTTP_ACCEPT_LANGUAGE="de",
    )
    assert response.status_code == 400  # OpenAI's BadRequestError, as for any oversized input
    assert response["Content-Type"] == "application/json"
    assert response["x-should-retry"] == "false"
    error = response.json()["error"]
    assert error.keys() == {"message", "type", "param", "code"}
    assert (error["type"], error["code"], error["param"]) == (
        "invalid_request_error",
        "request_too_large",
        None,
    )
    assert error["message"].startswith("Die Anfrage ist 8,")


def test_a_browser_page_is_translated_and_leads_back(owner_client):
    compose = reverse("compositions:compose")
    response = owner_client.post(
        compose,
        {"prompt": "x" * 5000},
        HTTP_ACCEPT_LANGUAGE="de",
        HTTP_REFERER=f"http://testserver{compose}",
    )
    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert "Das war zu viel auf einmal" in page and '<html lang="de"' in page
    assert "Es wurde nichts gespeichert." in page
    assert f'href="http://testserver{compose}">Zurück</a>' in page


def test_the_language_cookie_wins_over_the_header_and_a_foreign_referer_is_not_followed():
    client = Client()
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "es"
    response = client.post(
        "/compose/",
        {"prompt": "x" * 5000},
        HTTP_ACCEPT_LANGUAGE="de",
        HTTP_REFERER="https://evil.example/",
    )
    assert response.status_code == 413
    page = response.content.decode()
    assert "Era demasiado de una vez" in page
    assert 'href="/">Volver</a>' in page
