"""Checks on the way in: perceptual hashes of removed content, the consent statement, and the
rules that hold a composition for review."""

from datetime import timedelta

import pytest
from django.utils import timezone
from PIL import Image

from api.tests.api_clients import token_client
from compositions.images import perceptual_hash
from compositions.lifecycle import cancel_composition
from compositions.models import Composition, Upload
from compositions.tasks import run_composition
from compositions.tests.factories import compose
from compositions.tests.test_compose_views import post_compose
from conftest import SAMPLES
from moderation.models import BlockedHash, ProviderRefusal
from moderation.policy import distance
from moderation.services import approve_composition, reject_composition

from .helpers import cropped, make_moderator, reencoded

pytestmark = pytest.mark.django_db


def hash_of(data: bytes) -> str:
    import io

    return perceptual_hash(Image.open(io.BytesIO(data)).convert("RGB"))


def block(sample: str) -> BlockedHash:
    img = Image.open(SAMPLES / sample).convert("RGB")
    return BlockedHash.objects.create(phash=perceptual_hash(img), source="res_test")


def test_lookalikes_hash_close_and_different_photos_far():
    original = hash_of((SAMPLES / "chelsea.png").read_bytes())
    assert distance(original, hash_of(reencoded("chelsea.png"))) <= 4
    assert 4 < distance(original, hash_of(cropped("chelsea.png"))) <= 12
    for other in ("coffee.png", "astronaut.png", "rocket.jpg", "brick.png"):
        assert distance(original, hash_of((SAMPLES / other).read_bytes())) > 20


def test_the_blocklist_is_read_once_per_submission_not_per_photo(owner_client, uploaded):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    block("brick.png")
    photos = ["chelsea.png", "coffee.png", "rocket.jpg", "astronaut.png"]
    with CaptureQueriesContext(connection) as queries:
        response = post_compose(owner_client, [uploaded(sample=p) for p in photos])
    assert response.status_code == 302
    reads = [q for q in queries.captured_queries if "moderation_blockedhash" in q["sql"]]
    assert len(reads) == 1


def test_a_copy_of_removed_content_is_refused_in_the_composer(owner_client, uploaded, media_files):
    block("chelsea.png")
    response = post_compose(
        owner_client,
        [uploaded("again.jpg", reencoded("chelsea.png")), uploaded(sample="coffee.png")],
    )
    assert response.status_code == 400
    assert "matches content our moderators removed" in response.content.decode()
    assert not Composition.objects.exists() and not Upload.all_objects.exists()
    assert media_files() == []


def test_a_copy_of_removed_content_is_refused_by_the_api(owner, uploaded, media_files):
    block("chelsea.png")
    api = token_client(owner)
    response = api.post(
        "/api/v1/uploads", {"file": uploaded("again.jpg", reencoded("chelsea.png"))}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "image_blocked"
    assert media_files() == [] and not Upload.all_objects.exists()


def test_a_near_match_is_held_for_review(owner, owner_client, uploaded):
    block("chelsea.png")
    response = post_compose(
        owner_client,
        [uploaded("crop.png", cropped("chelsea.png")), uploaded(sample="coffee.png")],
    )
    composition = Composition.objects.get()
    assert response.status_code == 302
    assert composition.status == "held"
    assert "close to removed content" in composition.held_reason
    held = Upload.objects.get(original_name="crop.png")
    assert held.status == "held" and held.public_id in composition.held_reason
    assert Upload.objects.get(original_name="coffee.png").status == "ready"
    # The person is told it waits for a review, and is not charged for waiting.
    page = owner_client.get(composition.get_absolute_url()).content.decode()
    assert "Held for a short review" in page
    # No worker runs it while it is held.
    assert run_composition(composition.public_id) == "nothing to do"
    composition.refresh_from_db()
    assert composition.status == "held"


def test_api_uploads_say_held_when_near_removed_content(owner, uploaded):
    block("chelsea.png")
    api = token_client(owner)
    response = api.post("/api/v1/uploads", {"file": uploaded("crop.png", cropped("chelsea.png"))})
    assert response.status_code == 201 and response.json()["status"] == "held"
    other = api.post("/api/v1/uploads", {"file": uploaded(sample="coffee.png")}).json()
    body = {
        "prompt": "The cat beside the cup",
        "model": "local",
        "image_size": "512",
        "inputs": [{"upload": response.json()["id"]}, {"upload": other["id"]}],
    }
    created = api.post("/api/v1/compositions", body, format="json")
    assert created.status_code == 202 and created.json()["status"] == "held"


PEOPLE = {"preset": "face_swap", "prompt": ""}


def test_people_presets_need_the_consent_statement_in_the_browser(
    owner_client, uploaded, media_files
):
    images = [uploaded(sample="astronaut.png"), uploaded(sample="chelsea.png")]
    response = post_compose(owner_client, images, **PEOPLE)
    assert response.status_code == 400
    assert "consent of the people in them" in response.content.decode()
    assert not Composition.objects.exists() and media_files() == []

    images = [uploaded(sample="astronaut.png"), uploaded(sample="chelsea.png")]
    response = post_compose(owner_client, images, consent="on", **PEOPLE)
    composition = Composition.objects.get()
    assert response.status_code == 302
    assert composition.consent and composition.status == "queued"


def test_other_presets_do_not_ask_for_consent(owner_client, uploaded):
    images = [uploaded(sample="rocket.jpg"), uploaded(sample="coffee.png")]
    response = post_compose(owner_client, images, preset="product_in_scene", prompt="")
    assert response.status_code == 302
    assert Composition.objects.get().status == "queued"


def test_api_people_preset_without_consent_is_held_not_refused(owner, uploaded):
    api = token_client(owner)
    ids = [
        api.post("/api/v1/uploads", {"file": uploaded(sample=s)}).json()["id"]
        for s in ("astronaut.png", "chelsea.png")
    ]
    body = {"preset": "face_swap", "model": "local", "inputs": [{"upload": i} for i in ids]}
    held = api.post("/api/v1/compositions", body, format="json").json()
    assert held["status"] == "held" and held["consent"] is False
    assert "consent" in Composition.objects.get(public_id=held["id"]).held_reason
    ok = api.post("/api/v1/compositions", {**body, "consent": True}, format="json").json()
    assert ok["status"] == "queued" and ok["consent"] is True


def test_a_new_accounts_first_compositions_are_held(settings, owner, make_user):
    settings.BANANASITE_HOLD_FIRST_COMPOSITIONS = 2
    first, second = compose(owner), compose(owner)
    assert [first.status, second.status] == ["held", "held"]
    assert "New account: composition 1 of the first 2" in first.held_reason
    # Held compositions reserve their credits; they are released if a moderator rejects.
    assert first.credits_reserved > 0 and first.enqueued_at is None
    # Waiting for review does not count towards the first two; approval does.
    assert compose(owner).status == "held"
    moderator = make_moderator(make_user)
    for held in (first, second):
        approve_composition(composition=held, actor=moderator)
    assert compose(owner).status == "queued"


def test_only_compositions_that_ran_or_were_approved_end_the_new_account_hold(
    settings, owner, make_user
):
    settings.BANANASITE_HOLD_FIRST_COMPOSITIONS = 3
    moderator = make_moderator(make_user)
    # Three throwaways, held and canceled at once: they must not unlock the fourth.
    for _ in range(3):
        cancel_composition(composition=compose(owner))
    first = compose(owner)
    assert first.status == "held"
    assert "New account: composition 1 of the first 3" in first.held_reason
    # Approved and run to the end: counts.
    approve_composition(composition=first, actor=moderator)
    assert run_composition(first.public_id) == "succeeded"
    second = compose(owner)
    assert "composition 2 of the first 3" in second.held_reason
    # Rejected by a moderator: never ran, does not count.
    reject_composition(composition=second, actor=moderator, reason="Not this one.")
    third = compose(owner)
    assert "composition 2 of the first 3" in third.held_reason
    # Approved and still waiting in the queue: counts.
    approve_composition(composition=third, actor=moderator)
    fourth = compose(owner)
    assert "composition 3 of the first 3" in fourth.held_reason
    approve_composition(composition=fourth, actor=moderator)
    assert compose(owner).status == "queued"


def test_flagged_prompt_terms_hold_after_normalisation(settings, owner):
    settings.BANANASITE_FLAGGED_TERMS = ["red carpet"]
    held = compose(owner, prompt="The cat on a RED\u200b-carpet with the cup")
    assert held.status == "held" and "red carpet" in held.held_reason
    assert compose(owner, prompt="A red cat on a blue carpet").status == "queued"


def test_provider_refusals_are_counted_and_hold_new_work(settings, owner, monkeypatch):
    from compositions import pipeline
    from compositions.providers.base import ProviderSafetyBlock

    class Refuses:
        def compose(self, request, progress=None):
            raise ProviderSafetyBlock()

    monkeypatch.setattr(pipeline, "get_provider", lambda name: Refuses())
    settings.BANANASITE_HOLD_AFTER_REFUSALS = 2
    for _ in range(2):
        composition = compose(owner)
        assert run_composition(composition.public_id) == "provider_safety_block"
        composition.refresh_from_db()
        composition.delete()  # deleting the evidence does not reset the count
    assert ProviderRefusal.objects.filter(user=owner).count() == 2
    held = compose(owner)
    assert held.status == "held" and "2 provider refusals" in held.held_reason

    # Outside the window they no longer count.
    ProviderRefusal.objects.update(created_at=timezone.now() - timedelta(hours=25))
    assert compose(owner).status == "queued"


def test_other_failures_are_not_counted_as_refusals(owner, monkeypatch):
    from compositions import pipeline
    from compositions.providers.base import ProviderNoImage

    class NoImage:
        def compose(self, request, progress=None):
            raise ProviderNoImage()

    monkeypatch.setattr(pipeline, "get_provider", lambda name: NoImage())
    composition = compose(owner)
    assert run_composition(composition.public_id) == "provider_no_image"
    assert not ProviderRefusal.objects.exists()


def test_uploads_and_results_store_their_perceptual_hash(owner):
    composition = compose(owner)
    run_composition(composition.public_id)
    composition.refresh_from_db()
    upload = composition.inputs.first().upload
    assert upload.phash == hash_of((SAMPLES / "chelsea.png").read_bytes())
    result = composition.results.get()
    with result.file.open("rb") as fh:
        assert result.phash == hash_of(fh.read())
