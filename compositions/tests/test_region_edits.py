"""Region edits and expands: only the painted region (or the new area) comes from the model,
through the service, the worker and the API, with bad masks refused and nothing charged."""

import base64
import io

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rest_framework.test import APIClient

from accounts.services import create_api_token
from bananasite.errors import ValidationFailed
from billing.models import LedgerEntry, Wallet
from compositions import regions
from compositions.models import Composition, RegionEdit, Result, Upload
from compositions.options import CompositionOptions, NewImage
from compositions.services import create_region_edit, create_upload, delete_composition
from compositions.tasks import run_composition
from conftest import sample_bytes

pytestmark = pytest.mark.django_db


def png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def mask_bytes(size, box=None, value=255) -> bytes:
    """A black mask of `size` (w, h) with `box` (l, t, r, b) painted white."""
    arr = np.zeros((size[1], size[0]), np.uint8)
    if box:
        arr[box[1] : box[3], box[0] : box[2]] = value
    return png(arr)


def pixels(data: bytes) -> np.ndarray:
    img = Image.open(io.BytesIO(data))
    return np.asarray(img.convert("RGB"), dtype=np.int16)


def new_image(name: str, data: bytes) -> NewImage:
    return NewImage(name=name, fileobj=io.BytesIO(data), size=len(data))


def stored(field) -> bytes:
    with field.open("rb") as fh:
        return fh.read()


@pytest.fixture
def api(owner):
    client = APIClient()
    raw = create_api_token(workspace=owner.current_workspace, user=owner, name="t")[1]
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def api_upload(api, name, data):
    response = api.post(
        "/api/v1/uploads", {"file": SimpleUploadedFile(name, data)}, format="multipart"
    )
    assert response.status_code == 201, response.content
    return response.json()["id"]


def problem(response, status, code):
    assert response.status_code == status, response.content
    assert response.json()["code"] == code, response.json()


# --- The maths ------------------------------------------------------------------------------------


def test_blend_keeps_every_pixel_outside_the_region_and_takes_the_model_inside():
    source = Image.open(io.BytesIO(sample_bytes("coffee.png"))).convert("RGB")
    mask = np.zeros((400, 600), bool)
    mask[100:250, 200:400] = True
    box, _ratio = regions.crop_box(mask, ("1:1", "4:3", "16:9", "3:4"))
    assert box[0] <= 200 and box[1] <= 100 and box[2] >= 400 and box[3] >= 250
    # A model that shifts every colour and draws something else in the region.
    crop = np.asarray(source.crop(box)).astype(np.int16)
    crop = np.clip(crop + 30, 0, 255).astype(np.uint8)
    region = mask[box[1] : box[3], box[0] : box[2]]
    crop[region] = (20, 200, 20)
    out = np.asarray(regions.apply_region_edit(source, mask, box, Image.fromarray(crop), feather=8))
    original = np.asarray(source)
    assert (out[~mask] == original[~mask]).all()
    # The inside (past the feather) is the model's green, with the colour shift taken off.
    core = out[130:220, 230:370].astype(int)
    assert core[..., 1].mean() > 150 and core[..., 0].mean() < 60
    # At the seam the edit fades in: the first pixel inside is close to the original.
    assert np.abs(out[100, 300].astype(int) - original[100, 300].astype(int)).max() < 60


def test_masks_that_mark_nothing_or_everything_or_another_size_are_refused():
    for arr, size, code in (
        (np.zeros((10, 20), bool), (20, 10), "mask_empty"),
        (np.ones((10, 20), bool), (20, 10), "mask_full"),
        (np.ones((10, 21), bool), (20, 10), "mask_size_mismatch"),
    ):
        with pytest.raises(regions.RegionRejected) as caught:
            regions.check_mask(arr, size)
        assert caught.value.code == code


def test_a_transparent_mask_marks_its_opaque_pixels():
    rgba = np.zeros((10, 20, 4), np.uint8)
    rgba[2:5, 3:9, 3] = 255  # opaque black: the region
    mask = regions.read_mask(png(rgba))
    assert mask.sum() == 18 and mask[3, 4]


def test_expand_keeps_the_original_pixels_where_they_were():
    source = Image.open(io.BytesIO(sample_bytes("chelsea.png"))).convert("RGB")
    canvas, ratio = regions.expand_canvas(source.size, aspect_ratio="16:9")
    assert ratio == "16:9" and canvas.height == 300 and canvas.width == 533
    draft = regions.expand_draft(source, canvas)
    generated = Image.new("RGB", (1024, 576), (10, 90, 200))
    out = np.asarray(regions.apply_expand(source, canvas, generated, feather=8))
    inner = out[canvas.top : canvas.top + 300, canvas.left : canvas.left + 451]
    assert (inner == np.asarray(source)).all()
    assert not (np.asarray(draft)[:, :10] == out[:, :10]).all()  # the model filled the side


# --- Service and worker -----------------------------------------------------------------------


def _source_and_mask(owner, box=(150, 80, 320, 220)):
    ws = owner.current_workspace
    source = create_upload(
        workspace=ws,
        user=owner,
        image=new_image("chelsea.png", sample_bytes("chelsea.png")),
    )
    data = mask_bytes((451, 300), box)
    mask = create_upload(workspace=ws, user=owner, image=new_image("mask.png", data))
    return source, mask


def test_a_region_edit_runs_locally_and_changes_only_the_region(owner):
    source, mask = _source_and_mask(owner)
    composition = create_region_edit(
        source=source,
        mask=mask,
        user=owner,
        options=CompositionOptions(prompt="make the cat blue", image_size="512"),
    )
    assert composition.origin == "region_edit" and composition.inputs.count() == 1
    assert composition.region.kind == "edit" and composition.region.feather == 8
    run_composition(composition.public_id)
    composition.refresh_from_db()
    assert composition.status == "succeeded", composition.error_message
    [result] = composition.results.all()
    assert (result.width, result.height, result.content_type) == (451, 300, "image/png")
    out, original = pixels(stored(result.file)), pixels(stored(source.file))
    region = regions.read_mask(stored(composition.region.mask))
    assert (out[~region] == original[~region]).all()
    assert np.abs(out[region] - original[region]).mean() > 10
    assert composition.credits_charged == 1


def test_a_variation_of_a_region_edit_edits_the_same_region(owner):
    from compositions.services import create_variation

    source, mask = _source_and_mask(owner)
    edit = create_region_edit(
        source=source,
        mask=mask,
        user=owner,
        options=CompositionOptions(prompt="make the cat blue", image_size="512"),
    )
    run_composition(edit.public_id)
    variation = create_variation(source=edit, user=owner)
    assert variation.origin == "variation" and variation.region.kind == "edit"
    run_composition(variation.public_id)
    variation.refresh_from_db()
    assert variation.status == "succeeded", variation.error_message
    [result] = variation.results.all()
    out, original = pixels(stored(result.file)), pixels(stored(source.file))
    region = regions.read_mask(stored(variation.region.mask))
    assert (region == regions.read_mask(stored(edit.region.mask))).all()
    assert (out[~region] == original[~region]).all()


def test_a_region_edit_of_a_result_has_that_composition_as_parent(owner):
    source, mask = _source_and_mask(owner)
    first = create_region_edit(
        source=source, mask=mask, user=owner, options=CompositionOptions(prompt="make it red")
    )
    run_composition(first.public_id)
    result = Result.objects.get(composition=first)
    mask_again = create_upload(
        workspace=owner.current_workspace,
        user=owner,
        image=new_image("m.png", mask_bytes((451, 300), (0, 0, 60, 60))),
    )
    second = create_region_edit(
        source=result, mask=mask_again, user=owner, options=CompositionOptions(prompt="remove it")
    )
    assert second.parent == first
    run_composition(second.public_id)
    second.refresh_from_db()
    assert second.status == "succeeded"


def test_deleting_a_region_edit_removes_its_mask_copy(
    owner, media_files, django_capture_on_commit_callbacks
):
    source, mask = _source_and_mask(owner)
    composition = create_region_edit(
        source=source, mask=mask, user=owner, options=CompositionOptions(prompt="make it red")
    )
    name = composition.region.mask.name
    assert any(str(p).endswith(name) for p in media_files())
    with django_capture_on_commit_callbacks(execute=True):
        delete_composition(composition=composition)
    assert not RegionEdit.objects.exists()
    assert not any(str(p).endswith(name) for p in media_files())


# --- API ------------------------------------------------------------------------------------


def test_api_region_edit_changes_only_the_masked_pixels(api, owner):
    source = api_upload(api, "coffee.png", sample_bytes("coffee.png"))
    mask = api_upload(api, "mask.png", mask_bytes((600, 400), (250, 120, 420, 260)))
    response = api.post(
        "/api/v1/compositions",
        {
            "prompt": "make the cup green",
            "image_size": "512",
            "edit": {"source": source, "mask": mask},
        },
        format="json",
    )
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["region"]["kind"] == "edit" and body["region"]["feather"] == 8
    run_composition(body["id"])
    body = api.get(f"/api/v1/compositions/{body['id']}").json()
    assert body["status"] == "succeeded"
    result = Result.objects.get(public_id=body["results"][0]["id"])
    out = pixels(stored(result.file))
    original = pixels(sample_bytes("coffee.png"))
    region = np.zeros((400, 600), bool)
    region[120:260, 250:420] = True
    assert (out[~region] == original[~region]).all()
    assert np.abs(out[region] - original[region]).mean() > 10


def test_api_region_edit_of_a_result_records_the_parent(api):
    source = api_upload(api, "coffee.png", sample_bytes("coffee.png"))
    mask = api_upload(api, "mask.png", mask_bytes((600, 400), (250, 120, 420, 260)))
    first = api.post(
        "/api/v1/compositions",
        {"prompt": "make the cup red", "edit": {"source": source, "mask": mask}},
        format="json",
    ).json()
    run_composition(first["id"])
    res = api.get(f"/api/v1/compositions/{first['id']}").json()["results"][0]["id"]
    second = api.post(
        "/api/v1/compositions",
        {"prompt": "make the cup blue", "edit": {"source": res, "mask": mask, "feather": 0}},
        format="json",
    )
    assert second.status_code == 202, second.content
    assert second.json()["parent"] == first["id"]


@pytest.mark.parametrize(
    ("mask_data", "code"),
    [
        (mask_bytes((600, 400)), "mask_empty"),
        (mask_bytes((600, 400), (0, 0, 600, 400)), "mask_full"),
        (mask_bytes((300, 200), (10, 10, 50, 50)), "mask_size_mismatch"),
    ],
)
def test_api_bad_masks_are_refused_with_their_code_and_nothing_charged(api, owner, mask_data, code):
    source = api_upload(api, "coffee.png", sample_bytes("coffee.png"))
    mask = api_upload(api, "mask.png", mask_data)
    before = Wallet.objects.get(workspace=owner.current_workspace).balance
    response = api.post(
        "/api/v1/compositions",
        {"prompt": "make it red", "edit": {"source": source, "mask": mask}},
        format="json",
    )
    problem(response, 400, code)
    assert not Composition.objects.exists() and not RegionEdit.objects.exists()
    assert Wallet.objects.get(workspace=owner.current_workspace).balance == before
    assert (
        not LedgerEntry.objects.exists() or not LedgerEntry.objects.filter(kind="reserve").exists()
    )


def test_api_a_strangers_source_or_mask_is_not_found(api, stranger):
    stranger_api = APIClient()
    raw = create_api_token(workspace=stranger.current_workspace, user=stranger, name="s")[1]
    stranger_api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    theirs = api_upload(stranger_api, "coffee.png", sample_bytes("coffee.png"))
    their_mask = api_upload(stranger_api, "m.png", mask_bytes((600, 400), (1, 1, 9, 9)))
    mine = api_upload(api, "coffee.png", sample_bytes("coffee.png"))
    my_mask = api_upload(api, "m.png", mask_bytes((600, 400), (1, 1, 9, 9)))
    for edit in ({"source": theirs, "mask": my_mask}, {"source": mine, "mask": their_mask}):
        response = api.post(
            "/api/v1/compositions", {"prompt": "make it red", "edit": edit}, format="json"
        )
        problem(response, 400, "not_found")
    response = api.post(
        "/api/v1/compositions", {"expand": {"source": theirs, "margin": 10}}, format="json"
    )
    problem(response, 400, "not_found")
    assert not Composition.objects.exists()


def test_api_expand_keeps_the_original_pixels(api):
    source = api_upload(api, "chelsea.png", sample_bytes("chelsea.png"))
    response = api.post(
        "/api/v1/compositions",
        {"image_size": "512", "expand": {"source": source, "aspect_ratio": "16:9"}},
        format="json",
    )
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["aspect_ratio"] == "16:9" and body["region"]["kind"] == "expand"
    run_composition(body["id"])
    body = api.get(f"/api/v1/compositions/{body['id']}").json()
    assert body["status"] == "succeeded"
    result = Result.objects.get(public_id=body["results"][0]["id"])
    out = pixels(stored(result.file))
    canvas = body["region"]["canvas"]
    assert out.shape[:2] == (canvas["height"], canvas["width"]) == (300, 533)
    inner = out[canvas["top"] : canvas["top"] + 300, canvas["left"] : canvas["left"] + 451]
    assert (inner == pixels(sample_bytes("chelsea.png"))).all()


def test_api_expand_by_a_margin(api):
    source = api_upload(api, "coffee.png", sample_bytes("coffee.png"))
    response = api.post(
        "/api/v1/compositions", {"expand": {"source": source, "margin": 40}}, format="json"
    )
    assert response.status_code == 202, response.content
    run_composition(response.json()["id"])
    result = Result.objects.get(composition__public_id=response.json()["id"])
    assert (result.width, result.height) == (680, 480)
    inner = pixels(stored(result.file))[40:440, 40:640]
    assert (inner == pixels(sample_bytes("coffee.png"))).all()


def test_api_expand_needs_a_ratio_or_a_margin_and_a_new_ratio(api):
    source = api_upload(api, "astronaut.png", sample_bytes("astronaut.png"))
    problem(
        api.post("/api/v1/compositions", {"expand": {"source": source}}, format="json"),
        400,
        "expand_invalid",
    )
    problem(
        api.post(
            "/api/v1/compositions",
            {"expand": {"source": source, "aspect_ratio": "1:1"}},
            format="json",
        ),
        400,
        "expand_no_change",
    )


def test_api_an_ordinary_composition_still_needs_two_inputs(api):
    one = api_upload(api, "coffee.png", sample_bytes("coffee.png"))
    response = api.post(
        "/api/v1/compositions", {"prompt": "x", "inputs": [{"upload": one}]}, format="json"
    )
    problem(response, 400, "too_few_images")
    assert Upload.objects.count() == 1


def test_api_region_edit_through_a_fake_nano_banana_provider(api, settings):
    from bananasite.model_catalog import build_models

    from .fakes import FakeProvider, Reply, gemini_ok
    from .fakes import png as solid_png

    fake = FakeProvider()
    try:
        providers = {"gemini": {"api_key": "k", "base_url": fake.url, "max_attempts": 1}}
        settings.BANANASITE_PROVIDERS = providers
        settings.BANANASITE_MODELS = build_models(providers)
        settings.BANANASITE_DEFAULT_MODEL = settings.BANANASITE_MODELS[0]["id"]
        # The model answers with a different picture altogether, at another size.
        fake.script(Reply(200, gemini_ok(solid_png((30, 60, 220), (1024, 1024)))))
        source = api_upload(api, "rocket.jpg", sample_bytes("rocket.jpg"))
        mask = api_upload(api, "mask.png", mask_bytes((640, 427), (300, 100, 420, 300)))
        response = api.post(
            "/api/v1/compositions",
            {
                "prompt": "a second rocket here",
                "model": "nano-banana-2",
                "edit": {"source": source, "mask": mask, "feather": 4},
            },
            format="json",
        )
        assert response.status_code == 202, response.content
        assert run_composition(response.json()["id"]) == "succeeded"
        result = Result.objects.get(composition__public_id=response.json()["id"])
        out = pixels(stored(result.file))
        original = pixels(stored(Upload.objects.get(public_id=source).file))
        region = np.zeros((427, 640), bool)
        region[100:300, 300:420] = True
        assert (out[~region] == original[~region]).all()
        inner = out[110:290, 310:410]
        assert inner[..., 2].mean() > inner[..., 0].mean() + 40  # the model's blue
        # One image went to the model: the crop, with context, at a ratio it can make.
        [sent] = fake.requests
        parts = sent["json"]["contents"][0]["parts"]
        assert sum("inlineData" in p for p in parts) == 1
        crop = Image.open(io.BytesIO(base64.b64decode(parts[1]["inlineData"]["data"])))
        assert crop.width < 640 and crop.height <= 427
    finally:
        fake.close()


# --- After review: roles, free retries, the mask's upload, a model gone --------------------------


def test_api_an_extra_images_role_stays_with_that_image(api, owner):
    source = api_upload(api, "coffee.png", sample_bytes("coffee.png"))
    mask = api_upload(api, "mask.png", mask_bytes((600, 400), (250, 120, 420, 260)))
    logo = api_upload(api, "logo.png", sample_bytes("logo.png"))
    response = api.post(
        "/api/v1/compositions",
        {
            "prompt": "put the logo from image 2 on the cup",
            "edit": {"source": source, "mask": mask},
            "inputs": [{"upload": logo, "role": "logo"}],
        },
        format="json",
    )
    assert response.status_code == 202, response.content
    composition = Composition.objects.get(public_id=response.json()["id"])
    placed = [
        (i.position, i.upload.public_id, i.role) for i in composition.inputs.order_by("position")
    ]
    assert placed[1] == (2, logo, "logo")
    assert placed[0][2] != "logo"


def test_a_free_retry_of_a_region_edit_edits_the_same_region(owner):
    from compositions.services import create_free_retry

    source, mask = _source_and_mask(owner)
    edit = create_region_edit(
        source=source, mask=mask, user=owner, options=CompositionOptions(prompt="make it red")
    )
    run_composition(edit.public_id)
    edit.refresh_from_db()
    # The check missed the product: the free retry is offered.
    Composition.objects.filter(pk=edit.pk).update(
        checks={
            "status": "done",
            "references": [
                {"input": 1, "role": "product", "result": "res_x", "found": False, "inliers": 0}
            ],
        }
    )
    edit.refresh_from_db()
    retry = create_free_retry(source=edit, user=owner)
    assert retry.origin == "retry" and retry.region.kind == "edit"
    assert retry.credits_reserved == 0 and retry.inputs.count() == 1
    assert (
        regions.read_mask(stored(retry.region.mask)) == regions.read_mask(stored(edit.region.mask))
    ).all()


def test_the_painters_mask_upload_goes_once_the_edit_is_made_and_others_stay(owner, client):
    client.force_login(owner)
    made = compose_for_region(owner)
    source = made.results.get()
    painted = create_upload(
        workspace=owner.current_workspace,
        user=owner,
        image=new_image("mask.png", mask_bytes((source.width, source.height), (10, 10, 60, 60))),
    )
    url = f"/c/{made.public_id}/region/{source.public_id}"
    form = {"mode": "edit", "prompt": "make it red", "feather": 8, "image_size": "512"}
    response = client.post(url, {**form, "mask": painted.public_id})
    assert response.status_code == 302, response.content[:800]
    assert not Upload.objects.filter(pk=painted.pk).exists()  # the edit keeps its own copy
    # An upload that is not the painter's, named as the mask and refused: left alone.
    photo = create_upload(
        workspace=owner.current_workspace,
        user=owner,
        image=new_image("chelsea.png", sample_bytes("chelsea.png")),
    )
    refused = client.post(url, {**form, "mask": photo.public_id})
    assert refused.status_code == 400
    assert Upload.objects.filter(pk=photo.pk).exists()


def compose_for_region(owner):
    from .factories import compose

    composition = compose(owner)
    run_composition(composition.public_id)
    composition.refresh_from_db()
    assert composition.status == "succeeded"
    return composition


def test_a_region_edit_for_a_model_no_longer_served_is_refused(owner):
    source, mask = _source_and_mask(owner)
    with pytest.raises(ValidationFailed) as refused:
        create_region_edit(
            source=source,
            mask=mask,
            user=owner,
            options=CompositionOptions(
                prompt="x", model="gone-model", aspect_ratio="match_input_image"
            ),
        )
    assert refused.value.errors[0][1] == "unsupported_option"
    assert not Composition.objects.exists()
