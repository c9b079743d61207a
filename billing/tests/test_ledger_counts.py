"""Billing counts from its own rows: quotas, usage and per-member totals come from the ledger,
with compositions named only by their public ids."""

from datetime import UTC, date, datetime

import pytest
import time_machine
from django.db import transaction

from accounts.models import Membership
from billing.models import LedgerEntry, Plan, Wallet
from billing.services import (
    Settlement,
    estimate_credits,
    plan_problems,
    quotas_for,
    release_credits,
    reserve_credits,
    settle_credits,
)
from billing.usage import member_totals, usage_by_day

pytestmark = pytest.mark.django_db

DAY_ONE = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
DAY_TWO = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def wallet_of(user) -> Wallet:
    return Wallet.objects.select_related("plan").get(workspace=user.current_workspace)


def submit(user, ref: str, *, images: int, per_image: int = 1) -> None:
    with transaction.atomic():
        reserve_credits(
            wallet=wallet_of(user),
            composition_ref=ref,
            amount=per_image * images,
            images=images,
            user=user,
        )


def succeed(user, ref: str, *, delivered: int, requested: int, held: int) -> Settlement:
    return settle_credits(
        workspace_id=user.current_workspace_id,
        composition_ref=ref,
        held=held,
        requested_images=requested,
        delivered_images=delivered,
        user_id=user.pk,
    )


def end(user, ref: str, *, held: int, outcome: str) -> Settlement:
    return release_credits(
        workspace_id=user.current_workspace_id,
        composition_ref=ref,
        held=held,
        outcome=outcome,
        user_id=user.pk,
    )


def rows(ref: str) -> dict[str, tuple]:
    return {
        e.kind: (e.amount, e.images, e.outcome, e.created_by_id, e.reason)
        for e in LedgerEntry.objects.filter(composition_ref=ref)
    }


@pytest.fixture
def teammate(owner, make_user):
    mate = make_user("mate@example.com")
    Membership.objects.create(workspace=owner.current_workspace, user=mate)
    mate.current_workspace = owner.current_workspace
    mate.save()
    return mate


# --- prices and plan gates, without a model object -------------------------------------------


def test_the_estimate_is_the_price_at_the_size_times_the_images_and_1_when_unpriced():
    prices = {"1K": 3, "2K": 5}
    assert estimate_credits(credits_per_image=prices, image_size="2K", num_images=3) == 15
    assert estimate_credits(credits_per_image=prices, image_size="4K", num_images=2) == 2


def test_plan_problems_name_the_model_and_the_largest_size():
    plan = Plan(name="Tiny", allowed_models=["cheap"], max_image_size="1K")
    problems = plan_problems(plan=plan, model_id="pro", model_name="Pro Model", image_size="2K")
    assert problems == [
        ("model", "model_not_allowed", "The Tiny plan does not include Pro Model."),
        ("image_size", "size_not_allowed", "The Tiny plan makes images up to 1K."),
    ]
    assert plan_problems(plan=plan, model_id="cheap", model_name="Cheap", image_size="1K") == []


# --- the money path's rows -------------------------------------------------------------------


def test_settling_charges_the_price_fixed_at_submit_for_what_was_delivered(owner):
    submit(owner, "cmp_a", images=3, per_image=4)
    assert wallet_of(owner).balance == 38
    assert succeed(owner, "cmp_a", delivered=2, requested=3, held=12) == Settlement(
        charged=8, refunded=4
    )
    assert wallet_of(owner).balance == 42
    assert rows("cmp_a") == {
        "reserve": (-12, 3, "", owner.pk, "Held while the composition runs"),
        "release": (12, 0, "succeeded", owner.pk, "Hold released"),
        "capture": (-8, 2, "", owner.pk, "2 images delivered"),
    }


def test_the_charge_never_exceeds_the_hold(owner):
    submit(owner, "cmp_a", images=2, per_image=3)
    assert succeed(owner, "cmp_a", delivered=5, requested=2, held=6) == Settlement(6, 0)
    assert wallet_of(owner).balance == 44


def test_a_failed_or_canceled_composition_is_given_back_whole_and_says_how_it_ended(owner):
    submit(owner, "cmp_f", images=2, per_image=2)
    submit(owner, "cmp_c", images=1, per_image=3)
    assert end(owner, "cmp_f", held=4, outcome="failed") == Settlement(charged=0, refunded=4)
    assert end(owner, "cmp_c", held=3, outcome="canceled") == Settlement(charged=0, refunded=3)
    assert wallet_of(owner).balance == 50
    assert rows("cmp_f")["release"] == (4, 0, "failed", owner.pk, "Not charged: failed")
    assert rows("cmp_c")["release"] == (3, 0, "canceled", owner.pk, "Not charged: canceled")


def test_a_release_that_is_not_a_failure_or_cancel_is_refused(owner):
    submit(owner, "cmp_a", images=1)
    with pytest.raises(ValueError, match="succeeded"):
        end(owner, "cmp_a", held=1, outcome="succeeded")
    assert "release" not in rows("cmp_a") and wallet_of(owner).balance == 49


# --- quotas ----------------------------------------------------------------------------------


def test_failed_and_canceled_compositions_give_their_images_back_to_the_quotas(owner):
    submit(owner, "cmp_failed", images=2)
    submit(owner, "cmp_canceled", images=3)
    submit(owner, "cmp_done", images=4)
    submit(owner, "cmp_running", images=1)
    end(owner, "cmp_failed", held=2, outcome="failed")
    end(owner, "cmp_canceled", held=3, outcome="canceled")
    succeed(owner, "cmp_done", delivered=1, requested=4, held=4)  # asked for 4: 4 count
    quotas = quotas_for(wallet=wallet_of(owner), user=owner)
    assert (quotas.daily_used, quotas.monthly_used) == (5, 5)


def test_the_day_counts_my_images_and_the_month_the_whole_workspace(owner, teammate):
    with time_machine.travel(DAY_ONE, tick=False):
        submit(owner, "cmp_yesterday", images=2)
    with time_machine.travel(DAY_TWO, tick=False):
        submit(owner, "cmp_mine", images=3)
        submit(teammate, "cmp_theirs", images=4)
        mine = quotas_for(wallet=wallet_of(owner), user=owner)
        theirs = quotas_for(wallet=wallet_of(owner), user=teammate)
    assert (mine.daily_used, mine.monthly_used) == (3, 9)
    assert (theirs.daily_used, theirs.monthly_used) == (4, 9)
    with time_machine.travel(datetime(2026, 12, 1, 0, 1, tzinfo=UTC), tick=False):
        fresh = quotas_for(wallet=wallet_of(owner), user=owner)
    assert (fresh.daily_used, fresh.monthly_used) == (0, 0)


def test_another_workspace_does_not_use_up_my_quota(owner, stranger):
    submit(stranger, "cmp_stranger", images=4)
    quotas = quotas_for(wallet=wallet_of(owner), user=owner)
    assert (quotas.daily_used, quotas.monthly_used) == (0, 0)


def test_quotas_take_the_same_number_of_queries_however_many_compositions(
    owner, django_assert_num_queries
):
    wallet = wallet_of(owner)
    submit(owner, "cmp_0", images=1)
    end(owner, "cmp_0", held=1, outcome="failed")
    with django_assert_num_queries(2):
        quotas_for(wallet=wallet, user=owner)
    for i in range(1, 6):
        submit(owner, f"cmp_{i}", images=1)
        end(owner, f"cmp_{i}", held=1, outcome="canceled" if i % 2 else "failed")
    with django_assert_num_queries(2):
        assert quotas_for(wallet=wallet, user=owner).daily_used == 0


# --- usage per day and per member ------------------------------------------------------------


def test_usage_by_day_counts_compositions_failures_images_and_credits_from_the_ledger(
    owner, teammate
):
    with time_machine.travel(DAY_ONE, tick=False):
        submit(owner, "cmp_a", images=3, per_image=2)
        submit(owner, "cmp_b", images=1, per_image=2)
        submit(teammate, "cmp_c", images=2, per_image=2)
        end(owner, "cmp_b", held=2, outcome="failed")
    with time_machine.travel(DAY_TWO, tick=False):
        # cmp_a was asked for on day one and delivered on day two.
        succeed(owner, "cmp_a", delivered=2, requested=3, held=6)
        end(teammate, "cmp_c", held=4, outcome="canceled")
        days = usage_by_day(
            workspace=owner.current_workspace, start=date(2026, 11, 19), end=date(2026, 11, 21)
        )
        mine = usage_by_day(
            workspace=owner.current_workspace,
            start=date(2026, 11, 20),
            end=date(2026, 11, 21),
            user=teammate,
        )
    as_tuples = [(d.date.day, d.compositions, d.failed, d.images, d.credits) for d in days]
    assert as_tuples == [(19, 0, 0, 0, 0), (20, 3, 1, 0, 0), (21, 0, 0, 2, 4)]
    assert [(d.compositions, d.failed, d.images, d.credits) for d in mine] == [
        (1, 0, 0, 0),
        (0, 0, 0, 0),
    ]


def test_usage_is_only_about_the_workspace_asked_for(owner, stranger):
    submit(stranger, "cmp_s", images=2)
    succeed(stranger, "cmp_s", delivered=2, requested=2, held=2)
    today = datetime.now(UTC).date()
    days = usage_by_day(workspace=owner.current_workspace, start=today, end=today)
    assert (days[0].compositions, days[0].images, days[0].credits) == (0, 0, 0)
    assert member_totals(workspace=owner.current_workspace, start=today, end=today) == []


def test_member_totals_per_person_by_email_adding_up_to_the_days(owner, teammate):
    with time_machine.travel(DAY_ONE, tick=False):
        submit(teammate, "cmp_t1", images=2, per_image=3)
        submit(owner, "cmp_o1", images=2)
        submit(owner, "cmp_o2", images=1)
        succeed(teammate, "cmp_t1", delivered=2, requested=2, held=6)
        succeed(owner, "cmp_o1", delivered=1, requested=2, held=2)
        end(owner, "cmp_o2", held=1, outcome="failed")
        totals = member_totals(
            workspace=owner.current_workspace, start=DAY_ONE.date(), end=DAY_ONE.date()
        )
        days = usage_by_day(
            workspace=owner.current_workspace, start=DAY_ONE.date(), end=DAY_ONE.date()
        )
    assert totals == [
        {"email": "mate@example.com", "compositions": 1, "failed": 0, "credits": 6, "images": 2},
        {"email": "owner@example.com", "compositions": 2, "failed": 1, "credits": 1, "images": 1},
    ]
    for key in ("compositions", "failed", "credits", "images"):
        assert sum(m[key] for m in totals) == sum(getattr(d, key) for d in days)


def test_member_totals_keep_a_deleted_account_under_no_email(owner, teammate):
    submit(teammate, "cmp_t", images=1)
    succeed(teammate, "cmp_t", delivered=1, requested=1, held=1)
    teammate.delete()
    today = datetime.now(UTC).date()
    totals = member_totals(workspace=owner.current_workspace, start=today, end=today)
    assert totals == [
        {"email": None, "compositions": 1, "failed": 0, "credits": 1, "images": 1},
    ]
