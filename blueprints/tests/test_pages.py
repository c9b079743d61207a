"""The Templates pages: save a composition as a template, edit it (a new version), run it from a
form, run it in bulk from a CSV, the batch page, its cancel and ZIP; strangers see nothing."""

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from billing.models import Wallet
from blueprints.models import Batch, Template, TemplateRun
from blueprints.services import create_batch
from compositions.models import Composition
from compositions.tests.factories import compose
from conftest import image_bytes

from .helpers import fund, make_template, small_upload

pytestmark = pytest.mark.django_db


def png(name="p.png"):
    return SimpleUploadedFile(name, image_bytes(size=(32, 24)), content_type="image/png")


@pytest.fixture
def funded(owner):
    fund(owner)
    return owner


def test_the_composition_page_offers_to_save_it_as_a_template(owner_client, funded):
    source = compose(funded, model="local", image_size="512", roles=["subject", "background"])
    page = owner_client.get(source.get_absolute_url())
    assert f"/templates/from/{source.public_id}".encode() in page.content

    form = owner_client.get(f"/templates/from/{source.public_id}")
    assert form.status_code == 200
    scene = source.inputs.get(position=2).upload
    response = owner_client.post(
        f"/templates/from/{source.public_id}",
        {
            "name": "Cat shots",
            "prompt": "The cat {mood} in the scene of image 2",
            "field_count": "2",
            "field-0-name": "mood",
            "field-0-label": "Mood",
            "field-0-required": "on",
            "field-1-name": "",
            "slot-0-role": "subject",
            "slot-0-mode": "ask",
            "slot-0-required": "on",
            "slot-1-role": "background",
            "slot-1-mode": "fixed",
            "slot-1-fixed": scene.public_id,
            "aspect_ratio": "1:1",
            "image_size": "512",
            "num_images": "1",
        },
    )
    template = Template.objects.get()
    assert response.status_code == 302 and response["Location"] == template.get_absolute_url()
    latest = template.latest
    assert latest.fields == [{"name": "mood", "label": "Mood", "required": True}]
    assert latest.slots[1]["fixed"] == {"upload": scene.public_id}
    assert latest.slots[0]["fixed"] is None
    assert template.workspace == funded.current_workspace


def test_a_bad_template_form_says_why_and_saves_nothing(owner_client, funded):
    source = compose(funded, model="local", image_size="512")
    response = owner_client.post(
        f"/templates/from/{source.public_id}",
        {
            "name": "x",
            "prompt": "Uses {missing}",
            "field_count": "0",
            "slot-0-mode": "ask",
            "slot-1-mode": "ask",
        },
    )
    assert response.status_code == 200
    assert "{missing}" in response.content.decode()
    assert not Template.objects.exists()


def test_editing_writes_a_new_version_and_the_page_lists_both(owner_client, funded):
    template = make_template(funded)
    latest = template.latest
    form = {
        "name": "Renamed",
        "prompt": "Only {product}",
        "field_count": "1",
        "field-0-name": "product",
        "field-0-label": "Product",
        "field-0-required": "on",
        "slot-0-role": "subject",
        "slot-0-mode": "ask",
        "slot-0-required": "on",
        "slot-1-role": "background",
        "slot-1-mode": "ask",
        "slot-1-required": "on",
        "image_size": "512",
        "aspect_ratio": latest.options.get("aspect_ratio", "1:1"),
    }
    response = owner_client.post(f"/templates/{template.public_id}/edit", form)
    assert response.status_code == 302
    template.refresh_from_db()
    assert template.name == "Renamed" and template.latest.number == 2
    page = owner_client.get(template.get_absolute_url()).content.decode()
    assert "Version 2" in page and "Version 1" in page and "Only {product}" in page


def test_running_from_the_form_makes_a_composition_from_its_version(owner_client, funded):
    template = make_template(funded, fixed=small_upload(funded))
    page = owner_client.get(f"/templates/{template.public_id}/run").content.decode()
    assert 'name="field-product"' in page and 'name="image-1"' in page
    assert 'name="image-2"' not in page  # the fixed photo is not asked
    response = owner_client.post(
        f"/templates/{template.public_id}/run",
        {"field-product": "Teapot", "field-title": "", "image-1": png()},
    )
    composition = Composition.objects.get()
    assert response.status_code == 302 and response["Location"] == composition.get_absolute_url()
    assert composition.prompt.startswith("Put Teapot from image 1")
    assert TemplateRun.objects.get().version == template.latest


def test_a_run_without_a_required_field_keeps_nothing(
    owner_client, funded, media_files, django_capture_on_commit_callbacks
):
    template = make_template(funded, fixed=small_upload(funded))
    files_before = media_files()
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            f"/templates/{template.public_id}/run", {"field-product": "", "image-1": png()}
        )
    assert response.status_code == 200
    assert "Product name" in response.content.decode()
    assert not Composition.objects.exists()
    assert media_files() == files_before  # the photo just sent is not left behind


def test_a_csv_starts_a_bulk_run_and_the_batch_page_shows_its_rows(
    owner_client, funded, django_capture_on_commit_callbacks
):
    template = make_template(funded, fixed=small_upload(funded))
    product = small_upload(funded)
    csv_text = f"product,title,image_1\nMug,Hello,{product.public_id}\nCup,,{product.public_id}\n"
    sample = owner_client.get(f"/templates/{template.public_id}/bulk.csv")
    assert sample.content.decode().strip() == "product,title,image_1"
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            f"/templates/{template.public_id}/bulk",
            {"file": SimpleUploadedFile("rows.csv", csv_text.encode(), content_type="text/csv")},
        )
    batch = Batch.objects.get()
    assert response.status_code == 302 and response["Location"] == batch.get_absolute_url()
    page = owner_client.get(batch.get_absolute_url()).content.decode()
    assert page.count('class="badge status-succeeded"') == 2
    assert '/thumb"' in page
    archive = owner_client.get(f"/batches/{batch.public_id}/archive")
    with zipfile.ZipFile(io.BytesIO(b"".join(archive.streaming_content))) as zf:
        assert len(zf.namelist()) == 3


def test_a_csv_with_a_bad_row_names_it_and_holds_nothing(owner_client, funded):
    template = make_template(funded, fixed=small_upload(funded))
    balance = Wallet.objects.get(workspace=funded.current_workspace).balance
    csv_text = "product,image_1\n,up_missing\n"
    response = owner_client.post(
        f"/templates/{template.public_id}/bulk",
        {"file": SimpleUploadedFile("rows.csv", csv_text.encode(), content_type="text/csv")},
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "1 row cannot run" in text and "Row 1" in text
    assert not Batch.objects.exists()
    assert Wallet.objects.get(workspace=funded.current_workspace).balance == balance


def test_cancel_from_the_batch_page(owner_client, funded):
    template = make_template(funded, fixed=small_upload(funded))
    product = small_upload(funded)
    batch = create_batch(
        version=template.latest,
        workspace=funded.current_workspace,
        user=funded,
        rows=[{"fields": {"product": "A"}, "inputs": [{"upload": product.public_id}]}] * 3,
    )
    response = owner_client.post(f"/batches/{batch.public_id}/cancel")
    assert response.status_code == 302
    batch.refresh_from_db()
    assert batch.status == "canceled" and batch.counts()["canceled"] == 3


def test_a_stranger_gets_404_from_every_page(funded, stranger_client):
    template = make_template(funded, fixed=small_upload(funded))
    product = small_upload(funded)
    batch = create_batch(
        version=template.latest,
        workspace=funded.current_workspace,
        user=funded,
        rows=[{"fields": {"product": "A"}, "inputs": [{"upload": product.public_id}]}],
    )
    source = compose(funded, model="local", image_size="512")
    assert template.name not in stranger_client.get("/templates/").content.decode()
    t, b = template.public_id, batch.public_id
    for path in (
        f"/templates/from/{source.public_id}",
        f"/templates/{t}",
        f"/templates/{t}/edit",
        f"/templates/{t}/run",
        f"/templates/{t}/bulk",
        f"/templates/{t}/bulk.csv",
        f"/batches/{b}",
        f"/batches/{b}/archive",
    ):
        assert stranger_client.get(path).status_code == 404, path
    for path in (
        f"/templates/{t}/edit",
        f"/templates/{t}/run",
        f"/templates/{t}/bulk",
        f"/batches/{b}/cancel",
        f"/batches/{b}/rows/1/retry",
    ):
        assert stranger_client.post(path, {}).status_code == 404, path
    batch.refresh_from_db()
    assert batch.status == "running"
