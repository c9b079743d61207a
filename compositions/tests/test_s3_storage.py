"""The S3 profile against moto's S3 server on loopback: private objects, short signed URLs."""

import boto3
import httpx
import pytest
from django.urls import reverse

from compositions.tasks import run_composition

from .factories import compose

pytestmark = pytest.mark.django_db

BUCKET = "bananasite-test"


@pytest.fixture(scope="module")
def s3_server():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_storage(settings, s3_server, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = boto3.client(
        "s3",
        endpoint_url=s3_server,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket=BUCKET)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": s3_server,
                "region_name": "us-east-1",
                "access_key": "testing",
                "secret_key": "testing",
                "addressing_style": "path",
                "signature_version": "s3v4",
                "default_acl": None,
                "querystring_auth": True,
                "querystring_expire": 60,
                "file_overwrite": False,
            },
        },
    }
    yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


def keys(client):
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def test_compose_stores_in_s3_and_serves_through_short_signed_urls(
    s3_storage, owner, owner_client, stranger_client, django_capture_on_commit_callbacks
):
    composition = compose(owner)
    run_composition(composition.public_id)
    result = composition.results.get()
    stored = keys(s3_storage)
    assert result.file.name in stored and len(stored) == 6
    assert all(k.startswith(f"ws/{owner.current_workspace.public_id}/") for k in stored)

    url = reverse("compositions:result_file", args=[result.public_id, "download"])
    response = owner_client.get(url)
    assert response.status_code == 302
    signed = response["Location"]
    assert "X-Amz-Signature=" in signed and "X-Amz-Expires=60" in signed
    assert "response-content-disposition=attachment" in signed
    fetched = httpx.get(signed)
    assert fetched.status_code == 200 and fetched.content[:8] == b"\x89PNG\r\n\x1a\n"

    # The object itself is private: without a signature S3 refuses it.
    unsigned = signed.split("?", 1)[0]
    assert httpx.get(unsigned).status_code == 403

    assert stranger_client.get(url).status_code == 404

    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(reverse("compositions:delete", args=[composition.public_id]))
    assert keys(s3_storage) == []
