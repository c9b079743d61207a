"""/healthz says the process lives; /readyz that the database, broker and storage answer."""

import threading
import time
from unittest import mock

import pytest
from django.db import OperationalError, connection, connections
from django.test.utils import CaptureQueriesContext

from ops import health


def test_healthz_answers_without_the_database(client):
    # No database access is allowed in this test: one query would fail it.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.django_db
def test_healthz_makes_no_query(client):
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/healthz").status_code == 200
    assert len(queries) == 0


@pytest.mark.django_db(transaction=True)
def test_readyz_is_ok_when_everything_answers(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db(transaction=True)
def test_a_stopped_database_makes_readyz_fail_naming_only_the_check(client, settings):
    # What a stopped server gives the driver: the connection is refused.
    refused = OperationalError('connection to server at "db.internal" (10.0.0.5), port 5432 failed')
    with mock.patch.object(type(connections["default"]), "ensure_connection", side_effect=refused):
        response = client.get("/readyz")
    assert response.status_code == 503
    # Without Redis the broker is django-q2's table in that same database.
    failed = ["database"] if settings.REDIS_URL else ["database", "broker"]
    assert response.json() == {"status": "unavailable", "failed": failed}
    assert b"db.internal" not in response.content and b"5432" not in response.content


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_broker_makes_readyz_fail(client, settings):
    # A Redis broker on a port where nothing listens (port 1 is never a Redis).
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "failed": ["broker"]}
    assert b"127.0.0.1" not in response.content


@pytest.mark.django_db(transaction=True)
def test_an_unreadable_storage_makes_readyz_fail(client, settings, tmp_path):
    # The media "directory" is a file: nothing can be stored there.
    (tmp_path / "taken").write_bytes(b"not a directory")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "taken"), "base_url": None},
        },
    }
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "failed": ["storage"]}
    assert b"taken" not in response.content


@pytest.mark.django_db(transaction=True)
def test_a_fresh_install_without_a_media_directory_is_ready(client, settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media-not-made-yet"), "base_url": None},
        },
    }
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    assert (tmp_path / "media-not-made-yet").is_dir()


@pytest.mark.django_db(transaction=True)
def test_a_hung_check_fails_after_the_short_timeout_not_the_driver_s(client, settings):
    settings.BANANASITE_READY_TIMEOUT = 0.3
    release = threading.Event()

    def hang():
        release.wait(30)

    try:
        with mock.patch.dict(health.CHECKS, {"database": hang}):
            started = time.monotonic()
            response = client.get("/readyz")
            took = time.monotonic() - started
    finally:
        release.set()
    assert response.status_code == 503
    assert response.json()["failed"] == ["database"]
    assert took < 2


@pytest.mark.django_db
def test_the_probes_are_exempt_from_the_https_redirect(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz").status_code == 200
    assert client.get("/compose").status_code == 301
