"""The templates list (page and API) and a bulk run's checking cost the same number of queries
with 3 templates or rows as with 30: nothing is looked up one row at a time."""

import pytest
from django.db import connection
from django.db.models.signals import post_init
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiToken
from blueprints.models import TemplateVersion
from blueprints.services import check_batch, revise_template
from compositions.options import NewImage
from compositions.tasks import run_composition
from compositions.tests.factories import compose
from conftest import SAMPLES
from references.services import create_reference

from .helpers import fund, make_template, small_upload
from .test_bulk_runs import client_for

pytestmark = pytest.mark.django_db


def _templates(owner, count, *, start=0):
    scene = small_upload(owner, color=(0, 90, 200))
    for index in range(start, start + count):
        template = make_template(owner, fixed=scene, name=f"Template {index}")
        # A second version: the list shows the latest, not the first.
        revise_template(
            template=template,
            user=owner,
            name=f"Template {index}",
            definition={
                "prompt": "Image 1 as {product}, version two",
                "fields": [{"name": "product", "label": f"Product v2 {index}"}],
                "slots": [
                    {"role": "subject"},
                    {"role": "background", "fixed": {"upload": scene.public_id}},
                ],
                "options": {"model": "local", "image_size": "512"},
            },
        )


def _count(get) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as queries:
        response = get()
    assert response.status_code == 200, response.content
    return len(queries), response


@pytest.fixture
def versions_read():
    """How many TemplateVersion rows were turned into objects."""
    built = []

    def count(sender, instance, **kwargs):
        built.append(instance)

    post_init.connect(count, sender=TemplateVersion)
    yield built
    post_init.disconnect(count, sender=TemplateVersion)


def test_the_templates_page_costs_the_same_queries_for_3_and_30_templates(
    owner, owner_client, versions_read
):
    _templates(owner, 3)
    owner_client.get(reverse("blueprints:list"))  # warm: the catalogue and the session
    few, response = _count(lambda: owner_client.get(reverse("blueprints:list")))
    assert len(response.context["templates"]) == 3
    assert "Product v2 0" in response.content.decode()

    _templates(owner, 27, start=3)
    versions_read.clear()
    many, response = _count(lambda: owner_client.get(reverse("blueprints:list")))
    assert len(response.context["templates"]) == 30
    assert all(t.latest.number == 2 for t in response.context["templates"])
    assert "Product v2 29" in response.content.decode()
    assert many == few
    # Only the latest versions are read, not every old one.
    assert len(versions_read) == 30


def test_listing_templates_in_the_api_costs_the_same_queries_for_3_and_30(owner):
    api = client_for(owner)

    def listing():
        # A token's use is noted at most once a minute: keep that write out of the count.
        ApiToken.objects.update(last_used_at=timezone.now())
        return api.get("/api/v1/templates", {"limit": "50"})

    _templates(owner, 3)
    listing()
    few, response = _count(listing)
    assert [t["version"] for t in response.json()["results"]] == [2] * 3

    _templates(owner, 27, start=3)
    many, response = _count(listing)
    results = response.json()["results"]
    assert len(results) == 30 and {t["version"] for t in results} == {2}
    assert results[0]["fields"] == [{"name": "product", "label": "Product v2 29", "required": True}]
    assert results[0]["csv_columns"] == ["product", "image_1"]
    assert many == few


@pytest.fixture
def inputs(owner):
    """One of each kind of photo a row may name: uploads, a result, saved references, a URL."""
    fund(owner, credits=500)
    scene = small_upload(owner, color=(0, 90, 200))
    composition = compose(owner, prompt="a cup")
    run_composition(composition.public_id)
    result = composition.results.first()
    with (SAMPLES / "coffee.png").open("rb") as fh:
        mug = create_reference(
            workspace=owner.current_workspace,
            user=owner,
            name="Blue mug",
            kind="product",
            images=[NewImage(name="coffee.png", fileobj=fh, size=None)],
        )
    products = [small_upload(owner, color=(10 * i, 100, 50)) for i in range(2)]
    photos = [
        {"upload": products[0].public_id},
        {"result": result.public_id},
        {"reference": mug.public_id},
        {"url": "https://example.com/product.png"},
        {"upload": products[1].public_id},
    ]
    return make_template(owner, fixed=scene), photos


def _rows(photos, count):
    return [
        {"fields": {"product": f"Item {n}"}, "inputs": [photos[n % len(photos)]]}
        for n in range(count)
    ]


def test_checking_a_bulk_run_costs_the_same_queries_for_3_and_30_rows(owner, inputs):
    template, photos = inputs
    version = template.latest
    workspace = owner.current_workspace

    def check(rows):
        with CaptureQueriesContext(connection) as queries:
            checked, problems = check_batch(version=version, workspace=workspace, rows=rows)
        assert problems == []
        return len(queries), checked

    check(_rows(photos, 3))  # warm: the catalogue
    few, checked = check(_rows(photos, 5))
    assert len(checked) == 5
    many, checked = check(_rows(photos, 30))
    assert len(checked) == 30
    assert many == few


def test_refusing_bad_rows_costs_the_same_queries_for_3_and_30_rows(owner, inputs):
    template, photos = inputs
    api = client_for(owner)
    bad = [
        {"upload": "up_nothere"},
        {"result": "res_nothere"},
        {"reference": "ref_nothere"},
        {"url": "not a url"},
    ]

    def refuse(count):
        rows = _rows(photos, count)
        for n, row in enumerate(rows):
            if n % 2:
                row["inputs"] = [bad[n // 2 % len(bad)]]
        ApiToken.objects.update(last_used_at=timezone.now())
        with CaptureQueriesContext(connection) as queries:
            response = api.post(
                "/api/v1/batches", {"template": template.public_id, "rows": rows}, format="json"
            )
        assert response.status_code == 400, response.content
        return len(queries), response.json()

    refuse(3)
    few, body = refuse(8)
    assert len(body["errors"]) == 4
    many, body = refuse(30)
    assert len(body["errors"]) == 15
    assert many == few


def test_accepting_a_bulk_run_costs_the_same_queries_for_3_and_30_rows(owner, inputs):
    template, photos = inputs
    api = client_for(owner)

    def accept(count):
        ApiToken.objects.update(last_used_at=timezone.now())
        with CaptureQueriesContext(connection) as queries:
            response = api.post(
                "/api/v1/batches",
                {"template": template.public_id, "rows": _rows(photos, count)},
                format="json",
            )
        assert response.status_code == 202, response.content
        assert response.json()["counts"]["total"] == count
        return len(queries)

    accept(3)
    assert accept(30) == accept(3)
