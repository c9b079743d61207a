import json

import pytest
from django.urls import reverse

from billing.models import Plan, Wallet
from billing.services import grant_credits
from compositions.tasks import run_composition
from compositions.tests.factories import compose

pytestmark = pytest.mark.django_db


def test_usage_page_shows_balance_quotas_chart_and_ledger(owner, owner_client):
    Plan.objects.filter(code="free").update(daily_images_per_member=10)
    composition = compose(owner, num_images=2)
    run_composition(composition.public_id)
    response = owner_client.get(reverse("billing:usage"))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<span class="stat-value" id="balance">48</span>' in html
    assert "2 of 10" in html  # images today
    assert response.context["daily_percent"] == 20
    days = response.context["days"]
    assert len(days) == 30 and days[-1].images == 2 and days[-1].credits == 2
    assert html.count('class="bar-images"') == 30
    assert response.context["images_chart"]["bars"][-1]["h"] > 0
    kinds = {e.kind for e in response.context["ledger"].object_list}
    assert kinds == {"grant", "reserve", "release", "capture"}
    assert composition.public_id in html


def test_usage_page_is_only_about_my_workspace(owner, stranger, stranger_client):
    composition = compose(owner)
    run_composition(composition.public_id)
    html = stranger_client.get(reverse("billing:usage")).content.decode()
    assert composition.public_id not in html
    assert '<span class="stat-value" id="balance">50</span>' in html


def test_ledger_paginates(owner, owner_client):
    wallet = Wallet.objects.get(workspace=owner.current_workspace)
    for i in range(25):
        grant_credits(wallet=wallet, amount=1, reason=f"bonus {i}")
    first = owner_client.get(reverse("billing:usage")).context["ledger"]
    second = owner_client.get(reverse("billing:usage"), {"page": 2}).context["ledger"]
    assert len(first.object_list) == 20 and len(second.object_list) == 6
    assert first.object_list[0].reason == "bonus 24"


def test_composer_shows_balance_and_prices_for_the_estimate(owner_client):
    response = owner_client.get(reverse("compositions:compose"))
    html = response.content.decode()
    assert 'data-balance="50"' in html
    limits = json.loads(html.split('id="model-limits" type="application/json">')[1].split("<")[0])
    # (PostgreSQL's jsonb keeps keys in its own order: compare data, not text.)
    assert limits["local"]["prices"] == {"512": 1, "1K": 1, "2K": 1, "4K": 1}
    # The free plan stops at 2K: the composer does not offer 4K for its models.
    assert limits["local"]["image_sizes"] == ["512", "1K", "2K"]


def test_anonymous_cannot_see_usage(client):
    response = client.get(reverse("billing:usage"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
