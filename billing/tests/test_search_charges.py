"""Search grounding in the hold and the capture: one search is held, the searches reported are
charged at the held price, never beyond what was held for them."""

import pytest
from django.db import transaction

from billing.models import LedgerEntry, Wallet
from billing.services import estimate_credits, reserve_credits, settle_credits

pytestmark = pytest.mark.django_db

PRICES = {"1K": 6}


def test_the_estimate_includes_the_searches_held_for():
    assert estimate_credits(credits_per_image=PRICES, image_size="1K", num_images=2) == 12
    assert (
        estimate_credits(
            credits_per_image=PRICES,
            image_size="1K",
            num_images=2,
            searches=1,
            credits_per_search=2,
        )
        == 14
    )


def settle(user, *, held, delivered, searches, requested=2):
    return settle_credits(
        workspace_id=user.current_workspace_id,
        composition_ref="cmp_s",
        held=held,
        requested_images=requested,
        delivered_images=delivered,
        user_id=user.pk,
        search_hold=2,
        searches=searches,
        credits_per_search=2,
    )


def hold(user, amount):
    with transaction.atomic():
        wallet = Wallet.objects.get(workspace=user.current_workspace)
        reserve_credits(wallet=wallet, composition_ref="cmp_s", amount=amount, images=2, user=user)


@pytest.mark.parametrize(
    "delivered, searches, charged, reason",
    [
        (2, 1, 14, "2 images delivered, 1 search"),
        (2, 2, 14, "2 images delivered, 2 searches (1 charged: capped at the hold)"),
        (1, 0, 6, "1 image delivered"),
        # The image part of the hold is divided by the images asked for, not the whole hold.
        (1, 1, 8, "1 image delivered, 1 search"),
    ],
)
def test_searches_are_charged_as_reported_and_capped_at_the_hold(
    owner, delivered, searches, charged, reason
):
    hold(owner, 14)
    settlement = settle(owner, held=14, delivered=delivered, searches=searches)
    assert settlement.charged == charged and settlement.refunded == 14 - charged
    assert Wallet.objects.get(workspace=owner.current_workspace).balance == 50 - charged
    capture = LedgerEntry.objects.get(composition_ref="cmp_s", kind="capture")
    assert capture.amount == -charged and capture.reason == reason
