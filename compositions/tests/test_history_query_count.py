"""The history page costs the same queries with 10 or 10,000 compositions in the workspace."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from .bulk import fill_workspace

FILTERS = [{}, {"status": "running"}, {"status": "succeeded"}]


def _history_queries(client, **params) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("compositions:history"), params)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.django_db
def test_the_history_page_s_queries_do_not_grow_with_the_workspace(owner, owner_client):
    fill_workspace(owner, 10)
    owner_client.get(reverse("compositions:history"))  # the session's first use; not measured
    few = {str(params): _history_queries(owner_client, **params) for params in FILTERS}

    fill_workspace(owner, 9_990)
    for params in FILTERS:
        assert _history_queries(owner_client, **params) == few[str(params)], params
        # Older pages hold rows without files here, so a prefetch may be skipped.
        assert _history_queries(owner_client, page=300, **params) <= few[str(params)], params
