"""`POST /v1/images/edits` driven by the official `openai` client, through the Django test
client wrapped as an httpx transport. Transactional tests: the composition's task runs inline
when its transaction commits (BANANASITE_TASKS_SYNC), so it has ended when the view waits."""

import base64
import io

import httpx
import openai
import pytest
from django.test import Client
from PIL import Image

from accounts.services import create_api_token
from billing.models import Wallet
from billing.services import adjust_credits
from compositions.models import Composition
from compositions.tests.fakes import Reply, gemini_ok, png
from compositions.tests.test_providers_end_to_end import configure
from conftest import sample_bytes

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

TWO = [("chelsea.png", sample_bytes("chelsea.png")), ("logo.png", sample_bytes("logo.png"))]


class DjangoTransport(httpx.BaseTransport):
    """Hands each httpx request to Django's test client and its answer back, unchanged."""

    def __init__(self):
        self.client = Client()
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        body = request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() != "content-type"}
        response = self.client.generic(
            request.method,
            request.url.raw_path.decode(),
            data=body,
            content_type=request.headers.get("content-type", ""),
            headers=headers,
        )
        return httpx.Response(
            response.status_code, headers=dict(response.items()), content=response.content
        )


@pytest.fixture
def transport():
    return DjangoTransport()


def client_for(user, transport, **token_args) -> openai.OpenAI:
    raw = create_api_token(workspace=user.current_workspace, user=user, name="oa", **token_args)[1]
    return openai.OpenAI(
        base_url="http://testserver/v1",
        api_key=raw,
        http_client=httpx.Client(transport=transport),
        max_retries=0,
    )


@pytest.fixture
def oa(owner, transport):
    return client_for(owner, transport)


def test_b64_json_answer_is_the_composition_result(oa, owner, transport):
    answer = oa.images.edit(image=TWO, prompt="the cat beside the logo", size="1536x1024", n=2)
    # The client sends a list as repeated `image[]` parts.
    assert transport.requests[0].content.count(b'name="image[]"') == 2
    assert len(answer.data) == 2
    composition = Composition.objects.get(workspace=owner.current_workspace)
    assert composition.status == Composition.Status.SUCCEEDED
    assert (composition.aspect_ratio, composition.image_size, composition.num_images) == (
        "3:2",
        "1K",
        2,
    )
    assert answer.model_extra["composition"] == composition.public_id
    assert answer.created == int(composition.created_at.timestamp())
    first = composition.results.get(position=1)
    with first.file.open("rb") as fh:
        assert base64.b64decode(answer.data[0].b64_json) == fh.read()
    assert Image.open(io.BytesIO(base64.b64decode(answer.data[1].b64_json))).width > 0


def test_url_answer_is_a_result_url_the_token_can_fetch(oa, owner, transport):
    answer = oa.images.edit(image=TWO, prompt="combine them", response_format="url")
    url = answer.data[0].url
    result = Composition.objects.get().results.get()
    assert url == f"http://testserver/api/v1/results/{result.public_id}/file"
    token = transport.requests[0].headers["authorization"]
    fetched = transport.client.get(url, headers={"Authorization": token})
    assert fetched.status_code == 200
    with result.file.open("rb") as fh:
        assert b"".join(fetched.streaming_content) == fh.read()


def test_one_image_sent_as_repeated_image_fields_is_accepted(owner, transport):
    raw = create_api_token(workspace=owner.current_workspace, user=owner, name="r")[1]
    response = httpx.Client(transport=transport).post(
        "http://testserver/v1/images/edits",
        headers={"Authorization": f"Bearer {raw}"},
        data={"prompt": "combine them"},
        files=[("image", f) for f in TWO],
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["data"]) == 1


def test_too_few_images_is_a_bad_request_naming_the_param(oa):
    with pytest.raises(openai.BadRequestError) as caught:
        oa.images.edit(image=TWO[:1], prompt="combine them")
    error = caught.value.body
    assert caught.value.status_code == 400
    assert (error["type"], error["code"], error["param"]) == (
        "invalid_request_error",
        "too_few_images",
        "image",
    )
    assert not Composition.objects.exists()


def test_a_text_file_is_a_bad_request_and_creates_nothing(oa, media_files):
    with pytest.raises(openai.BadRequestError) as caught:
        oa.images.edit(image=[TWO[0], ("notes.txt", b"not a picture at all")], prompt="x y")
    assert caught.value.body["code"] == "unsupported_image_type"
    assert caught.value.body["param"] == "image"
    assert not Composition.objects.exists()
    assert media_files() == []


def test_a_blocked_prompt_is_moderation_blocked(oa, settings):
    settings.BANANASITE_BLOCKED_TERMS = ["forbidden thing"]
    with pytest.raises(openai.BadRequestError) as caught:
        oa.images.edit(image=TWO, prompt="make a forbidden thing")
    assert caught.value.body["code"] == "moderation_blocked"
    assert caught.value.body["type"] == "image_generation_user_error"
    assert not Composition.objects.exists()


def test_a_provider_refusal_is_moderation_blocked_and_charges_nothing(oa, owner, settings):
    fakes: dict = {}
    configure(settings, fakes, "gemini")
    try:
        fakes["gemini"].script(Reply(200, {"promptFeedback": {"blockReason": "SAFETY"}}))
        balance = Wallet.objects.get(workspace=owner.current_workspace).balance
        with pytest.raises(openai.BadRequestError) as caught:
            oa.images.edit(image=TWO, prompt="combine them", model="nano-banana-2")
    finally:
        fakes["gemini"].close()
    composition = Composition.objects.get()
    assert composition.error_code == "provider_safety_block"
    assert caught.value.body["code"] == "moderation_blocked"
    assert caught.value.body["composition"] == composition.public_id
    assert Wallet.objects.get(workspace=owner.current_workspace).balance == balance


def test_our_model_ids_run_and_openai_names_take_the_default(oa, settings):
    fakes: dict = {}
    configure(settings, fakes, "gemini")
    try:
        fakes["gemini"].script(Reply(200, gemini_ok(png())))
        oa.images.edit(image=TWO, prompt="combine them", model="gpt-image-1")
        oa.images.edit(image=TWO, prompt="combine them", model="nano-banana-pro", size="2048x2048")
    finally:
        fakes["gemini"].close()
    first, second = Composition.objects.order_by("created_at", "id")
    assert first.model == settings.BANANASITE_DEFAULT_MODEL
    assert (second.model, second.image_size) == ("nano-banana-pro", "2K")


def test_an_unknown_model_or_shape_is_refused(oa):
    with pytest.raises(openai.BadRequestError) as caught:
        oa.images.edit(image=TWO, prompt="combine them", model="no-such-model")
    assert (caught.value.body["code"], caught.value.body["param"]) == ("model_not_found", "model")
    with pytest.raises(openai.BadRequestError) as caught:
        oa.images.edit(image=TWO, prompt="combine them", size="1000x100")
    assert caught.value.body["param"] == "size"
    with pytest.raises(openai.BadRequestError) as caught:
        oa.images.edit(image=TWO, prompt="combine them", n=5)
    assert caught.value.body["param"] == "n"
    assert not Composition.objects.exists()


def test_insufficient_credits_is_insufficient_quota_and_not_retried(oa, owner, transport):
    wallet = Wallet.objects.get(workspace=owner.current_workspace)
    adjust_credits(wallet=wallet, amount=-wallet.balance, reason="test")
    retrying = openai.OpenAI(
        base_url=str(oa.base_url), api_key=oa.api_key, http_client=oa._client, max_retries=2
    )
    with pytest.raises(openai.RateLimitError) as caught:
        retrying.images.edit(image=TWO, prompt="combine them")
    assert caught.value.status_code == 429
    assert caught.value.body["code"] == "insufficient_quota"
    assert caught.value.body["type"] == "insufficient_quota"
    assert len(transport.requests) == 1  # x-should-retry: false
    assert not Composition.objects.exists()


def test_a_bad_token_and_a_missing_scope_are_refused(owner, transport):
    bad = openai.OpenAI(
        base_url="http://testserver/v1",
        api_key="bns_nope",
        http_client=httpx.Client(transport=transport),
        max_retries=0,
    )
    with pytest.raises(openai.AuthenticationError) as caught:
        bad.images.edit(image=TWO, prompt="combine them")
    assert caught.value.body["code"] == "invalid_api_key"
    reader = client_for(owner, transport, scopes=["compositions:read"])
    with pytest.raises(openai.PermissionDeniedError):
        reader.images.edit(image=TWO, prompt="combine them")
    assert not Composition.objects.exists()


def test_a_timeout_names_the_composition_which_keeps_running(oa, owner, settings):
    settings.BANANASITE_TASKS_SYNC = False  # no worker runs it: it stays queued
    settings.BANANASITE_OPENAI_WAIT_SECONDS = 0
    key = {"Idempotency-Key": "edit-1"}
    with pytest.raises(openai.InternalServerError) as caught:
        oa.images.edit(image=TWO, prompt="combine them", extra_headers=key)
    composition = Composition.objects.get()
    assert caught.value.status_code == 504
    assert caught.value.body["code"] == "composition_timeout"
    assert caught.value.body["composition"] == composition.public_id
    assert composition.public_id in caught.value.body["message"]
    assert composition.status == Composition.Status.QUEUED
    # The same request with the same key waits for the same composition; it ends meanwhile.
    from compositions.tasks import run_composition

    settings.BANANASITE_TASKS_SYNC = True
    run_composition(composition.public_id)
    raw = oa.images.with_raw_response.edit(image=TWO, prompt="combine them", extra_headers=key)
    assert raw.headers["Idempotent-Replayed"] == "true"
    assert raw.parse().model_extra["composition"] == composition.public_id
    assert Composition.objects.count() == 1


def test_a_stranger_cannot_wait_on_another_workspaces_key(oa, stranger, transport):
    key = {"Idempotency-Key": "shared-key"}
    mine = oa.images.edit(image=TWO, prompt="combine them", extra_headers=key)
    other = client_for(stranger, transport)
    theirs = other.images.edit(image=TWO, prompt="combine them", extra_headers=key)
    # Keys are per workspace: the stranger gets a composition of their own, never mine.
    assert theirs.model_extra["composition"] != mine.model_extra["composition"]
    assert (
        Composition.objects.get(workspace=stranger.current_workspace).public_id
        == theirs.model_extra["composition"]
    )


def test_the_readme_openai_example_runs(live_server, owner, tmp_path):
    """The README's `openai` block against a live server (the task runs inline on commit)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from django.conf import settings

    from compositions.tests.test_readme_examples import example

    (tmp_path / "samples").symlink_to(Path(settings.BASE_DIR) / "samples")
    raw = create_api_token(workspace=owner.current_workspace, user=owner, name="readme")[1]
    env = {**os.environ, "BANANASITE_URL": live_server.url, "BANANASITE_TOKEN": raw}
    done = subprocess.run(
        [sys.executable, "-c", example("openai")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    composition = Composition.objects.get()
    assert done.stdout.strip() == composition.public_id
    assert composition.status == "succeeded" and composition.aspect_ratio == "3:2"
    assert (tmp_path / "result.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_workspace_waits_on_only_a_few_edits_at_once_and_a_refusal_creates_nothing(
    oa, owner, settings
):
    from django.core.cache import cache

    settings.BANANASITE_OPENAI_WAITS_PER_WORKSPACE = 1
    slot = f"openai-waits:{owner.current_workspace.pk}"
    cache.set(slot, 1)  # another request of this workspace is waiting
    with pytest.raises(openai.RateLimitError) as caught:
        oa.images.edit(image=TWO, prompt="the cat from image 1 next to the cup from image 2")
    assert caught.value.body["code"] == "rate_limit_exceeded"
    assert not Composition.objects.exists()
    assert cache.get(slot) == 1  # the refused request gave its count back
    cache.set(slot, 0)
    oa.images.edit(image=TWO, prompt="the cat from image 1 next to the cup from image 2")
    assert Composition.objects.count() == 1
    assert cache.get(slot) == 0  # released once it answered


def test_a_shut_down_model_is_refused_naming_its_successor(oa):
    with pytest.raises(openai.BadRequestError) as caught:
        oa.images.edit(image=TWO, prompt="combine", model="gemini-3-pro-image-preview")
    error = caught.value.body
    assert (error["code"], error["param"]) == ("model_shut_down", "model")
    assert "nano-banana-pro" in error["message"]
    assert not Composition.objects.exists()


@pytest.mark.parametrize("size", ["²x1", "0x512", "1024x", "9999999x1"])
def test_a_malformed_size_is_a_bad_request(oa, size):
    with pytest.raises(openai.BadRequestError) as caught:
        oa.images.edit(image=TWO, prompt="combine", size=size)
    assert caught.value.body["param"] == "size"


def test_a_wait_count_that_expired_meanwhile_does_not_break_the_answer(oa, owner):
    from django.core.cache import cache

    slot = f"openai-waits:{owner.current_workspace.pk}"
    original = cache.decr

    def expired_then_decr(key, delta=1):
        cache.delete(key)  # the key's lifetime ran out during the wait
        return original(key, delta)

    import unittest.mock

    with unittest.mock.patch.object(cache, "decr", expired_then_decr):
        response = oa.images.edit(image=TWO, prompt="the cat from image 1 and the cup from image 2")
    assert response.data and cache.get(slot) is None
