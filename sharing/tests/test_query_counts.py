"""The collections page costs the same number of queries with 3 collections as with 30."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from compositions.tests.factories import compose
from sharing import services

pytestmark = pytest.mark.django_db


def _collections(owner, compositions, count, *, start=0):
    for index in range(start, start + count):
        collection = services.create_collection(
            workspace=owner.current_workspace, user=owner, name=f"Collection {index:02d}"
        )
        for composition in compositions[: index % len(compositions) + 1]:
            services.add_to_collection(collection=collection, composition=composition)
        services.create_share_link(
            workspace=owner.current_workspace,
            user=owner,
            result=None,
            collection=collection,
            show_prompt=False,
            expires_on=None,
        )


def _page(client) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("sharing:collections"))
    assert response.status_code == 200
    return len(queries), response.content.decode()


def test_the_collections_page_costs_the_same_queries_for_3_and_30_collections(owner, owner_client):
    compositions = [compose(owner, prompt=f"picture {n}") for n in range(3)]
    _collections(owner, compositions, 3)
    _page(owner_client)  # warm: the session and the catalogue
    few, html = _page(owner_client)
    assert html.count("collection-row") == 3
    assert "1 composition<" in html and "3 compositions<" in html

    _collections(owner, compositions, 27, start=3)
    many, html = _page(owner_client)
    assert html.count("collection-row") == 30
    assert html.count("2 compositions<") == 10
    assert many == few
