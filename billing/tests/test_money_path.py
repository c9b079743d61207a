import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction
from django.urls import reverse

from accounts.models import User
from billing.models import LedgerEntry, Plan, Wallet
from billing.services import (
    InsufficientCredits,
    adjust_credits,
    grant_credits,
    ledger_sum,
)
from compositions.lifecycle import cancel_composition
from compositions.models import Composition, Upload
from compositions.providers.base import ProviderSafetyBlock
from compositions.providers.local import LocalCompositor
from compositions.tasks import run_composition
from compositions.tests.factories import compose
from conftest import give_totp

pytestmark = pytest.mark.django_db


def wallet_of(user) -> Wallet:
    return Wallet.objects.get(workspace=user.current_workspace)


def kinds(composition):
    return sorted(
        LedgerEntry.objects.filter(composition_ref=composition.public_id).values_list(
            "kind", "amount"
        )
    )


@pytest.fixture
def priced(db):
    """The local model at 3 credits per 1K image and 5 per 2K, so sums are telling."""
    from catalogue.models import ImageModel

    local = ImageModel.objects.get(id="local")
    local.credits_per_image = {"512": 2, "1K": 3, "2K": 5, "4K": 8}
    local.save()


def test_a_new_workspace_starts_on_the_free_plan_with_its_welcome_grant(owner):
    wallet = wallet_of(owner)
    assert wallet.plan.code == "free" and wallet.plan.is_default
    assert wallet.balance == 50 == ledger_sum(wallet)
    entry = wallet.entries.get()
    assert (
        entry.kind == "grant" and entry.reference == f"signup:{owner.current_workspace.public_id}"
    )


def test_submit_reserves_and_success_charges_what_was_delivered(owner, priced):
    composition = compose(owner, image_size="1K", num_images=2)
    assert composition.credits_reserved == 6
    assert wallet_of(owner).balance == 44
    assert kinds(composition) == [("reserve", -6)]

    run_composition(composition.public_id)
    composition.refresh_from_db()
    assert (composition.credits_charged, composition.credits_refunded) == (6, 0)
    assert kinds(composition) == [("capture", -6), ("release", 6), ("reserve", -6)]
    assert wallet_of(owner).balance == 44


def test_fewer_images_delivered_than_asked_are_all_that_is_charged(owner, priced, monkeypatch):
    real = LocalCompositor.compose

    def one_short(self, request, progress=None):
        result = real(self, request, progress)
        result.images = result.images[:-1]
        return result

    monkeypatch.setattr(LocalCompositor, "compose", one_short)
    composition = compose(owner, image_size="1K", num_images=3)
    run_composition(composition.public_id)
    composition.refresh_from_db()
    assert composition.results.count() == 2
    assert (composition.credits_charged, composition.credits_refunded) == (6, 3)
    assert wallet_of(owner).balance == 44


def test_the_price_per_image_is_fixed_at_submit(owner, priced, settings):
    composition = compose(owner, image_size="1K", num_images=2)
    assert composition.credits_reserved == 6
    from catalogue.models import ImageModel

    local = ImageModel.objects.get(id="local")  # a price change while it waits in the queue
    local.credits_per_image = {"512": 20, "1K": 30, "2K": 50, "4K": 80}
    local.save()
    run_composition(composition.public_id)
    composition.refresh_from_db()
    assert (composition.credits_charged, composition.credits_refunded) == (6, 0)
    assert wallet_of(owner).balance == 44


def test_the_ledger_says_who_asked_for_how_many_images_and_how_it_ended(owner, priced):
    done = compose(owner, image_size="1K", num_images=2)
    run_composition(done.public_id)
    canceled = compose(owner, image_size="1K", num_images=3)
    cancel_composition(composition=canceled)
    entries = LedgerEntry.objects.filter(composition_ref__in=[done.public_id, canceled.public_id])
    assert sorted(entries.values_list("composition_ref", "kind", "images", "outcome")) == sorted(
        [
            (done.public_id, "reserve", 2, ""),
            (done.public_id, "release", 0, "succeeded"),
            (done.public_id, "capture", 2, ""),
            (canceled.public_id, "reserve", 3, ""),
            (canceled.public_id, "release", 0, "canceled"),
        ]
    )
    assert set(entries.values_list("created_by", flat=True)) == {owner.pk}


def test_a_refusal_charges_nothing_and_says_so(owner, owner_client, priced, monkeypatch):
    def refuse(self, request, progress=None):
        raise ProviderSafetyBlock()

    monkeypatch.setattr("compositions.providers.local.LocalCompositor.compose", refuse)
    composition = compose(owner, image_size="1K")
    run_composition(composition.public_id)
    composition.refresh_from_db()
    assert composition.status == "failed"
    assert (composition.credits_charged, composition.credits_refunded) == (0, 3)
    assert kinds(composition) == [("release", 3), ("reserve", -3)]
    release = LedgerEntry.objects.get(composition_ref=composition.public_id, kind="release")
    assert (release.outcome, release.reason) == ("failed", "Not charged: failed")
    assert wallet_of(owner).balance == 50
    page = owner_client.get(composition.get_absolute_url()).content.decode()
    assert "You were not charged: 3 credits went back to the workspace." in page


def test_cancel_releases_everything(owner, priced):
    composition = compose(owner, image_size="1K")
    cancel_composition(composition=composition)
    assert kinds(composition) == [("release", 3), ("reserve", -3)]
    assert wallet_of(owner).balance == 50


def test_delete_of_a_running_composition_releases_its_hold(owner, owner_client, priced):
    composition = compose(owner, image_size="1K")
    owner_client.post(reverse("compositions:delete", args=[composition.public_id]))
    assert wallet_of(owner).balance == 50
    # The ledger keeps saying what the hold was for after the composition is gone.
    assert (
        sorted(
            LedgerEntry.objects.filter(kind__in=["reserve", "release"]).values_list(
                "composition_ref", flat=True
            )
        )
        == [composition.public_id] * 2
    )


def test_not_enough_credits_is_refused_before_anything_is_stored(
    owner, owner_client, uploaded, media_files, priced
):
    wallet = wallet_of(owner)
    adjust_credits(wallet=wallet, amount=-48, reason="test: leave 2")
    response = owner_client.post(
        reverse("compositions:compose"),
        {
            "prompt": "combine",
            "preset": "none",
            "style": "natural",
            "model": "local",
            "aspect_ratio": "1:1",
            "image_size": "1K",
            "num_images": "1",
            "images": [uploaded(sample="chelsea.png"), uploaded(sample="coffee.png")],
        },
    )
    assert response.status_code == 400
    assert "This composition needs 3 credits; the workspace has 2." in response.content.decode()
    assert not Composition.objects.exists() and not Upload.objects.exists()
    assert media_files() == []
    assert wallet_of(owner).balance == 2


@pytest.mark.parametrize(
    ("plan_change", "options", "message"),
    [
        ({"allowed_models": ["nano-banana-pro"]}, {}, "The Free plan does not include"),
        ({}, {"image_size": "4K"}, "The Free plan makes images up to 2K."),
    ],
)
def test_plan_gates_models_and_sizes(owner, owner_client, uploaded, plan_change, options, message):
    Plan.objects.filter(code="free").update(**plan_change)
    data = {
        "prompt": "combine",
        "preset": "none",
        "style": "natural",
        "model": "local",
        "aspect_ratio": "1:1",
        "image_size": "1K",
        "num_images": "1",
        "images": [uploaded(sample="chelsea.png"), uploaded(sample="coffee.png")],
        **options,
    }
    response = owner_client.post(reverse("compositions:compose"), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Composition.objects.exists()
    assert wallet_of(owner).balance == 50


def test_the_database_refuses_a_second_capture_or_release(owner):
    composition = compose(owner)
    run_composition(composition.public_id)
    wallet = wallet_of(owner)
    for kind, amount in (("release", 1), ("capture", -1)):
        with pytest.raises(IntegrityError), transaction.atomic():
            LedgerEntry.objects.create(
                wallet=wallet,
                kind=kind,
                amount=amount,
                composition_ref=composition.public_id,
            )


def test_the_database_refuses_a_negative_balance(owner):
    with pytest.raises(IntegrityError), transaction.atomic():
        Wallet.objects.filter(workspace=owner.current_workspace).update(balance=-1)


def test_ledger_entries_cannot_be_changed_or_deleted(owner):
    entry = wallet_of(owner).entries.get()
    entry.amount = 1000
    with pytest.raises(ValueError, match="append-only"):
        entry.save()
    with pytest.raises(ValueError, match="append-only"):
        entry.delete()
    with pytest.raises(ValueError, match="append-only"):
        type(entry).objects.filter(pk=entry.pk).update(amount=1000)
    with pytest.raises(ValueError, match="append-only"):
        type(entry).objects.all().delete()


def test_a_grant_with_a_reference_happens_once(owner):
    wallet = wallet_of(owner)
    assert grant_credits(wallet=wallet, amount=10, reason="promo", reference="promo:1")
    assert grant_credits(wallet=wallet, amount=10, reason="promo", reference="promo:1") is None
    assert wallet_of(owner).balance == 60


def test_adjustments_need_a_reason_and_never_go_below_zero(owner):
    wallet = wallet_of(owner)
    with pytest.raises(InsufficientCredits):
        adjust_credits(wallet=wallet, amount=-51, reason="too much")
    adjust_credits(wallet=wallet, amount=-50, reason="to zero")
    assert wallet_of(owner).balance == 0


def test_grant_credits_command(owner, capsys):
    slug = owner.current_workspace.slug
    call_command("grant_credits", slug, "25", "--reason", "support ticket 42")
    assert "balance is now 75" in capsys.readouterr().out
    assert wallet_of(owner).entries.filter(reason="support ticket 42", amount=25).exists()
    with pytest.raises(CommandError, match="no workspace"):
        call_command("grant_credits", "nope", "5", "--reason", "x")
    with pytest.raises(CommandError, match="below zero"):
        call_command("grant_credits", slug, "-500", "--reason", "x")


def test_admin_grants_credits_with_a_reason_and_cannot_edit_the_ledger(owner, client):
    staff = User.objects.create_superuser(email="admin@example.com", password="pw")
    give_totp(staff)  # staff reach the admin only with two-factor sign-in
    client.force_login(staff)
    wallet = wallet_of(owner)
    url = reverse("admin:billing_wallet_credits", args=[wallet.pk])
    response = client.post(url, {"amount": "15", "reason": "goodwill"})
    assert response.status_code == 302
    entry = wallet.entries.get(reason="goodwill")
    assert entry.amount == 15 and entry.created_by == staff
    response = client.post(url, {"amount": "-1000", "reason": "oops"})
    assert "below zero" in response.content.decode()
    change = reverse("admin:billing_ledgerentry_change", args=[entry.pk])
    assert client.post(change, {"amount": "999"}).status_code == 403
    assert (
        client.post(reverse("admin:billing_ledgerentry_delete", args=[entry.pk])).status_code == 403
    )
    entry.refresh_from_db()
    assert entry.amount == 15
