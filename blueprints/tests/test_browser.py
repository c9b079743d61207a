"""In Chromium: a bulk run from a CSV file, its batch page, and the ZIP it downloads; the run
form and a CSV with a bad row, at a desktop's and a phone's width."""

import csv
import io
import re
import zipfile

import pytest

from bananasite.tests.browser import (
    DESKTOP,
    PHONE,
    SMALL_PHONE,
    new_context,
    overflow,
    shot,
    sign_in_context,
)
from blueprints.services import create_batch

from .helpers import fund, make_template, small_upload

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": DESKTOP, "accept_downloads": True}


@pytest.fixture
def template_and_product(owner):
    fund(owner)
    template = make_template(owner, fixed=small_upload(owner, color=(0, 90, 200)))
    return template, small_upload(owner)


def test_upload_a_csv_watch_the_rows_and_download_the_zip(
    page, live_server, owner, template_and_product
):
    from playwright.sync_api import expect

    _template, product = template_and_product
    sign_in_context(page.context, live_server.url, owner)
    page.goto(f"{live_server.url}/templates/")
    page.get_by_role("link", name="Product shots").click()
    expect(page.get_by_role("heading", name="Product shots")).to_be_visible()
    page.get_by_role("link", name="Bulk run from a CSV").click()
    rows = "".join(f"Item {n},Title {n},{product.public_id}\n" for n in range(1, 4))
    page.get_by_label("CSV file").set_input_files(
        {
            "name": "rows.csv",
            "mimeType": "text/csv",
            "buffer": ("product,title,image_1\n" + rows).encode(),
        }
    )
    page.get_by_role("button", name="Check and start").click()
    page.wait_for_url(re.compile(r"/batches/bat_\w+$"))
    expect(page.locator("tbody .badge.status-succeeded")).to_have_count(3)
    expect(page.get_by_role("img", name="Result of row 2")).to_be_visible()
    shot(page, "blueprints-batch-desktop")
    assert overflow(page) is None

    with page.expect_download() as info:
        page.get_by_role("link", name="Download ZIP").click()
    download = info.value
    assert download.suggested_filename.endswith(".zip")
    with zipfile.ZipFile(download.path()) as zf:
        manifest = list(csv.DictReader(io.StringIO(zf.read("manifest.csv").decode())))
        names = set(zf.namelist())
    assert [line["row"] for line in manifest] == ["1", "2", "3"]
    assert all(line["status"] == "succeeded" and line["file"] in names for line in manifest)
    assert len(names) == 4


def test_a_bad_csv_row_is_named_and_the_pages_fit_a_phone(
    browser, live_server, owner, template_and_product
):
    from playwright.sync_api import expect

    template, product = template_and_product
    batch = create_batch(
        version=template.latest,
        workspace=owner.current_workspace,
        user=owner,
        rows=[{"fields": {"product": "Lamp"}, "inputs": [{"upload": product.public_id}]}],
    )
    for viewport, label in ((DESKTOP, "desktop"), (PHONE, "phone"), (SMALL_PHONE, "small")):
        context = new_context(browser, viewport)
        sign_in_context(context, live_server.url, owner)
        page = context.new_page()
        page.goto(f"{live_server.url}/templates/{template.public_id}/bulk")
        page.get_by_label("CSV file").set_input_files(
            {
                "name": "rows.csv",
                "mimeType": "text/csv",
                "buffer": f"product,image_1\n,{product.public_id}\nLamp,https://\n".encode(),
            }
        )
        page.get_by_role("button", name="Check and start").click()
        alert = page.get_by_role("alert")
        expect(alert).to_contain_text("2 rows cannot run")
        expect(alert).to_contain_text("Row 1: fill in “Product name”")
        expect(alert).to_contain_text("Row 2, image 1")
        shot(page, f"blueprints-bulk-refused-{label}")
        assert overflow(page) is None
        for path in (
            "/templates/",
            f"/templates/{template.public_id}",
            f"/templates/{template.public_id}/run",
            f"/templates/{template.public_id}/edit",
            f"/batches/{batch.public_id}",
        ):
            page.goto(f"{live_server.url}{path}")
            assert overflow(page) is None, (path, overflow(page))
            name = path.replace(template.public_id, "tpl").replace(batch.public_id, "bat")
            shot(page, f"blueprints{name.rstrip('/').replace('/', '-')}-{label}")
        context.close()


def test_a_csv_row_naming_a_reference_of_too_many_images_is_named(
    browser, live_server, owner, template_and_product
):
    from playwright.sync_api import expect

    from catalogue.models import ImageModel

    from .test_bulk_runs import _reference

    template, product = template_and_product
    local = ImageModel.objects.get(id="local")
    local.max_images = 3
    local.save()
    trio = _reference(owner, ["coffee.png", "brick.png", "logo.png"], name="Three mugs")
    rows = f"product,image_1\nLamp,{product.public_id}\nMugs,{trio.public_id}\n"
    for viewport, label in ((DESKTOP, "desktop"), (PHONE, "phone")):
        context = new_context(browser, viewport)
        sign_in_context(context, live_server.url, owner)
        page = context.new_page()
        page.goto(f"{live_server.url}/templates/{template.public_id}/bulk")
        page.get_by_label("CSV file").set_input_files(
            {"name": "rows.csv", "mimeType": "text/csv", "buffer": rows.encode()}
        )
        page.get_by_role("button", name="Check and start").click()
        alert = page.get_by_role("alert")
        expect(alert).to_contain_text("1 row cannot run")
        expect(alert).to_contain_text("Row 2: Local compositor (offline, no AI) takes at most 3")
        expect(alert).to_contain_text("A saved reference counts as each of its images.")
        shot(page, f"blueprints-bulk-reference-limit-{label}")
        assert overflow(page) is None
        context.close()
