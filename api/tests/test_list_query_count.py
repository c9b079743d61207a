"""`GET /api/v1/compositions` costs the same queries with 10 or 10,000 compositions."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import ApiToken
from compositions.models import Composition
from compositions.tests.bulk import fill_workspace

from .api_clients import token_client

QUERIES = [{}, {"limit": "100"}, {"status": "succeeded"}, {"status": "queued"}]


def _list_queries(api, **params) -> tuple[int, dict]:
    # A token's use is noted at most once a minute; filling 10,000 rows may take longer.
    ApiToken.objects.update(last_used_at=timezone.now())
    with CaptureQueriesContext(connection) as queries:
        response = api.get("/api/v1/compositions", params)
    assert response.status_code == 200, response.content
    return len(queries), response.json()


@pytest.mark.django_db
def test_listing_compositions_costs_the_same_queries_at_10_and_10_000(owner):
    api = token_client(owner)
    fill_workspace(owner, 10)
    _list_queries(api)  # warm: the model catalogue is read once into the cache
    few = {str(params): _list_queries(api, **params)[0] for params in QUERIES}

    fill_workspace(owner, 9_990)
    assert Composition.objects.filter(workspace=owner.current_workspace).count() == 10_000
    for params in QUERIES:
        many, page = _list_queries(api, **params)
        assert many == few[str(params)], params
        assert page["next"]
        cursor = page["next"].split("cursor=")[1].split("&")[0]
        # Older pages hold rows without files here, so a prefetch may be skipped.
        assert _list_queries(api, **params, cursor=cursor)[0] <= few[str(params)]


@pytest.mark.django_db
def test_a_listed_queued_composition_shows_its_place_in_the_queue(owner):
    api = token_client(owner)
    fill_workspace(owner, 30)
    queued = list(
        Composition.objects.filter(workspace=owner.current_workspace, status="queued").order_by(
            "created_at", "id"
        )
    )
    listed = {
        c["id"]: c["queue_position"]
        for c in api.get("/api/v1/compositions", {"limit": "100"}).json()["results"]
    }
    assert [listed[c.public_id] for c in queued] == list(range(1, len(queued) + 1))
    assert [listed[c.public_id] for c in queued] == [c.queue_position() for c in queued]
    assert all(v is None for k, v in listed.items() if k not in {c.public_id for c in queued})


@pytest.mark.django_db
def test_the_list_s_query_is_served_by_the_workspace_and_queue_indexes(owner):
    if connection.vendor != "sqlite":
        pytest.skip("the plan's wording is SQLite's; PostgreSQL picks by table size")
    queryset = (
        Composition.objects.visible_to(owner.current_workspace)
        .with_queue_position()
        .order_by("-created_at", "-id")[:20]
    )
    plan = queryset.explain()
    assert "USING INDEX cmp_ws_recent" in plan
    assert "USING INDEX cmp_ws_queued" in plan
    assert "SCAN compositions_composition" not in plan


@pytest.mark.django_db
def test_a_page_reads_the_catalogue_a_few_times_not_once_per_composition(owner, monkeypatch):
    from catalogue import registry

    api = token_client(owner)
    fill_workspace(owner, 60)
    reads = []
    real = registry.models
    monkeypatch.setattr(registry, "models", lambda: reads.append(1) or real())
    assert api.get("/api/v1/compositions", {"limit": "50"}).status_code == 200
    assert len(reads) <= 5, len(reads)  # the serializer's choices and one per model listed
