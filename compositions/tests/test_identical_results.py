"""An image identical to one an earlier composition of the workspace made from the same inputs
is not charged again: the composition succeeds, its hold is released, a note says why."""

import pytest

from billing.models import LedgerEntry, Wallet
from compositions import tasks
from compositions.providers.base import ComposeResult, OutputImage
from compositions.services import create_variation
from conftest import sample_bytes

from .factories import compose

pytestmark = pytest.mark.django_db


@pytest.fixture
def fixed_seed(monkeypatch):
    """Every composition gets the same seed, so the local compositor repeats its picture for
    the same inputs (as a provider that ignores seeds, or caches, would)."""
    monkeypatch.setattr("compositions.pipeline.seed_for", lambda composition: 7)


def balance(user):
    return Wallet.objects.get(workspace=user.current_workspace).balance


def entries(composition):
    return list(
        LedgerEntry.objects.filter(composition_ref=composition.public_id)
        .order_by("id")
        .values_list("kind", "amount", "outcome", "reason")
    )


def run(composition):
    assert tasks.run_composition(composition.public_id) == "succeeded"
    composition.refresh_from_db()
    return composition


def test_an_identical_result_is_not_charged_and_says_so(owner, fixed_seed):
    first = run(compose(owner))
    assert first.credits_charged > 0
    before = balance(owner)
    again = create_variation(source=first, user=owner)
    held = again.credits_reserved
    assert held > 0 and balance(owner) == before - held  # held while it runs
    again = run(again)
    assert again.status == "succeeded"
    assert again.results.get().sha256 == first.results.get().sha256
    assert (again.credits_charged, again.credits_refunded) == (0, held)
    assert balance(owner) == before  # the wallet is as it was
    assert entries(again) == [
        ("reserve", -held, "", "Held while the composition runs"),
        ("release", held, "succeeded", f"Not charged: identical to {first.public_id}"),
    ]
    assert f"Identical to {first.public_id}: not charged." in again.text


def test_a_real_variation_differs_and_is_charged(owner):
    first = run(compose(owner))
    before = balance(owner)
    variation = run(create_variation(source=first, user=owner))
    assert variation.results.get().sha256 != first.results.get().sha256
    assert variation.credits_charged == variation.credits_reserved > 0
    assert balance(owner) == before - variation.credits_charged
    assert [kind for kind, *_ in entries(variation)] == ["reserve", "release", "capture"]
    assert "not charged" not in variation.text


def test_only_the_repeated_images_of_a_composition_are_free(owner, fixed_seed):
    first = run(compose(owner))
    before = balance(owner)
    both = run(create_variation(source=first, user=owner, num_images=2))
    digests = list(both.results.values_list("sha256", flat=True))
    assert digests[0] == first.results.get().sha256 and digests[1] not in digests[:1]
    per_image = both.credits_reserved // 2
    assert (both.credits_charged, both.credits_refunded) == (per_image, per_image)
    assert balance(owner) == before - per_image
    assert f"1 of 2 images identical to {first.public_id}: not charged." in both.text


def test_the_same_picture_in_another_workspace_is_charged(owner, stranger, fixed_seed):
    mine = run(compose(owner))
    theirs = run(compose(stranger))
    assert theirs.results.get().sha256 == mine.results.get().sha256
    assert theirs.credits_charged == theirs.credits_reserved > 0
    assert "not charged" not in theirs.text


def test_the_same_picture_from_other_inputs_is_charged(owner, monkeypatch):
    # A provider that answers every request with one picture, whatever the photos.
    picture = sample_bytes("rocket.jpg")

    def same_picture(self, request, progress=None):
        return ComposeResult(images=[OutputImage(picture, "image/jpeg")], text="", usage={})

    monkeypatch.setattr("compositions.providers.local.LocalCompositor.compose", same_picture)
    first = run(compose(owner, samples=("chelsea.png", "coffee.png")))
    other = run(compose(owner, samples=("astronaut.png", "coffee.png")))
    assert other.results.get().sha256 == first.results.get().sha256
    assert other.credits_charged == other.credits_reserved > 0
    reworded = run(compose(owner, samples=("astronaut.png", "coffee.png"), prompt="Another idea"))
    assert reworded.credits_charged == reworded.credits_reserved > 0  # another prompt
    # ...while the same photos with the same prompt again are not charged.
    again = run(compose(owner, samples=("astronaut.png", "coffee.png")))
    assert (again.credits_charged, again.credits_refunded) == (0, again.credits_reserved)


def test_the_same_picture_with_other_model_options_is_charged(owner, fixed_seed):
    from compositions.models import Composition

    first = run(compose(owner))
    # The local compositor has no options: record one on the earlier composition, as a model
    # that thinks harder would have.
    Composition.objects.filter(pk=first.pk).update(model_options={"thinking_level": "high"})
    other = run(compose(owner))
    assert other.results.get().sha256 == first.results.get().sha256
    assert other.credits_charged == other.credits_reserved > 0
    assert "not charged" not in other.text
