from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule

from accounts.models import Membership
from accounts.services import create_team, switch_workspace
from billing.models import Plan, Wallet
from billing.services import QuotaExceeded, grant_monthly_credits
from compositions.lifecycle import cancel_composition, fail_composition
from compositions.models import Composition
from compositions.services import delete_composition
from compositions.tasks import run_composition
from compositions.tests.factories import compose

pytestmark = pytest.mark.django_db


def set_plan(**changes):
    Plan.objects.filter(code="free").update(**changes)


def test_daily_quota_per_member_with_retry_after_at_midnight(owner):
    set_plan(daily_images_per_member=3)
    with time_machine.travel(datetime(2026, 11, 22, 21, 0, tzinfo=UTC), tick=False):
        compose(owner, num_images=2)
        compose(owner, num_images=1)
        with pytest.raises(QuotaExceeded) as exc:
            compose(owner, num_images=1)
    assert exc.value.code == "daily_quota_exceeded" and exc.value.status == 429
    assert exc.value.retry_after == 3 * 3600 + 1
    assert "3 images a day" in exc.value.message and "0 left" in exc.value.message
    with time_machine.travel(datetime(2026, 11, 23, 0, 1, tzinfo=UTC), tick=False):
        compose(owner, num_images=1)  # a new day


def test_daily_quota_is_per_member_and_monthly_quota_per_workspace(owner, make_user):
    set_plan(daily_images_per_member=2, monthly_images_per_workspace=3)
    teammate = make_user("mate@example.com")
    Membership.objects.create(workspace=owner.current_workspace, user=teammate)
    teammate.current_workspace = owner.current_workspace
    teammate.save()
    compose(owner, num_images=2)
    compose(teammate, num_images=1)  # the teammate has their own daily count
    with pytest.raises(QuotaExceeded) as exc:
        compose(teammate, num_images=1)
    assert exc.value.code == "monthly_quota_exceeded"


def test_failed_and_canceled_compositions_give_their_images_back(owner):
    set_plan(daily_images_per_member=2)
    first = compose(owner, num_images=2)
    with pytest.raises(QuotaExceeded):
        compose(owner, num_images=1)
    fail_composition(composition=first, code="provider_error", message="x")
    second = compose(owner, num_images=2)
    cancel_composition(composition=second)
    compose(owner, num_images=2)
    with pytest.raises(QuotaExceeded):
        compose(owner, num_images=1)


def test_deleting_a_composition_does_not_give_its_images_back(owner):
    set_plan(daily_images_per_member=2)
    made = compose(owner, num_images=2)
    run_composition(made.public_id)
    delete_composition(composition=Composition.objects.get(pk=made.pk))
    assert not Composition.objects.exists()
    with pytest.raises(QuotaExceeded) as exc:
        compose(owner, num_images=1)
    assert exc.value.code == "daily_quota_exceeded"


def test_over_quota_in_the_browser_is_a_clear_message(owner, owner_client, uploaded):
    set_plan(daily_images_per_member=1)
    response = owner_client.post(
        reverse("compositions:compose"),
        {
            "prompt": "combine",
            "preset": "none",
            "style": "natural",
            "model": "local",
            "aspect_ratio": "1:1",
            "image_size": "1K",
            "num_images": "2",
            "images": [uploaded(sample="chelsea.png"), uploaded(sample="coffee.png")],
        },
    )
    assert response.status_code == 400
    assert "You can make 1 images a day on this plan and have 1 left today" in (
        response.content.decode()
    )


def test_a_workspace_runs_at_most_its_plan_limit_and_the_rest_wait_in_order(owner):
    set_plan(concurrent_compositions=1)
    first, second, third = (compose(owner, prompt=f"n{i}") for i in range(3))
    assert first.claim()  # a worker is busy with the first
    assert run_composition(third.public_id) == "nothing to do"
    second.refresh_from_db()
    third.refresh_from_db()
    assert second.status == third.status == "queued"
    assert (second.queue_position(), third.queue_position()) == (1, 2)


def test_a_freed_slot_starts_the_oldest_waiting_one(owner, django_capture_on_commit_callbacks):
    set_plan(concurrent_compositions=1)
    first, second = compose(owner, prompt="a"), compose(owner, prompt="b")
    with django_capture_on_commit_callbacks(execute=True):
        # The task for the *second* runs the first (oldest first); finishing it starts the next.
        assert run_composition(second.public_id) == "succeeded"
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == second.status == "succeeded"
    assert first.finished_at <= second.started_at


def test_one_busy_workspace_does_not_hold_up_another(owner, stranger):
    set_plan(concurrent_compositions=1)
    busy = [compose(owner, prompt=f"busy {i}") for i in range(3)]
    busy[0].claim()
    other = compose(stranger, prompt="other")
    # The busy workspace's task returns at once; the other workspace's task runs.
    assert run_composition(busy[1].public_id) == "nothing to do"
    assert run_composition(other.public_id) == "succeeded"


def test_the_page_shows_the_place_in_line(owner, owner_client):
    set_plan(concurrent_compositions=1)
    first, second = compose(owner), compose(owner)
    first.claim()
    data = owner_client.get(reverse("compositions:progress", args=[second.public_id])).json()
    assert data["queue_position"] == 1
    assert "Next in line" in data["waiting"]
    assert data["credits"] == {"reserved": 1, "charged": 0, "refunded": 0}


def test_monthly_grants_once_a_month_and_not_in_the_first_month(owner):
    wallet = Wallet.objects.get(workspace=owner.current_workspace)
    assert grant_monthly_credits() == 0  # opened this month: the welcome grant is enough
    next_month = wallet.created_at + timedelta(days=32)
    with time_machine.travel(next_month, tick=False):
        assert grant_monthly_credits() == 1
        assert grant_monthly_credits() == 0  # a second run in the same month grants nothing
    with time_machine.travel(next_month + timedelta(days=31), tick=False):
        assert grant_monthly_credits() == 1
    wallet.refresh_from_db()
    assert wallet.balance == 50 + 2 * wallet.plan.monthly_grant


def test_teams_on_the_free_plan_get_no_monthly_grant(owner, owner_client):
    """Anyone can open teams: a grant per Free team would mint credits (ten teams, ten grants).
    The person's own workspace keeps its grant; a team gets one on a paid plan."""
    free_teams = [create_team(owner=owner, name=f"Free {n}") for n in range(3)]
    paid_team = create_team(owner=owner, name="Paid")
    Wallet.objects.filter(workspace=paid_team).update(plan=Plan.objects.get(code="pro"))
    personal = Membership.objects.get(user=owner, workspace__kind="personal").workspace
    before = dict(Wallet.objects.values_list("workspace_id", "balance"))

    with time_machine.travel(timezone.now() + timedelta(days=32), tick=False):
        assert grant_monthly_credits() == 2
        assert grant_monthly_credits() == 0

    after = dict(Wallet.objects.values_list("workspace_id", "balance"))
    gained = {ws_id: after[ws_id] - before[ws_id] for ws_id in after}
    assert gained[personal.pk] == 25  # Free, personal: keeps its grant
    assert gained[paid_team.pk] == 500  # Pro, team
    assert [gained[team.pk] for team in free_teams] == [0, 0, 0]
    # The usage page says so rather than promising the plan's credits.
    html = owner_client.get(reverse("billing:usage")).content.decode()  # current: "Paid"
    assert "500 credits a month" in html
    switch_workspace(user=owner, workspace=free_teams[0])
    html = owner_client.get(reverse("billing:usage")).content.decode()
    assert "no monthly credits" in html and "25 credits a month" not in html


def test_the_default_plan_cannot_be_marked_paid():
    with pytest.raises(IntegrityError), transaction.atomic():
        Plan.objects.filter(code="free").update(is_paid=True)
    assert list(Plan.objects.filter(is_paid=True).values_list("code", flat=True)) == [
        "pro",
        "team",
    ]


def test_monthly_grants_are_scheduled():
    assert Schedule.objects.filter(func="billing.tasks.grant_monthly_credits").exists()


def test_queued_compositions_beyond_the_limit_are_not_refused(owner):
    set_plan(concurrent_compositions=1)
    made = [compose(owner) for _ in range(4)]
    assert all(c.status == Composition.Status.QUEUED for c in made)
