import pytest
from django.urls import reverse
from PIL import ImageFile

from api.tests.api_clients import token_client
from compositions.models import Composition, CompositionInput, Result, Upload
from conftest import image_bytes, png_header_only, sample_bytes

pytestmark = pytest.mark.django_db

COMPOSE = reverse("compositions:compose")


def post_compose(client, files, **fields):
    data = {
        "prompt": "The cat from image 1 next to the cup in image 2",
        "preset": "none",
        "style": "natural",
        "model": "local",
        "aspect_ratio": "1:1",
        "image_size": "512",
        "num_images": "1",
        "images": files,
    }
    data.update(fields)
    return client.post(COMPOSE, data)


def nothing_created(media_files):
    return (
        Composition.objects.count() == 0
        and Upload.objects.count() == 0
        and CompositionInput.objects.count() == 0
        and media_files() == []
    )


def test_composer_page_offers_every_preset_and_option(owner_client):
    response = owner_client.get(COMPOSE)
    assert response.status_code == 200
    html = response.content.decode()
    for preset in ("product_in_scene", "background_replace", "logo_placement", "thumbnail"):
        assert f'value="{preset}"' in html
    assert 'name="images"' in html and "multiple" in html
    assert '<label for="id_prompt">' in html
    assert 'id="preset-scaffolds"' in html


def test_anonymous_people_are_sent_to_sign_in(client):
    response = client.get(COMPOSE)
    assert response.status_code == 302
    assert reverse("account_login") in response["Location"]


def test_compose_creates_queues_and_runs(
    owner, owner_client, uploaded, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_compose(
            owner_client,
            [uploaded(sample="chelsea.png"), uploaded(sample="coffee.png")],
            roles=["subject", ""],
        )
    composition = Composition.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"{composition.get_absolute_url()}?composed=1"
    assert composition.workspace == owner.current_workspace
    assert composition.created_by == owner
    inputs = list(composition.inputs.select_related("upload"))
    assert [i.position for i in inputs] == [1, 2]
    assert [i.upload.original_name for i in inputs] == ["chelsea.png", "coffee.png"]
    assert [i.role for i in inputs] == ["subject", "other"]
    composition.refresh_from_db()
    assert composition.status == "succeeded"
    assert composition.results.count() == 1


def test_order_of_files_is_the_order_of_images(owner_client, uploaded):
    post_compose(
        owner_client,
        [uploaded(sample="coffee.png"), uploaded(sample="rocket.jpg"), uploaded(sample="logo.png")],
    )
    names = Composition.objects.get().inputs.values_list("upload__original_name", flat=True)
    assert list(names) == ["coffee.png", "rocket.jpg", "logo.png"]


def test_preset_supplies_the_prompt_when_left_empty(owner_client, uploaded):
    post_compose(
        owner_client,
        [uploaded(sample="coffee.png"), uploaded(sample="logo.png")],
        prompt="   ",
        preset="logo_placement",
    )
    composition = Composition.objects.get()
    assert composition.prompt.startswith("Place the logo from image 2 on the product in image 1")
    roles = list(composition.inputs.values_list("role", flat=True))
    assert roles == ["product", "logo"]


@pytest.mark.parametrize(
    ("files", "fields", "field", "message"),
    [
        (["one"], {}, "images", "Add at least 2 photos to combine (you added 1)."),
        (["one"] * 15, {}, "images", "at most 14 photos (you added 15)."),
        (["one", "pdf"], {}, "images", "“report.jpg” is not a JPEG, PNG, WebP, GIF or HEIC image."),
        (["one", "truncated"], {}, "images", "“cut.jpg” is damaged or incomplete"),
        (["one", "bomb"], {}, "images", "“huge.png” is 2,500 megapixels; the limit is 64"),
        (["one", "one"], {"prompt": ""}, "prompt", "Describe how to combine the photos"),
        (["one", "one"], {"prompt": "x" * 5000}, "prompt", "5,000 characters; the limit is 4,000"),
        (["one", "one"], {"aspect_ratio": "7:3"}, "aspect_ratio", "Select a valid choice"),
        (["one", "one"], {"num_images": "9"}, "num_images", "Select a valid choice"),
    ],
)
def test_bad_input_gets_a_clear_message_and_creates_nothing(
    owner_client, uploaded, media_files, files, fields, field, message
):
    makers = {
        "one": lambda: uploaded("photo.png", image_bytes()),
        "pdf": lambda: uploaded("report.jpg", b"%PDF-1.7\n%%EOF\n", content_type="image/jpeg"),
        "truncated": lambda: uploaded(
            "cut.jpg", sample_bytes("rocket.jpg")[:5000], content_type="image/jpeg"
        ),
        "bomb": lambda: uploaded("huge.png", png_header_only(50000, 50000)),
    }
    response = post_compose(owner_client, [makers[f]() for f in files], **fields)
    assert response.status_code == 400
    form = response.context["form"]
    assert any(message in error for error in form.errors[field]), form.errors
    assert message.split("“")[0][:20] in response.content.decode().replace("&quot;", '"')
    assert nothing_created(media_files)


def test_a_bad_tenth_photo_leaves_no_trace_of_the_first_nine(owner_client, uploaded, media_files):
    files = [uploaded(f"p{i}.png", image_bytes(color=(i * 20, 0, 0))) for i in range(9)]
    files.append(uploaded("broken.png", b"\x89PNG\r\n\x1a\nnot really"))
    response = post_compose(owner_client, files)
    assert response.status_code == 400
    assert nothing_created(media_files)


def test_storage_failure_midway_removes_what_was_stored(
    owner_client, uploaded, media_files, monkeypatch
):
    from django.db import models

    real_save = models.Model.save

    def failing_save(self, *args, **kwargs):
        if isinstance(self, Composition):
            raise RuntimeError("database went away")
        return real_save(self, *args, **kwargs)

    monkeypatch.setattr(models.Model, "save", failing_save)
    with pytest.raises(RuntimeError):
        post_compose(owner_client, [uploaded(sample="chelsea.png"), uploaded(sample="coffee.png")])
    assert nothing_created(media_files)


@pytest.fixture
def over_the_pixel_budget(settings, uploaded, monkeypatch):
    """Three 80×80 photos against a budget of 16,000 pixels a request; decoding is recorded."""
    settings.BANANASITE_MAX_REQUEST_PIXELS = 16_000
    decoded = []
    real_load = ImageFile.ImageFile.load

    def load(self):
        decoded.append(self)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)

    def photos(count=3):
        return [uploaded(f"p{i}.png", image_bytes(size=(80, 80))) for i in range(count)]

    return photos, decoded


def test_photos_over_the_request_pixel_budget_are_refused_before_decoding(
    owner_client, media_files, over_the_pixel_budget
):
    photos, decoded = over_the_pixel_budget
    response = post_compose(owner_client, photos())
    assert response.status_code == 400
    [error] = response.context["form"].errors["images"]
    assert error.startswith("These photos are") and "can be sent at once" in error
    assert "Send fewer or smaller photos" in response.content.decode()
    assert decoded == [] and nothing_created(media_files)
    # Two of them fit.
    assert post_compose(owner_client, photos(2)).status_code == 302


def test_the_api_refuses_photos_over_the_request_pixel_budget(
    owner, media_files, over_the_pixel_budget
):
    photos, decoded = over_the_pixel_budget
    body = {"prompt": "The three cups in a row", "model": "local", "images": photos()}
    response = token_client(owner).post("/api/v1/compositions", body, format="multipart")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "image_too_large_pixels"
    assert decoded == [] and nothing_created(media_files)


def test_oversized_request_is_refused_before_reading_it(owner_client, settings):
    settings.BANANASITE_MAX_REQUEST_BYTES = 2048
    response = owner_client.post(COMPOSE, {"prompt": "x" * 5000})
    assert response.status_code == 413
    assert "Nothing was saved" in response.content.decode()


def test_detail_page_shows_results_and_actions(owner, owner_client, uploaded):
    from .factories import compose

    composition = compose(owner)
    from compositions.tasks import run_composition

    run_composition(composition.public_id)
    response = owner_client.get(composition.get_absolute_url())
    html = response.content.decode()
    result = composition.results.get()
    assert response.status_code == 200
    assert reverse("compositions:result_file", args=[result.public_id, "download"]) in html
    assert f"?from={result.public_id}" in html  # use as input
    assert reverse("compositions:variations", args=[composition.public_id]) in html


def test_progress_endpoint_reports_stage_and_percent(owner, owner_client):
    from .factories import compose

    composition = compose(owner)
    data = owner_client.get(reverse("compositions:progress", args=[composition.public_id])).json()
    assert data["status"] == "queued" and data["percent"] == 0 and data["finished"] is False
    composition.claim()
    composition.advance("generating", token=composition.attempts)
    data = owner_client.get(reverse("compositions:progress", args=[composition.public_id])).json()
    assert data["status"] == "generating" and data["stage"] == "Generating"
    assert data["percent"] == 30


def test_download_is_an_attachment_with_the_image(owner, owner_client):
    from compositions.tasks import run_composition

    from .factories import compose

    composition = compose(owner)
    run_composition(composition.public_id)
    result = composition.results.get()
    response = owner_client.get(
        reverse("compositions:result_file", args=[result.public_id, "download"])
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"].startswith("attachment;")
    assert b"".join(response.streaming_content)[:8] == b"\x89PNG\r\n\x1a\n"


def test_use_as_input_records_the_parent(owner, owner_client, uploaded):
    from compositions.tasks import run_composition

    from .factories import compose

    parent = compose(owner)
    run_composition(parent.public_id)
    result = parent.results.get()
    page = owner_client.get(COMPOSE, {"from": result.public_id})
    assert page.status_code == 200 and "Image 1</strong> is your earlier result" in (
        page.content.decode()
    )
    response = post_compose(
        owner_client, [uploaded(sample="logo.png")], **{"from": result.public_id, "roles": ["", ""]}
    )
    assert response.status_code == 302
    child = Composition.objects.exclude(pk=parent.pk).get()
    assert child.parent == parent and child.origin == "refinement"
    first = child.inputs.get(position=1).upload
    assert first.source == "result" and first.sha256 == result.sha256
    assert child.inputs.get(position=2).upload.original_name == "logo.png"


def test_use_as_input_with_no_other_photo_is_refused_and_leaves_nothing(
    owner, owner_client, media_files
):
    from compositions.tasks import run_composition

    from .factories import compose

    parent = compose(owner)
    run_composition(parent.public_id)
    before = media_files()
    response = post_compose(owner_client, [], **{"from": parent.results.get().public_id})
    assert response.status_code == 400
    assert "Add at least 2 photos" in response.content.decode()
    assert media_files() == before
    assert Composition.objects.count() == 1


def test_variations_reuse_inputs_and_options(owner, owner_client):
    from .factories import compose

    source = compose(owner, preset="collage", aspect_ratio="16:9", num_images=2)
    response = owner_client.post(reverse("compositions:variations", args=[source.public_id]))
    variation = Composition.objects.exclude(pk=source.pk).get()
    assert response.status_code == 302
    assert variation.parent == source and variation.origin == "variation"
    assert (variation.preset, variation.aspect_ratio, variation.num_images) == (
        "collage",
        "16:9",
        2,
    )
    assert list(variation.inputs.values_list("upload_id", flat=True)) == list(
        source.inputs.values_list("upload_id", flat=True)
    )


def test_delete_removes_the_files_from_storage(
    owner, owner_client, media_files, django_capture_on_commit_callbacks
):
    from compositions.tasks import run_composition

    from .factories import compose

    composition = compose(owner)
    run_composition(composition.public_id)
    assert len(media_files()) == 6  # 2 uploads + 1 result, each with a thumbnail
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("compositions:delete", args=[composition.public_id]))
    assert response.status_code == 302
    assert media_files() == []
    assert not Composition.objects.exists() and not Result.objects.exists()
    assert not Upload.objects.exists()


def test_delete_keeps_inputs_another_composition_still_uses(
    owner, owner_client, media_files, django_capture_on_commit_callbacks
):
    from .factories import compose

    source = compose(owner)
    owner_client.post(reverse("compositions:variations", args=[source.public_id]))
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(reverse("compositions:delete", args=[source.public_id]))
    uploads = list(Upload.objects.all())
    assert len(uploads) == 2
    stored = [str(p) for p in media_files()]
    for upload in uploads:
        assert any(name.endswith(upload.file.name) for name in stored)


def test_cancel_a_queued_composition(owner, owner_client):
    from .factories import compose

    composition = compose(owner)
    response = owner_client.post(reverse("compositions:cancel", args=[composition.public_id]))
    assert response.status_code == 302
    composition.refresh_from_db()
    assert composition.status == "canceled"
    again = owner_client.post(
        reverse("compositions:cancel", args=[composition.public_id]), follow=True
    )
    assert "already finished" in again.content.decode()
