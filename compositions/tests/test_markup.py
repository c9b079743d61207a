"""Mark-up (issue 15): an input may be a marked-up copy of another; the model gets both
images and a sentence that explains the marks, and the original upload is never changed."""

import base64
import hashlib
import io

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image, ImageDraw
from rest_framework.test import APIClient

from accounts.services import create_api_token
from bananasite.errors import ValidationFailed
from billing.models import LedgerEntry
from compositions.models import Composition, CompositionInput, Upload
from compositions.options import CompositionOptions, NewImage
from compositions.services import create_composition, create_upload
from compositions.tasks import run_composition
from conftest import SAMPLES

from .fakes import Reply, gemini_ok, png
from .test_providers_end_to_end import configure

pytestmark = pytest.mark.django_db


def marked_up(name: str) -> bytes:
    """The sample with a red box and arrow drawn on it, as the composer's editor makes."""
    image = Image.open(SAMPLES / name).convert("RGB")
    draw = ImageDraw.Draw(image)
    draw.rectangle((40, 40, 160, 120), outline=(230, 20, 20), width=6)
    draw.line((200, 200, 120, 100), fill=(230, 20, 20), width=6)
    draw.text((170, 210), "logo here", fill=(230, 20, 20))
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def upload(user, name: str, data: bytes) -> Upload:
    return create_upload(
        workspace=user.current_workspace,
        user=user,
        image=NewImage(name=name, fileobj=io.BytesIO(data), size=len(data)),
    )


def stored_digest(item: Upload) -> str:
    with item.file.open("rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


@pytest.fixture
def fakes():
    servers = {}
    yield servers
    for server in servers.values():
        server.close()


def test_markup_sends_both_images_and_explains_the_marks(owner, settings, fakes):
    configure(settings, fakes, "gemini")
    fakes["gemini"].script(Reply(200, gemini_ok(png((10, 200, 120), (96, 64)))))
    original = upload(owner, "coffee.png", (SAMPLES / "coffee.png").read_bytes())
    before = (stored_digest(original), original.sha256, original.bytes)
    markup = upload(owner, "coffee marked.png", marked_up("coffee.png"))
    composition = create_composition(
        workspace=owner.current_workspace,
        user=owner,
        options=CompositionOptions(
            prompt="Put a small plant where the box is in image 1",
            model="nano-banana-2",
            markup_of=[None, 1],
        ),
        images=[original, markup],
    )
    assert list(composition.inputs.values_list("position", "markup_of")) == [(1, None), (2, 1)]
    assert run_composition(composition.public_id) == "succeeded"

    (request,) = fakes["gemini"].requests
    parts = request["json"]["contents"][0]["parts"]
    sent = [base64.b64decode(p["inlineData"]["data"]) for p in parts if "inlineData" in p]
    assert len(sent) == 2  # the clean original and the marked-up copy
    clean, marks = (Image.open(io.BytesIO(data)).convert("RGB") for data in sent)

    # (JPEG-encoded on the way, so "red" rather than the exact colour)
    def red(pixel):
        return pixel[0] - pixel[1] > 100

    assert not red(clean.getpixel((42, 80))) and red(marks.getpixel((42, 80)))
    prompt = " ".join(p["text"] for p in parts if "text" in p)
    assert prompt.startswith("Put a small plant where the box is in image 1")
    assert "Image 2 is a copy of image 1 with red marks" in prompt
    assert "do not draw them" in prompt
    # The original upload is untouched: the same bytes in storage, the same recorded hash.
    original.refresh_from_db()
    assert (stored_digest(original), original.sha256, original.bytes) == before
    assert stored_digest(original) == hashlib.sha256(original.file.open("rb").read()).hexdigest()


def test_the_local_compositor_leaves_the_marked_up_copy_out(owner):
    coffee = upload(owner, "coffee.png", (SAMPLES / "coffee.png").read_bytes())
    logo = upload(owner, "logo.png", (SAMPLES / "logo.png").read_bytes())
    marks = upload(owner, "coffee marked.png", marked_up("coffee.png"))
    composition = create_composition(
        workspace=owner.current_workspace,
        user=owner,
        options=CompositionOptions(
            prompt="The logo from image 2 on the cup",
            model="local",
            image_size="512",
            preset="logo_placement",
            markup_of=[None, None, 1],
        ),
        images=[coffee, logo, marks],
    )
    assert run_composition(composition.public_id) == "succeeded"
    result = composition.results.get()
    pixels = np.asarray(Image.open(result.file.open("rb")).convert("RGB")).astype(int)
    reds = int(((pixels[..., 0] > 220) & (pixels[..., 1] < 40) & (pixels[..., 2] < 40)).sum())
    assert reds < 20  # no red marks copied into the result


@pytest.mark.parametrize(
    ("markup_of", "code"),
    [
        ([None, 3], "markup_invalid"),  # out of range
        ([None, 2], "markup_invalid"),  # itself
        ([None, 1, 2], "markup_chained"),  # a mark-up of a mark-up
    ],
)
def test_bad_markup_links_are_refused_and_nothing_is_kept(owner, markup_of, code):
    uploads = [upload(owner, f"{n}.png", (SAMPLES / "coffee.png").read_bytes()) for n in range(3)]
    with pytest.raises(ValidationFailed) as caught:
        create_composition(
            workspace=owner.current_workspace,
            user=owner,
            options=CompositionOptions(prompt="x in image 1", model="local", markup_of=markup_of),
            images=uploads[: max(2, len(markup_of))],
        )
    assert caught.value.errors[0][1] == code
    assert not Composition.objects.exists() and not LedgerEntry.objects.filter(kind="reserve")


@pytest.fixture
def api(owner):
    client = APIClient()
    token = create_api_token(user=owner, workspace=owner.current_workspace, name="t")[1]
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_the_api_takes_markup_of_and_shows_it(api, owner):
    ids = [
        api.post(
            "/api/v1/uploads",
            {"file": SimpleUploadedFile(name, data, content_type="image/png")},
            format="multipart",
        ).json()["id"]
        for name, data in (
            ("coffee.png", (SAMPLES / "coffee.png").read_bytes()),
            ("marks.png", marked_up("coffee.png")),
        )
    ]
    body = {
        "prompt": "A plant where the box is",
        "model": "local",
        "inputs": [{"upload": ids[0]}, {"upload": ids[1], "markup_of": 1}],
    }
    answer = api.post("/api/v1/compositions", body, format="json")
    assert answer.status_code == 202, answer.json()
    assert [i["markup_of"] for i in answer.json()["inputs"]] == [None, 1]
    assert CompositionInput.objects.get(position=2).markup_of == 1

    for bad, code in ((3, "markup_invalid"), (2, "markup_invalid")):
        body["inputs"][1]["markup_of"] = bad
        refused = api.post("/api/v1/compositions", body, format="json")
        assert refused.status_code == 400
        assert refused.json()["code"] == code
    body["inputs"][1]["markup_of"] = "one"
    assert api.post("/api/v1/compositions", body, format="json").status_code == 400
    assert Composition.objects.count() == 1


def test_the_composer_form_links_a_markup_and_refuses_a_bad_link(owner, owner_client):
    coffee = upload(owner, "coffee.png", (SAMPLES / "coffee.png").read_bytes())
    marks = upload(owner, "marks.png", marked_up("coffee.png"))
    form = {
        "uploads": [coffee.public_id, marks.public_id],
        "roles": ["", ""],
        "markup_of": ["", "2"],  # itself
        "prompt": "A plant where the box is in image 1",
        "preset": "none",
        "style": "natural",
        "model": "local",
        "aspect_ratio": "1:1",
        "image_size": "512",
        "num_images": "1",
    }
    refused = owner_client.post("/compose/", form)
    assert refused.status_code == 400
    assert "not another image of this composition" in refused.content.decode()
    assert not Composition.objects.exists()
    form["markup_of"] = ["", "1"]
    made = owner_client.post("/compose/", form)
    assert made.status_code == 302
    composition = Composition.objects.get()
    assert list(composition.inputs.values_list("markup_of", flat=True)) == [None, 1]
