"""Content Credentials: every result is signed with a C2PA manifest that c2pa-python validates,
naming the model, the provider and every input; a provider's own manifest is kept."""

import datetime
import hashlib
import io
import json
import logging

import c2pa
import pytest
from django.core.management import call_command

from bananasite.model_catalog import build_models
from compositions import credentials
from compositions.models import Composition
from compositions.options import CompositionOptions, NewImage
from compositions.provenance import DIGITAL_SOURCE_TYPE
from compositions.services import create_refinement, create_variation
from compositions.tasks import run_composition
from conftest import sample_bytes
from moderation.services import remove_content
from moderation.tests.helpers import make_moderator

from .factories import compose
from .fakes import FakeProvider, Reply, gemini_ok, png

pytestmark = pytest.mark.django_db


def manifest_store(data: bytes, mime_type: str = "image/png") -> dict:
    """What c2pa-python itself reads from the bytes (not our summary of it)."""
    with c2pa.Reader(mime_type, io.BytesIO(data)) as reader:
        return json.loads(reader.json())


def active(store: dict) -> dict:
    return store["manifests"][store["active_manifest"]]


def failures(store: dict) -> list[str]:
    return [f["code"] for f in store["validation_results"]["activeManifest"]["failure"]]


def stored(result) -> bytes:
    with result.file.open("rb") as fh:
        return fh.read()


def run(composition: Composition) -> Composition:
    assert run_composition(composition.public_id) == "succeeded"
    composition.refresh_from_db()
    return composition


def sign_as_provider(data: bytes, directory) -> bytes:
    """What Google does to a Nano Banana Pro result: a manifest of its own, its own certificate."""
    credentials.make_development_certificate(directory)
    signer = c2pa.Signer.from_info(
        c2pa.C2paSignerInfo(
            alg="es256",
            sign_cert=(directory / credentials.DEV_CHAIN).read_bytes(),
            private_key=(directory / credentials.DEV_KEY).read_bytes(),
            ta_url=None,
        )
    )
    manifest = {
        "claim_generator_info": [{"name": "Google Gemini"}],
        "title": "image.png",
        "assertions": [
            {
                "label": "c2pa.actions.v2",
                "data": {
                    "actions": [
                        {"action": "c2pa.created", "digitalSourceType": DIGITAL_SOURCE_TYPE}
                    ]
                },
            }
        ],
    }
    out = io.BytesIO()
    with c2pa.Builder(manifest) as builder:
        builder.sign(signer, "image/png", io.BytesIO(data), out)
    return out.getvalue()


def test_a_result_is_signed_and_lists_every_input_by_hash(owner):
    composition = run(compose(owner))
    result = composition.results.get()
    data = stored(result)
    store = manifest_store(data)
    # Valid: the only complaint is that the development signer is on no trust list.
    assert store["validation_state"] == "Valid"
    assert failures(store) == ["signingCredential.untrusted"]
    manifest = active(store)
    assert manifest["claim_generator_info"][0]["name"] == "bananasite"
    (actions,) = [a for a in manifest["assertions"] if a["label"] == "c2pa.actions.v2"]
    (action,) = actions["data"]["actions"]
    assert action["action"] == "c2pa.created"
    assert action["digitalSourceType"] == DIGITAL_SOURCE_TYPE
    assert action["parameters"]["model"] == composition.provider_model == "local"
    assert action["parameters"]["provider"] == "local"
    inputs = [i.upload for i in composition.inputs.order_by("position")]
    assert [i["metadata"]["sha256"] for i in manifest["ingredients"]] == [u.sha256 for u in inputs]
    assert {i["relationship"] for i in manifest["ingredients"]} == {"inputTo"}
    assert manifest["signature_info"]["issuer"] == credentials.DEV_ORGANIZATION
    # The IPTC packet is inside the signed bytes, and the stored hash is of what was signed.
    assert b"trainedAlgorithmicMedia" in data and result.sha256 == hashlib.sha256(data).hexdigest()
    # What the page and the API show, read back when it was signed.
    assert result.credentials["signed"] is True
    assert result.credentials["state"] == "valid" and result.credentials["trusted"] is False
    assert [i["sha256"] for i in result.credentials["ingredients"]] == [u.sha256 for u in inputs]


def test_a_refinement_lists_the_result_it_refines_with_that_results_credentials(owner):
    parent = run(compose(owner)).results.get()
    refinement = create_refinement(
        source=parent,
        user=owner,
        options=CompositionOptions(prompt="Make it warmer", model="local", image_size="512"),
        new_images=[
            NewImage(name="coffee.png", fileobj=io.BytesIO(sample_bytes("coffee.png")), size=None)
        ],
    )
    result = run(refinement).results.get()
    store = manifest_store(stored(result))
    assert store["validation_state"] == "Valid"
    ingredient, photo = active(store)["ingredients"]
    assert ingredient["metadata"]["sha256"] == parent.sha256
    assert "active_manifest" not in photo  # a photo's metadata is stripped when it is uploaded
    # The earlier result's own manifest came along, and still validates.
    earlier = store["manifests"][ingredient["active_manifest"]]
    assert earlier["claim_generator_info"][0]["name"] == "bananasite"
    assert [
        d["validationDeltas"]["failure"] for d in store["validation_results"]["ingredientDeltas"]
    ] == [[]]
    summary = result.credentials["ingredients"][0]
    assert summary["manifest"] == {
        "issuer": credentials.DEV_ORGANIZATION,
        "claim_generator": "bananasite",
        "state": "valid",
    }


def test_a_variation_lists_the_results_it_varies(owner):
    source = run(compose(owner))
    variation = run(create_variation(source=source, user=owner))
    ingredients = active(manifest_store(stored(variation.results.get())))["ingredients"]
    assert [i["relationship"] for i in ingredients] == ["inputTo", "inputTo", "componentOf"]
    assert ingredients[2]["metadata"]["sha256"] == source.results.get().sha256


@pytest.fixture
def gemini(settings):
    fake = FakeProvider()
    providers = {"gemini": {"api_key": "key", "base_url": fake.url, "max_attempts": 1}}
    settings.BANANASITE_PROVIDERS = providers
    settings.BANANASITE_MODELS = build_models(providers)
    settings.BANANASITE_DEFAULT_MODEL = "nano-banana-2"
    yield fake
    fake.close()


def test_a_provider_signed_result_keeps_its_manifest_as_the_valid_parent(owner, gemini, tmp_path):
    theirs = sign_as_provider(png((10, 200, 120), (96, 64)), tmp_path / "google")
    gemini.script(Reply(200, gemini_ok(theirs)))
    composition = run(compose(owner, model="nano-banana-2", image_size="1K"))
    data = stored(composition.results.get())
    store = manifest_store(data)
    assert store["validation_state"] == "Valid"
    assert failures(store) == ["signingCredential.untrusted"]
    manifest = active(store)
    parent, *inputs = manifest["ingredients"]
    assert parent["relationship"] == "parentOf" and len(inputs) == 2
    provider_manifest = store["manifests"][parent["active_manifest"]]
    assert provider_manifest["claim_generator_info"][0]["name"] == "Google Gemini"
    (delta,) = [
        d
        for d in store["validation_results"]["ingredientDeltas"]
        if d["ingredientAssertionURI"].endswith("/c2pa.ingredient.v3")
    ]
    assert [s["code"] for s in delta["validationDeltas"]["success"]] == [
        "ingredient.manifest.validated"
    ]
    assert delta["validationDeltas"]["failure"] == []
    (action,) = manifest["assertions"][0]["data"]["actions"]
    assert action["action"] == "c2pa.opened"
    assert action["parameters"]["model"] == composition.provider_model
    assert composition.provider_model  # the exact name the provider was asked for
    # Nothing was spliced into the provider's signed bytes: no XMP packet of ours.
    assert b"bananasite:provider" not in data
    assert composition.results.get().credentials["ingredients"][0]["manifest"]["state"] == "valid"


def test_a_result_that_cannot_be_signed_is_stored_unsigned_flagged_and_logged(
    owner, settings, tmp_path, caplog
):
    settings.BANANASITE_C2PA_DEV_DIR = tmp_path / "no-certificate-here"
    with caplog.at_level(logging.ERROR, logger="compositions.pipeline"):
        composition = run(compose(owner))
    result = composition.results.get()
    assert result.credentials["signed"] is False
    assert "No C2PA certificate" in result.credentials["error"]
    assert any("without Content Credentials" in r.getMessage() for r in caplog.records)
    data = stored(result)
    assert credentials.read_credentials(data, "image/png")["state"] == "none"
    assert b"trainedAlgorithmicMedia" in data  # still marked as AI-made, the old way


def test_a_signer_under_a_configured_trust_anchor_is_trusted(owner, settings, c2pa_dev_dir):
    settings.BANANASITE_C2PA_TRUST_ANCHORS = str(c2pa_dev_dir / credentials.DEV_CA)
    result = run(compose(owner)).results.get()
    assert result.credentials["trusted"] is True and result.credentials["state"] == "valid"


def test_the_operators_certificate_signs_when_configured(owner, settings, tmp_path):
    operator = tmp_path / "operator"
    credentials.make_development_certificate(operator)
    settings.BANANASITE_C2PA_CERT_CHAIN = str(operator / credentials.DEV_CHAIN)
    settings.BANANASITE_C2PA_PRIVATE_KEY = str(operator / credentials.DEV_KEY)
    settings.BANANASITE_C2PA_DEV_DIR = tmp_path / "unused"
    assert credentials.signing_key().development is False
    data = stored(run(compose(owner)).results.get())
    chain = (operator / credentials.DEV_CHAIN).read_bytes()
    serial = str(credentials.x509.load_pem_x509_certificates(chain)[0].serial_number)
    assert active(manifest_store(data))["signature_info"]["cert_serial_number"] == serial


def test_thumbnails_go_into_the_manifest_when_enabled(owner, settings):
    settings.BANANASITE_C2PA_THUMBNAILS = True
    manifest = active(manifest_store(stored(run(compose(owner)).results.get())))
    assert manifest["thumbnail"]["format"] == "image/jpeg"
    assert all("thumbnail" in i for i in manifest["ingredients"])


def test_the_development_certificate_command_is_idempotent_and_renews(settings, tmp_path):
    settings.BANANASITE_C2PA_DEV_DIR = tmp_path / "c2pa"
    call_command("make_dev_certificate", stdout=io.StringIO())
    chain = (tmp_path / "c2pa" / credentials.DEV_CHAIN).read_bytes()
    assert ((tmp_path / "c2pa" / credentials.DEV_KEY).stat().st_mode & 0o777) == 0o600
    out = io.StringIO()
    call_command("make_dev_certificate", stdout=out)
    assert "is current" in out.getvalue()
    assert (tmp_path / "c2pa" / credentials.DEV_CHAIN).read_bytes() == chain
    # Within 30 days of its end it is made again.
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=340)
    assert credentials.make_development_certificate(tmp_path / "c2pa", now=later) is True
    assert (tmp_path / "c2pa" / credentials.DEV_CHAIN).read_bytes() != chain
    leaf = credentials.x509.load_pem_x509_certificates(chain)[0]
    usage = leaf.extensions.get_extension_for_class(credentials.x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_cert_sign


def test_the_same_picture_signed_twice_differs_in_bytes_but_not_in_source(
    owner, make_user, monkeypatch
):
    """Signing makes every stored file unique; identical pictures are still found (not charged
    twice, see test_identical_results; removed together by a moderator) by the provider's bytes."""
    monkeypatch.setattr("compositions.pipeline.seed_for", lambda composition: 7)
    first, second = (run(compose(owner)).results.get() for _ in range(2))
    assert first.sha256 != second.sha256
    assert first.source_sha256 == second.source_sha256
    moderator = make_moderator(make_user)
    removed = remove_content(target=first, actor=moderator, reason="Not allowed")
    assert {first.public_id, second.public_id} <= set(removed)


def test_a_key_that_does_not_match_its_certificate_is_a_signing_failure(settings, tmp_path):
    for name in ("a", "b"):
        credentials.make_development_certificate(tmp_path / name)
    settings.BANANASITE_C2PA_CERT_CHAIN = str(tmp_path / "a" / credentials.DEV_CHAIN)
    settings.BANANASITE_C2PA_PRIVATE_KEY = str(tmp_path / "b" / credentials.DEV_KEY)
    with pytest.raises(credentials.SigningFailed, match="signature does not match"):
        credentials.sign_result(
            png(), "image/png", title="t", model="m", provider="p", ingredients=[]
        )
