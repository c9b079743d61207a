"""The batch tier: `"priority": "batch"` through the Gemini API's Batch Mode, against a fake that
speaks the batch endpoints, submitted by the worker and ended by the scheduled poll."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from api.tests.api_clients import token_client
from bananasite.model_catalog import build_models
from billing.models import LedgerEntry, Wallet
from compositions.models import Composition
from compositions.tasks import poll_batches, run_composition, sweep_compositions
from webhooks.models import WebhookDelivery

from .fakes import FakeGeminiBatch

pytestmark = pytest.mark.django_db


@pytest.fixture
def batch_fake(settings):
    fake = FakeGeminiBatch()
    providers = {"gemini": {"api_key": "key-gemini", "base_url": fake.url, "max_attempts": 1}}
    settings.BANANASITE_PROVIDERS = providers
    settings.BANANASITE_MODELS = build_models(providers)
    settings.BANANASITE_DEFAULT_MODEL = "nano-banana-2"
    yield fake
    fake.close()


@pytest.fixture
def api(owner):
    return token_client(owner)


def upload(api, name):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from conftest import sample_bytes

    response = api.post(
        "/api/v1/uploads",
        {"file": SimpleUploadedFile(name, sample_bytes(name))},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    return response.json()["id"]


def submit(api, prompt="the cat beside the logo", **fields):
    inputs = [{"upload": upload(api, "chelsea.png")}, {"upload": upload(api, "logo.png")}]
    body = {"prompt": prompt, "inputs": inputs, "priority": "batch", **fields}
    return api.post("/api/v1/compositions", body, format="json")


def balance(owner):
    return Wallet.objects.get(workspace=owner.current_workspace).balance


def test_a_batch_composition_runs_end_to_end_at_half_price(api, owner, batch_fake, settings):
    settings.BANANASITE_FETCH_ALLOW_NETWORKS = ["127.0.0.1/32"]
    hook = api.post(
        "/api/v1/webhooks",
        {"url": "http://127.0.0.1:9/hook", "events": ["composition.succeeded"]},
        format="json",
    )
    assert hook.status_code == 201, hook.content
    before = balance(owner)
    response = submit(api, num_images=2)
    assert response.status_code == 202, response.content
    body = response.json()
    composition = Composition.objects.get(public_id=body["id"])
    assert composition.priority == "batch"
    # nano-banana-2 at 1K is 6 credits an image; the batch tier holds half of that.
    assert composition.credits_reserved == 2 * 3
    assert balance(owner) == before - 6

    assert run_composition(composition.public_id) == "batched"
    composition.refresh_from_db()
    assert composition.status == "batched"
    assert composition.lease_expires_at is None
    assert composition.provider_request_id == "batches/1"
    [create] = batch_fake.requests
    assert create["path"] == "/v1beta/models/gemini-3.1-flash-image:batchGenerateContent"
    requests = create["json"]["batch"]["inputConfig"]["requests"]["requests"]
    assert [r["metadata"]["key"] for r in requests] == [
        f"{composition.public_id}-1",
        f"{composition.public_id}-2",
    ]
    assert len(requests[0]["request"]["contents"][0]["parts"]) == 3  # the prompt and 2 photos
    assert api.get(f"/api/v1/compositions/{composition.public_id}").json()["status"] == "batched"

    # Hours later the lease sweep leaves it alone: no worker holds it.
    with time_machine.travel(timezone.now() + timedelta(hours=3)):
        assert sweep_compositions() == {"requeued": 0, "failed": 0, "enqueued_again": 0}
        assert poll_batches() == {"waiting": 1, "succeeded": 0, "failed": 0}  # RUNNING
        assert poll_batches() == {"waiting": 0, "succeeded": 1, "failed": 0}
    composition.refresh_from_db()
    assert composition.status == "succeeded"
    assert composition.results.count() == 2
    assert composition.credits_charged == 6
    assert balance(owner) == before - 6
    assert composition.usage["batch"] is True
    [delivery] = WebhookDelivery.objects.all()
    assert delivery.event == "composition.succeeded"
    assert delivery.payload["data"]["id"] == composition.public_id
    # Polling again finds nothing to do.
    assert poll_batches() == {"waiting": 0, "succeeded": 0, "failed": 0}


def test_the_estimate_shows_the_batch_price(api, batch_fake):
    inputs = [{"upload": upload(api, "chelsea.png")}, {"upload": upload(api, "logo.png")}]
    body = {"prompt": "combine", "inputs": inputs, "num_images": 2}
    standard = api.post("/api/v1/estimate", body, format="json").json()
    batch = api.post("/api/v1/estimate", {**body, "priority": "batch"}, format="json").json()
    assert (standard["credits"], batch["credits"]) == (12, 6)


def test_the_batch_discount_is_catalogue_data_rounded_up_per_image(api, batch_fake, settings):
    for model in settings.BANANASITE_MODELS:
        if model["id"] == "nano-banana-2":
            model["batch_discount"] = "0.6"
    response = submit(api)
    assert Composition.objects.get(public_id=response.json()["id"]).credits_reserved == 4  # ⌈3.6⌉


def test_a_model_without_a_batch_tier_refuses_batch_and_charges_nothing(api, owner):
    before = balance(owner)
    response = submit(api, model="local")
    assert response.status_code == 400
    assert response.json()["code"] == "batch_unavailable"
    assert response.json()["errors"][0]["field"] == "priority"
    assert not Composition.objects.exists()
    assert balance(owner) == before


def test_a_refusal_in_the_batch_fails_it_and_releases_the_credits(api, owner, batch_fake):
    before = balance(owner)
    composition_id = submit(api, prompt="please refuse this").json()["id"]
    run_composition(composition_id)
    batch_fake.polls_to_finish = 1
    assert poll_batches() == {"waiting": 0, "succeeded": 0, "failed": 1}
    composition = Composition.objects.get(public_id=composition_id)
    assert (composition.status, composition.error_code) == ("failed", "provider_safety_block")
    assert composition.credits_charged == 0
    assert balance(owner) == before


def test_a_batch_the_provider_fails_ends_failed(api, owner, batch_fake):
    before = balance(owner)
    composition_id = submit(api).json()["id"]
    run_composition(composition_id)
    batch_fake.end_state = "BATCH_STATE_FAILED"
    batch_fake.polls_to_finish = 1
    assert poll_batches()["failed"] == 1
    composition = Composition.objects.get(public_id=composition_id)
    assert (composition.status, composition.error_code) == ("failed", "provider_error")
    assert balance(owner) == before


def test_a_batch_still_waiting_after_a_day_expires_and_is_canceled(api, owner, batch_fake):
    before = balance(owner)
    composition_id = submit(api).json()["id"]
    run_composition(composition_id)
    batch_fake.polls_to_finish = 10**6
    with time_machine.travel(timezone.now() + timedelta(hours=23)):
        assert poll_batches()["waiting"] == 1
    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        assert poll_batches()["failed"] == 1
    composition = Composition.objects.get(public_id=composition_id)
    assert (composition.status, composition.error_code) == ("failed", "batch_expired")
    assert "24 hours" in composition.error_message
    assert batch_fake.batches["batches/1"]["state"] == "BATCH_STATE_CANCELLED"
    assert balance(owner) == before
    release = LedgerEntry.objects.filter(composition_ref=composition_id, kind="release").get()
    assert release.amount == composition.credits_reserved


def test_an_unreachable_provider_is_asked_again_next_minute(api, batch_fake, settings):
    composition_id = submit(api).json()["id"]
    run_composition(composition_id)
    settings.BANANASITE_PROVIDERS = {
        "gemini": {**settings.BANANASITE_PROVIDERS["gemini"], "base_url": "http://127.0.0.1:9"}
    }
    assert poll_batches() == {"waiting": 1, "succeeded": 0, "failed": 0}
    assert Composition.objects.get(public_id=composition_id).status == "batched"


def test_a_busy_provider_is_asked_again_next_minute(api, batch_fake):
    composition_id = submit(api).json()["id"]
    run_composition(composition_id)
    batch_fake.busy = 1  # 429 RESOURCE_EXHAUSTED: busy, not a failure of the batch
    assert poll_batches() == {"waiting": 1, "succeeded": 0, "failed": 0}
    assert Composition.objects.get(public_id=composition_id).status == "batched"
    batch_fake.polls_to_finish = 1
    assert poll_batches()["succeeded"] == 1


def test_the_flat_snake_case_result_shape_is_read_too(api, batch_fake):
    batch_fake.nesting = "flat"
    batch_fake.polls_to_finish = 1
    composition_id = submit(api).json()["id"]
    run_composition(composition_id)
    assert poll_batches()["succeeded"] == 1
    assert Composition.objects.get(public_id=composition_id).results.count() == 1


def test_a_canceled_batch_composition_is_not_stored_and_its_job_is_canceled(
    api, owner, batch_fake, django_capture_on_commit_callbacks
):
    before = balance(owner)
    composition_id = submit(api).json()["id"]
    run_composition(composition_id)
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post(f"/api/v1/compositions/{composition_id}/cancel").status_code == 200
    assert batch_fake.batches["batches/1"]["state"] == "BATCH_STATE_CANCELLED"
    batch_fake.polls_to_finish = 1
    assert poll_batches() == {"waiting": 0, "succeeded": 0, "failed": 0}
    composition = Composition.objects.get(public_id=composition_id)
    assert composition.status == "canceled" and not composition.results.exists()
    assert balance(owner) == before


def test_a_submitted_batch_frees_its_slot_for_the_next_composition(
    api, batch_fake, django_capture_on_commit_callbacks
):
    first = submit(api).json()["id"]
    second = submit(api, prompt="the logo on the cat").json()["id"]
    with django_capture_on_commit_callbacks(execute=True):
        assert run_composition(first) == "batched"
    # The second's own task never ran (its enqueue was not committed here), as when the plan's
    # slots were full: the first, once batched, starts the workspace's next one.
    statuses = dict(Composition.objects.values_list("public_id", "status"))
    assert statuses == {first: "batched", second: "batched"}
    assert sorted(batch_fake.batches) == ["batches/1", "batches/2"]


def test_the_batch_poll_is_scheduled_every_minute():
    from django_q.models import Schedule

    schedule = Schedule.objects.get(func="compositions.tasks.poll_batches")
    assert schedule.schedule_type == Schedule.MINUTES and schedule.minutes == 1


def test_an_unreadable_answer_is_asked_again_then_expires_with_credits_back(
    api, owner, batch_fake, monkeypatch
):
    from compositions.providers.gemini import GeminiProvider

    before = balance(owner)
    composition_id = submit(api).json()["id"]
    run_composition(composition_id)

    def unreadable(self, batch, *, model):
        raise TypeError("an answer shape nobody expected")

    monkeypatch.setattr(GeminiProvider, "poll_batch", unreadable)
    assert poll_batches()["waiting"] == 1  # logged; the next minute asks again
    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        assert poll_batches()["failed"] == 1
    composition = Composition.objects.get(public_id=composition_id)
    assert (composition.status, composition.error_code) == ("failed", "batch_expired")
    assert balance(owner) == before


def test_the_buttons_on_a_batch_composition_cost_what_its_hold_would(api, owner, batch_fake):
    from django.test import Client

    response = submit(api, num_images=2)
    assert response.status_code == 202, response.content
    composition = Composition.objects.get(public_id=response.json()["id"])
    browser = Client()
    browser.force_login(owner)
    page = browser.get(f"/c/{composition.public_id}/")
    assert page.status_code == 200
    # Variations keep the batch tier (2 images × 3 credits); Use as input is one standard image.
    assert page.context["variation_cost"] == composition.credits_reserved == 6
    assert page.context["use_cost"] == 6
