"""Bulk runs: every row checked and the whole cost reserved once, rows run through the local
compositor (tasks inline), a bad row fails alone, cancel gives back exactly the unrun rows, and
the ZIP holds every result with a manifest that matches."""

import csv
import io
import zipfile

import pytest
from rest_framework.test import APIClient

from accounts.services import create_api_token
from billing.models import LedgerEntry, Wallet
from blueprints.models import Batch, BatchRow
from blueprints.services import create_batch, start_next_row, sweep_batches
from compositions.models import Composition
from compositions.tasks import run_composition
from compositions.tests.factories import compose
from webhooks.models import Webhook, WebhookDelivery

from .helpers import fund, make_template, small_upload

pytestmark = pytest.mark.django_db


def client_for(user):
    raw = create_api_token(workspace=user.current_workspace, user=user, name="t")[1]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def balance(user):
    return Wallet.objects.get(workspace=user.current_workspace).balance


@pytest.fixture
def setup(owner):
    fund(owner, credits=200)
    scene = small_upload(owner, color=(0, 90, 200))
    template = make_template(owner, fixed=scene)
    products = [small_upload(owner, color=(10 * i, 100, 50)) for i in range(3)]
    return template, products


def rows_for(products, n, *, bad=()):
    rows = []
    for number in range(1, n + 1):
        photo = {"upload": products[number % len(products)].public_id}
        if number in bad:
            # Valid as written; refused when its turn comes (a private address).
            photo = {"url": "http://127.0.0.1:9/product.png"}
        rows.append({"fields": {"product": f"Item {number}"}, "inputs": [photo]})
    return rows


def test_fifty_rows_reserve_once_and_every_row_ends(
    owner, setup, django_capture_on_commit_callbacks
):
    template, products = setup
    Webhook.objects.create(
        workspace=owner.current_workspace,
        url="https://hooks.example.com/b",
        events=["batch.finished"],
        secret="whsec_" + "A" * 44,
    )
    api = client_for(owner)
    before = balance(owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/v1/batches",
            {"template": template.public_id, "rows": rows_for(products, 50, bad={7})},
            format="json",
        )
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["id"].startswith("bat_") and body["credits"] == {"reserved": 50}

    batch = Batch.objects.get(public_id=body["id"])
    reserves = LedgerEntry.objects.filter(kind="reserve")
    assert list(reserves.values_list("composition_ref", "amount")) == [(batch.public_id, -50)]

    detail = api.get(f"/api/v1/batches/{batch.public_id}").json()
    assert detail["status"] == "finished"
    assert detail["counts"] == {
        "total": 50,
        "pending": 0,
        "running": 0,
        "succeeded": 49,
        "failed": 1,
        "canceled": 0,
    }
    bad = BatchRow.objects.get(batch=batch, number=7)
    assert bad.outcome == "failed" and bad.composition is None
    assert "address" in bad.error.lower() or "allowed" in bad.error.lower(), bad.error
    # 49 images charged, the bad row's share back: the ledger says so row by row.
    assert balance(owner) == before - 49
    assert (
        LedgerEntry.objects.filter(composition_ref=bad.public_id, kind="release").get().amount == 1
    )
    assert Composition.objects.filter(batch_row__batch=batch, status="succeeded").count() == 49

    deliveries = WebhookDelivery.objects.filter(event="batch.finished")
    assert deliveries.count() == 1
    assert deliveries.get().payload["data"]["counts"]["succeeded"] == 49

    # Rows, 20 a page, in order, with a cursor.
    first = api.get(f"/api/v1/batches/{batch.public_id}/rows?limit=20").json()
    assert [r["row"] for r in first["results"]] == list(range(1, 21))
    assert first["results"][6] == {
        "row": 7,
        "composition": None,
        "status": "failed",
        "error": bad.error,
        "fields": {"product": "Item 7", "title": ""},
    }
    rest = api.get(first["next"]).json()
    assert rest["results"][0]["row"] == 21

    # The ZIP: every result, and a manifest line per file (and per row without one).
    archive = api.get(f"/api/v1/batches/{batch.public_id}/archive")
    assert archive.status_code == 200 and archive["Content-Type"] == "application/zip"
    data = b"".join(archive.streaming_content)
    assert int(archive["Content-Length"]) == len(data)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = set(zf.namelist())
        manifest = list(csv.DictReader(io.StringIO(zf.read("manifest.csv").decode())))
        images = {n: zf.read(n) for n in names if n != "manifest.csv"}
    assert len(images) == 49
    assert len(manifest) == 50
    by_row = {int(line["row"]): line for line in manifest}
    assert by_row[7] == {
        "row": "7",
        "composition": "",
        "status": "failed",
        "file": "",
        "error": bad.error,
    }
    for row in BatchRow.objects.filter(batch=batch).exclude(number=7).select_related("composition"):
        line = by_row[row.number]
        assert line["composition"] == row.composition.public_id and line["status"] == "succeeded"
        result = row.composition.results.get()
        with result.file.open("rb") as fh:
            assert images[line["file"]] == fh.read()


def test_a_failed_row_runs_again_on_retry(owner, setup, django_capture_on_commit_callbacks):
    template, products = setup
    with django_capture_on_commit_callbacks(execute=True):
        batch = create_batch(
            version=template.latest,
            workspace=owner.current_workspace,
            user=owner,
            rows=rows_for(products, 2, bad={2}),
        )
    row = BatchRow.objects.get(batch=batch, number=2)
    assert row.outcome == "failed"
    row.inputs = [{"upload": products[0].public_id}, row.inputs[1]]
    row.save(update_fields=["inputs"])  # the photo is there now
    client = client_for(owner)
    from django.test import Client

    web = Client()
    web.force_login(owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = web.post(f"/batches/{batch.public_id}/rows/2/retry")
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.outcome == "succeeded" and row.error == ""
    assert client.get(f"/api/v1/batches/{batch.public_id}").json()["status"] == "finished"


def test_cancel_releases_exactly_the_rows_not_run(owner, setup):
    template, products = setup
    before = balance(owner)
    batch = create_batch(
        version=template.latest,
        workspace=owner.current_workspace,
        user=owner,
        rows=rows_for(products, 10),
    )
    assert balance(owner) == before - 10
    # Four rows take their turn (each a queued composition; the steps' own next steps and the
    # workers are not run here), then three of those compositions run.
    for _ in range(4):
        start_next_row(batch=Batch.objects.get(pk=batch.pk))
    for composition in Composition.objects.order_by("created_at", "id")[:3]:
        run_composition(composition.public_id)
    assert Composition.objects.filter(status="succeeded").count() == 3
    assert Composition.objects.filter(status="queued").count() == 1

    response = client_for(owner).post(f"/api/v1/batches/{batch.public_id}/cancel")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "canceled"
    assert body["counts"]["succeeded"] == 3 and body["counts"]["canceled"] == 7
    # 3 charged; the 6 rows never started and the queued composition gave back 1 each.
    assert balance(owner) == before - 3
    releases = LedgerEntry.objects.filter(kind="release", outcome="canceled")
    assert releases.count() == 7 and sum(r.amount for r in releases) == 7
    again = client_for(owner).post(f"/api/v1/batches/{batch.public_id}/cancel")
    assert again.status_code == 409
    # Nothing runs after the cancel.
    start_next_row(batch=Batch.objects.get(pk=batch.pk))
    assert Composition.objects.count() == 4


def test_bad_rows_are_named_and_nothing_is_reserved(owner, setup):
    template, products = setup
    api = client_for(owner)
    before = balance(owner)
    rows = rows_for(products, 4)
    rows[1]["fields"] = {}
    rows[3]["inputs"] = [{"upload": "up_nothere"}]
    response = api.post(
        "/api/v1/batches", {"template": template.public_id, "rows": rows}, format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_rows"
    assert {(e["field"], e["code"]) for e in body["errors"]} == {
        ("rows[2].fields.product", "field_required"),
        ("rows[4].inputs[1]", "not_found"),
    }
    assert not Batch.objects.exists() and balance(owner) == before
    assert not LedgerEntry.objects.filter(kind="reserve").exists()


def test_a_batch_beyond_the_balance_is_refused_with_402(owner, setup):
    template, products = setup
    wallet = Wallet.objects.get(workspace=owner.current_workspace)
    response = client_for(owner).post(
        "/api/v1/batches",
        {"template": template.public_id, "rows": rows_for(products, wallet.balance + 1)},
        format="json",
    )
    assert response.status_code == 402 and response.json()["code"] == "insufficient_credits"
    assert not Batch.objects.exists() and balance(owner) == wallet.balance


def test_a_csv_upload_through_the_api(owner, setup, django_capture_on_commit_callbacks):
    template, products = setup
    text = "product,title,image_1\n" + "".join(
        f"Thing {i},T{i},{products[i % 3].public_id}\n" for i in range(3)
    )
    from django.core.files.uploadedfile import SimpleUploadedFile

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(owner).post(
            "/api/v1/batches",
            {"template": template.public_id, "file": SimpleUploadedFile("rows.csv", text.encode())},
            format="multipart",
        )
    assert response.status_code == 202, response.content
    assert response.json()["counts"]["total"] == 3
    prompts = sorted(Composition.objects.values_list("prompt", flat=True))
    assert prompts[0].startswith("Put Thing 0 from image 1 in the scene of image 2, titled T0")


def test_a_csv_with_unknown_columns_is_refused(owner, setup):
    template, _products = setup
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client_for(owner).post(
        "/api/v1/batches",
        {
            "template": template.public_id,
            "file": SimpleUploadedFile("rows.csv", b"product,colour\nx,red\n"),
        },
        format="multipart",
    )
    assert response.status_code == 400 and response.json()["code"] == "invalid_csv"
    assert "colour" in response.json()["detail"]


def test_the_sweep_finishes_a_batch_whose_last_composition_ended_later(owner, setup):
    template, products = setup
    batch = create_batch(
        version=template.latest,
        workspace=owner.current_workspace,
        user=owner,
        rows=rows_for(products, 1),
    )
    start_next_row(batch=batch)  # a queued composition, not run (no on_commit here)
    assert sweep_batches() == 0
    composition = Composition.objects.get()
    from compositions.lifecycle import cancel_composition

    cancel_composition(composition=composition)
    assert sweep_batches() == 1
    batch.refresh_from_db()
    assert batch.status == "finished"


def test_a_stranger_gets_404_from_every_batch_endpoint(owner, stranger, setup):
    template, products = setup
    batch = create_batch(
        version=template.latest,
        workspace=owner.current_workspace,
        user=owner,
        rows=rows_for(products, 1),
    )
    fund(stranger)
    other = client_for(stranger)
    for path in ("", "/rows", "/archive"):
        assert other.get(f"/api/v1/batches/{batch.public_id}{path}").status_code == 404
    assert other.post(f"/api/v1/batches/{batch.public_id}/cancel").status_code == 404
    refused = other.post(
        "/api/v1/batches",
        {"template": template.public_id, "rows": rows_for(products, 1)},
        format="json",
    )
    assert refused.status_code == 400 and refused.json()["code"] == "not_found"
    # The owner's photos are not the stranger's either.
    mine = make_template(stranger)
    refused = other.post(
        "/api/v1/batches",
        {"template": mine.public_id, "rows": rows_for(products, 1)},
        format="json",
    )
    assert refused.status_code == 400 and refused.json()["errors"][0]["code"] == "not_found"
    batch.refresh_from_db()
    assert batch.status == "running"


def test_a_csv_header_the_csv_module_cannot_read_is_a_400(owner, setup):
    template, _products = setup
    from django.core.files.uploadedfile import SimpleUploadedFile

    huge = b"product" + b"x" * 140_000 + b"\nLamp\n"  # over the csv module's field limit
    response = client_for(owner).post(
        "/api/v1/batches",
        {"template": template.public_id, "file": SimpleUploadedFile("rows.csv", huge)},
        format="multipart",
    )
    assert response.status_code == 400 and response.json()["code"] == "invalid_csv"


def test_a_claimed_row_is_not_stale_at_once(owner, setup):
    from datetime import timedelta

    import time_machine
    from django.utils import timezone

    from blueprints.models import BatchRow
    from blueprints.services import create_batch

    template, products = setup
    with time_machine.travel(timezone.now() - timedelta(hours=1)):
        batch = create_batch(
            version=template.latest,
            workspace=owner.current_workspace,
            user=owner,
            rows=rows_for(products, 1),
        )
    row = BatchRow.objects.get(batch=batch)
    assert row.claim()
    row.refresh_from_db()
    assert timezone.now() - row.updated_at < timedelta(minutes=1)  # the sweep reads "claimed at"


def _reference(owner, samples, name="Mug set", **extra):
    from compositions.options import NewImage
    from conftest import SAMPLES
    from references.services import create_reference

    handles = [(SAMPLES / sample).open("rb") for sample in samples]
    try:
        return create_reference(
            workspace=owner.current_workspace,
            user=owner,
            name=name,
            kind="product",
            images=[
                NewImage(name=n, fileobj=fh, size=None)
                for n, fh in zip(samples, handles, strict=True)
            ],
            **extra,
        )
    finally:
        for fh in handles:
            fh.close()


def test_a_saved_reference_counts_as_all_its_images_against_the_model_s_limit(owner, setup):
    from catalogue.models import ImageModel

    template, products = setup
    local = ImageModel.objects.get(id="local")
    local.max_images = 3  # the fixed scene, and two more at most
    local.save()
    pair = _reference(owner, ["coffee.png", "brick.png"], name="Two mugs")
    trio = _reference(owner, ["coffee.png", "brick.png", "logo.png"], name="Three mugs")
    api = client_for(owner)
    before = balance(owner)
    rows = rows_for(products, 3)
    rows[1]["inputs"] = [{"reference": trio.public_id}]  # 1 + 3 photos: one too many
    rows[2]["inputs"] = [{"reference": pair.public_id}]  # 1 + 2: fits
    response = api.post(
        "/api/v1/batches", {"template": template.public_id, "rows": rows}, format="json"
    )
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid_rows"
    assert body["errors"] == [
        {
            "field": "rows[2].images",
            "code": "too_many_images",
            "message": "Row 2: Local compositor (offline, no AI) takes at most 3 photos (you "
            "added 4). A saved reference counts as each of its images.",
        }
    ]
    assert not Batch.objects.exists() and balance(owner) == before

    # Without the row that does not fit, the batch is accepted and every row runs.
    del rows[1]
    accepted = api.post(
        "/api/v1/batches", {"template": template.public_id, "rows": rows}, format="json"
    )
    assert accepted.status_code == 202, accepted.content
    assert accepted.json()["counts"]["total"] == 2


def test_rows_naming_a_stranger_s_upload_result_or_reference_find_nothing(owner, stranger, setup):
    template, products = setup
    theirs = small_upload(stranger)
    composition = compose(stranger, prompt="their cup")
    run_composition(composition.public_id)
    their_result = composition.results.get()
    their_reference = _reference(stranger, ["coffee.png"], name="Their mug")
    rows = rows_for(products, 4)
    rows[1]["inputs"] = [{"upload": theirs.public_id}]
    rows[2]["inputs"] = [{"result": their_result.public_id}]
    rows[3]["inputs"] = [{"reference": their_reference.public_id}]
    response = client_for(owner).post(
        "/api/v1/batches", {"template": template.public_id, "rows": rows}, format="json"
    )
    assert response.status_code == 400, response.content
    assert response.json()["errors"] == [
        {
            "field": "rows[2].inputs[1]",
            "code": "not_found",
            "message": "Row 2, image 1: there is no such upload here.",
        },
        {
            "field": "rows[3].inputs[1]",
            "code": "not_found",
            "message": "Row 3, image 1: there is no such result here.",
        },
        {
            "field": "rows[4].inputs[1]",
            "code": "reference_not_found",
            "message": "Row 4, image 1: there is no such saved reference here.",
        },
    ]
    assert not Batch.objects.exists()


def test_a_rejected_photo_and_a_withdrawn_consent_keep_their_codes_per_row(owner, setup):
    from datetime import timedelta

    from django.utils import timezone

    from compositions.models import Upload
    from references.models import ReferenceConsent

    template, products = setup
    rejected = small_upload(owner, color=(1, 2, 3))
    Upload.objects.filter(pk=rejected.pk).update(status=Upload.Status.REJECTED)
    person = _reference(
        owner,
        ["chelsea.png"],
        name="Ada",
        depicts_person=True,
        consent=True,
        consent_until=timezone.now() + timedelta(days=30),
    )
    # Withdrawn, its images not yet purged.
    ReferenceConsent.objects.filter(reference=person).update(withdrawn_at=timezone.now())
    rows = rows_for(products, 3)
    rows[0]["inputs"] = [{"upload": rejected.public_id}]
    rows[2]["inputs"] = [{"reference": person.public_id}]
    response = client_for(owner).post(
        "/api/v1/batches", {"template": template.public_id, "rows": rows}, format="json"
    )
    assert response.status_code == 400, response.content
    assert response.json()["errors"] == [
        {
            "field": "rows[1].inputs[1]",
            "code": "image_rejected",
            "message": "Row 1, image 1: that photo was rejected by a moderator.",
        },
        {
            "field": "rows[3].inputs[1]",
            "code": "reference_consent_withdrawn",
            "message": "Row 3, image 1: The consent for “Ada” was withdrawn; it can no longer "
            "be used.",
        },
    ]
