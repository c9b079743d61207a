"""The contract addition: `retention_days` on POST /api/v1/compositions, `expires_at` on the
composition, `workspace.retention_days` on GET /me."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils.dateparse import parse_datetime

from accounts.services import set_retention
from api.tests.test_api import api, assert_problem, compose_json, token  # noqa: F401
from billing.models import Wallet
from compositions.models import Composition

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)


def test_a_composition_can_ask_for_a_shorter_life_than_the_workspace(api, owner):  # noqa: F811
    set_retention(actor=owner, workspace=owner.current_workspace, days=30)
    with time_machine.travel(NOW, tick=False):
        response = compose_json(api, retention_days=7)
    assert response.status_code == 202, response.content
    body = response.json()
    assert parse_datetime(body["expires_at"]) == NOW + timedelta(days=7)
    again = api.get(f"/api/v1/compositions/{body['id']}").json()
    assert parse_datetime(again["expires_at"]) == NOW + timedelta(days=7)


def test_without_it_the_workspace_retention_sets_expires_at(api, owner):  # noqa: F811
    with time_machine.travel(NOW, tick=False):
        forever = compose_json(api).json()
    assert forever["expires_at"] is None
    set_retention(actor=owner, workspace=owner.current_workspace, days=90)
    body = api.get(f"/api/v1/compositions/{forever['id']}").json()
    assert parse_datetime(body["expires_at"]) == NOW + timedelta(days=90)
    assert api.get("/api/v1/me").json()["workspace"]["retention_days"] == 90


def test_a_longer_life_than_the_workspaces_is_refused_and_charges_nothing(api, owner):  # noqa: F811
    set_retention(actor=owner, workspace=owner.current_workspace, days=30)
    body = assert_problem(compose_json(api, retention_days=31), 400, "retention_too_long")
    assert "30 days" in body["detail"]
    assert Composition.objects.count() == 0
    assert Wallet.objects.get(workspace=owner.current_workspace).balance == 50


@pytest.mark.parametrize("value", [0, -1, 3651, True, 2.5, "forever"])
def test_bad_retention_days_are_problems(api, value):  # noqa: F811
    response = compose_json(api, retention_days=value)
    assert response.status_code == 400, (value, response.content)
    assert Composition.objects.count() == 0
