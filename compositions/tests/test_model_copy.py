"""The copy of an upload a remote model is sent, made while the upload was decoded: a
composition sends it without decoding the photo again, and it goes wherever the upload goes."""

import base64
import io

import pytest
from django.core.files.storage import default_storage
from PIL import Image

from bananasite.model_catalog import build_models
from compositions import pipeline
from compositions.images import MODEL_EDGE
from compositions.models import Composition, Upload
from compositions.options import CompositionOptions, NewImage
from compositions.services import create_composition, create_upload, delete_upload
from compositions.tasks import run_composition
from conftest import image_bytes, sample_bytes

from .fakes import FakeProvider, Reply, gemini_ok, png

pytestmark = pytest.mark.django_db


@pytest.fixture
def gemini(settings):
    fake = FakeProvider()
    providers = {"gemini": {"api_key": "key", "base_url": fake.url, "max_attempts": 1}}
    settings.BANANASITE_PROVIDERS = providers
    settings.BANANASITE_MODELS = build_models(providers)
    settings.BANANASITE_DEFAULT_MODEL = settings.BANANASITE_MODELS[0]["id"]
    yield fake
    fake.close()


def upload(owner, data: bytes, name: str = "photo.jpg") -> Upload:
    return create_upload(
        workspace=owner.current_workspace,
        user=owner,
        image=NewImage(name=name, fileobj=io.BytesIO(data), size=len(data)),
    )


def compose(owner, items: list[Upload], model: str) -> Composition:
    return create_composition(
        workspace=owner.current_workspace,
        user=owner,
        options=CompositionOptions(prompt="Image 1 and image 2 side by side", model=model),
        images=list(items),
    )


def big_jpeg() -> bytes:
    img = Image.open(io.BytesIO(sample_bytes("coffee.png"))).convert("RGB").resize((3000, 2000))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=92)
    return buf.getvalue()


def opened(name: str) -> Image.Image:
    with default_storage.open(name, "rb") as fh:
        img = Image.open(io.BytesIO(fh.read()))
        img.load()
    return img


def test_an_upload_keeps_a_model_sized_copy_when_a_remote_provider_may_get_it(owner, gemini):
    item = upload(owner, big_jpeg())
    assert item.model_copy_edge == MODEL_EDGE
    copy = opened(item.model_copy.name)
    assert (copy.format, copy.mode, copy.size) == ("JPEG", "RGB", (MODEL_EDGE, 1024))
    assert not copy.info.get("exif") and not copy.info.get("icc_profile")
    original = opened(item.file.name)
    assert original.size == (3000, 2000)  # the stored photo itself is untouched


def test_a_transparent_photo_s_copy_is_flattened_onto_white(owner, gemini):
    item = upload(
        owner, image_bytes("PNG", size=(40, 30), color=(0, 0, 0, 0), mode="RGBA"), "l.png"
    )
    copy = opened(item.model_copy.name)
    assert copy.mode == "RGB" and copy.size == (40, 30)  # never enlarged
    assert min(copy.getpixel((20, 15))) > 240


def test_without_a_remote_provider_no_copy_is_made(owner):
    item = upload(owner, big_jpeg())
    assert item.model_copy.name in ("", None) and item.model_copy_edge is None


def test_a_remote_composition_sends_the_copy_without_decoding_the_photo(
    owner, gemini, settings, monkeypatch
):
    gemini.script(Reply(body=gemini_ok(png((10, 200, 120), (96, 64)))))
    items = [upload(owner, big_jpeg()), upload(owner, image_bytes("PNG", size=(64, 48)), "b.png")]
    copies = []
    for item in items:
        with default_storage.open(item.model_copy.name, "rb") as fh:
            copies.append(fh.read())

    def no_decoding(*args, **kwargs):
        raise AssertionError("the photo was decoded again")

    monkeypatch.setattr(pipeline, "prepare_image", no_decoding)
    composition = compose(owner, items, settings.BANANASITE_DEFAULT_MODEL)
    assert run_composition(composition.public_id) == Composition.Status.SUCCEEDED
    parts = gemini.requests[-1]["json"]["contents"][0]["parts"]
    sent = [base64.b64decode(p["inlineData"]["data"]) for p in parts if "inlineData" in p]
    assert sent == copies


def test_a_copy_made_for_another_edge_or_lost_is_prepared_again(owner, gemini, settings):
    item = upload(owner, big_jpeg())
    composition = compose(owner, [item, upload(owner, image_bytes())], "local")
    Upload.objects.filter(pk=item.pk).update(model_copy_edge=1024)  # made for another edge
    image = pipeline.prepare_inputs(composition, remote=True)[0]
    assert Image.open(io.BytesIO(image.data)).size == (MODEL_EDGE, 1024)
    with default_storage.open(item.model_copy.name, "rb") as fh:
        assert image.data != fh.read()

    Upload.objects.filter(pk=item.pk).update(model_copy_edge=MODEL_EDGE)
    default_storage.delete(item.model_copy.name)  # lost
    image = pipeline.prepare_inputs(composition, remote=True)[0]
    assert Image.open(io.BytesIO(image.data)).size == (MODEL_EDGE, 1024)


def test_the_local_compositor_reads_the_photo_not_the_copy(owner, gemini):
    items = [upload(owner, big_jpeg()), upload(owner, image_bytes())]
    image = pipeline.prepare_inputs(compose(owner, items, "local"), remote=False)[0]
    assert max(Image.open(io.BytesIO(image.data)).size) == pipeline.LOCAL_EDGE


def test_deleting_an_upload_deletes_its_copy(
    owner, gemini, media_files, django_capture_on_commit_callbacks
):
    item = upload(owner, big_jpeg())
    names = item.stored_names()
    assert len(names) == 3 and all(default_storage.exists(n) for n in names)
    with django_capture_on_commit_callbacks(execute=True):
        delete_upload(upload=item)
    assert not any(default_storage.exists(n) for n in names)
