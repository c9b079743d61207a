"""The result object's `credentials`, and POST /api/v1/verify: valid, tampered or none."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from compositions.tasks import run_composition
from compositions.tests.factories import compose
from conftest import image_bytes

from .api_clients import token_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed(owner):
    composition = compose(owner)
    assert run_composition(composition.public_id) == "succeeded"
    result = composition.results.get()
    with result.file.open("rb") as fh:
        return composition, result, fh.read()


def tamper(data: bytes) -> bytes:
    """One bit of the pixel data flipped, as an edit after signing would."""
    at = data.index(b"IDAT") + 20
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]


def verify(client, data: bytes, name="picture.png"):
    upload = SimpleUploadedFile(name, data, content_type="image/png")
    return client.post("/api/v1/verify", {"image": upload}, format="multipart")


def test_the_result_object_carries_its_credentials(owner, signed):
    composition, _, _ = signed
    body = token_client(owner).get(f"/api/v1/compositions/{composition.public_id}").json()
    (out,) = body["results"]
    credentials = out["credentials"]
    assert credentials["signed"] is True
    assert credentials["issuer"] == "bananasite development"
    assert credentials["claim_generator"] == "bananasite"
    assert credentials["validation"] == {"state": "valid", "trusted": False, "problems": []}
    assert [i["sha256"] for i in credentials["ingredients"]] == [
        i.upload.sha256 for i in composition.inputs.order_by("position")
    ]
    (action,) = credentials["actions"]
    assert action["action"] == "c2pa.created" and action["model"] == "local"
    assert "trainedAlgorithmicMedia" in action["digital_source_type"]


def test_a_result_stored_before_signing_says_so(owner, signed):
    composition, result, _ = signed
    result.credentials = {}
    result.save(update_fields=["credentials"])
    body = token_client(owner).get(f"/api/v1/compositions/{composition.public_id}").json()
    credentials = body["results"][0]["credentials"]
    assert credentials["signed"] is False and credentials["validation"]["state"] == "none"


def test_a_strangers_composition_and_its_credentials_are_a_404(stranger, signed):
    composition, _, _ = signed
    response = token_client(stranger).get(f"/api/v1/compositions/{composition.public_id}")
    assert response.status_code == 404


def test_verify_a_signed_result_is_valid_with_its_manifest(stranger, signed):
    _, _, data = signed
    # Anyone with a token may check any image: it is the image that is checked, nothing stored.
    response = verify(token_client(stranger, scopes=["compositions:read"]), data)
    assert response.status_code == 200
    body = response.json()
    assert body["validation"] == {"state": "valid", "trusted": False, "problems": []}
    assert body["manifest"]["issuer"] == "bananasite development"
    assert len(body["manifest"]["ingredients"]) == 2


def test_verify_reports_a_tampered_result_as_tampered(owner, signed):
    _, _, data = signed
    body = verify(token_client(owner), tamper(data)).json()
    assert body["validation"]["state"] == "tampered"
    assert "assertion.dataHash.mismatch" in body["validation"]["problems"]
    assert body["manifest"]["issuer"] == "bananasite development"  # what it claimed


def test_verify_reports_an_edited_manifest_as_tampered(owner, signed):
    """Someone rewrites what the manifest says (a PNG whose chunk CRC no longer matches, too:
    still reported as tampered, not refused as "not an image")."""
    _, _, data = signed
    assert data.count(b"c2pa.created") == 1
    body = verify(token_client(owner), data.replace(b"c2pa.created", b"c2pa.cropped")).json()
    assert body["validation"]["state"] == "tampered"
    assert body["validation"]["problems"]


def test_verify_an_image_without_credentials_is_none(owner):
    body = verify(token_client(owner), image_bytes()).json()
    assert body == {
        "validation": {"state": "none", "trusted": False, "problems": []},
        "manifest": None,
    }


def test_verify_refuses_what_is_not_an_image(owner):
    response = verify(token_client(owner), b"just some text", name="notes.txt")
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_image_type"


def test_verify_refuses_an_image_over_the_size_limit(owner, settings):
    settings.BANANASITE_MAX_UPLOAD_BYTES = 100
    response = verify(token_client(owner), image_bytes(size=(200, 200)))
    assert response.status_code == 413 and response.json()["code"] == "image_too_large"


def test_verify_needs_an_image_and_a_token(owner):
    response = token_client(owner).post("/api/v1/verify", {}, format="multipart")
    assert response.status_code == 400
    assert verify(APIClient(), image_bytes()).status_code == 401
