"""The operations page in the admin: the last 24 hours per provider and the queue now."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from compositions.models import Composition
from conftest import give_totp
from moderation.models import ProviderRefusal
from ops.overview import percentile, provider_days, queue_now

URL = "/admin/ops/operationsoverview/"


@pytest.fixture
def staff(make_user):
    user = make_user("staff@example.com")
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    give_totp(user)  # staff reach the admin only with two-factor sign-in
    client = Client()
    client.force_login(user)
    return client


def _ended(workspace, provider, status, *, seconds, cost=None, hours_ago=1, code=""):
    now = timezone.now() - timedelta(hours=hours_ago)
    return Composition(
        workspace=workspace,
        prompt="p",
        model="nano-banana-2",
        provider=provider,
        status=status,
        error_code=code,
        provider_started_at=now - timedelta(seconds=seconds),
        provider_finished_at=now,
        finished_at=now,
        usage={"cost_usd": cost} if cost is not None else {},
    )


@pytest.fixture
def day(owner):
    ws = owner.current_workspace
    rows = [_ended(ws, "gemini", "succeeded", seconds=s, cost=0.04) for s in range(1, 20)]
    rows.append(_ended(ws, "gemini", "failed", seconds=60, code="provider_timeout"))
    rows.append(_ended(ws, "openrouter", "failed", seconds=2, code="provider_safety_block"))
    rows.append(_ended(ws, "openrouter", "canceled", seconds=1))
    # Older than a day: not counted.
    rows.append(_ended(ws, "gemini", "failed", seconds=99, hours_ago=30))
    now = timezone.now()
    rows += [
        Composition(workspace=ws, prompt="q", model="local", provider="local", status="queued"),
        Composition(workspace=ws, prompt="q", model="local", provider="local", status="generating"),
        Composition(workspace=ws, prompt="q", model="local", provider="local", status="held"),
    ]
    Composition.objects.bulk_create(rows)
    Composition.objects.filter(status="queued").update(created_at=now - timedelta(minutes=5))
    ProviderRefusal.objects.create(user=owner, composition_id="cmp_x", provider="openrouter")
    return ws


@pytest.mark.django_db
def test_the_last_day_per_provider(day):
    days = {d.provider: d for d in provider_days(now=timezone.now())}
    gemini, openrouter = days["gemini"], days["openrouter"]
    assert (gemini.finished, gemini.succeeded, gemini.failed) == (20, 19, 1)
    assert gemini.success_rate == pytest.approx(0.95)
    assert gemini.p50_seconds == pytest.approx(10.5)
    assert 19 <= gemini.p95_seconds <= 60
    assert gemini.cost_usd == pytest.approx(19 * 0.04) and gemini.priced == 19
    assert (openrouter.finished, openrouter.succeeded, openrouter.failed) == (2, 0, 1)
    assert openrouter.success_rate == 0 and openrouter.refusals == 1
    assert openrouter.priced == 0


@pytest.mark.django_db
def test_the_queue_now(day):
    queue = queue_now(now=timezone.now())
    assert (queue.depth, queue.running, queue.held) == (1, 1, 1)
    assert 299 <= queue.oldest_seconds <= 310


def test_percentiles():
    assert percentile([], 0.5) is None
    assert percentile([3.0], 0.95) == 3.0
    assert percentile([float(v) for v in range(1, 101)], 0.5) == pytest.approx(50.5)


@pytest.mark.django_db
def test_staff_see_the_page_linked_from_the_admin_index(day, staff):
    index = staff.get(reverse("admin:index"))
    assert URL.encode() in index.content
    page = staff.get(URL)
    assert page.status_code == 200
    html = page.content.decode()
    assert "The queue now" in html and "gemini" in html and "openrouter" in html
    assert "95 %" in html and "$0.76" in html


@pytest.mark.django_db
def test_people_who_are_not_staff_never_see_it(day, owner_client):
    response = owner_client.get(URL)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert Client().get(URL).status_code == 302
