"""The rules a composition meets on the way in, owned by moderation and asked by compositions.

Nothing here knows about compositions: the caller hands in what a rule needs (the prompt, the
photos' hashes, how many compositions the person has made). Compositions import this module;
the moderators' actions (services, queue, admin) sit above compositions and import them."""

import enum
import unicodedata
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from .models import BlockedHash, ProviderRefusal

ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)


# --- Prompt terms ------------------------------------------------------------------------------


def normalise_for_policy(text: str) -> str:
    """Text as the blocked-terms policy sees it: compatibility forms folded (NFKC, so
    full-width and ligature tricks fail), case folded, zero-width characters removed,
    punctuation and spacing collapsed to single spaces."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(ZERO_WIDTH)
    return " ".join("".join(ch if ch.isalnum() else " " for ch in text).split())


def contains_term(text: str, terms: Iterable[str]) -> str | None:
    """The first of `terms` (words or phrases) the text contains as whole words, if any."""
    haystack = f" {normalise_for_policy(text)} "
    for term in terms:
        needle = normalise_for_policy(term)
        if needle and f" {needle} " in haystack:
            return term
    return None


def blocked_term(prompt: str) -> str | None:
    """The first configured blocked term (a word or phrase) the prompt contains, if any."""
    return contains_term(prompt, settings.BANANASITE_BLOCKED_TERMS)


def flagged_term(prompt: str) -> str | None:
    """The first configured flagged term in the prompt (matched like blocked terms)."""
    return contains_term(prompt, settings.BANANASITE_FLAGGED_TERMS)


# --- Photos like removed content ---------------------------------------------------------------


class Verdict(enum.Enum):
    OK = "ok"
    HOLD = "hold"  # close to removed content: stored, and its compositions wait for review
    BLOCK = "block"  # a copy of removed content: refused, nothing stored


def distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def blocked_hashes() -> list[int]:
    """The hashes of removed content, read once per request and compared in Python: the list
    holds what moderators removed (thousands of rows, not millions); a BK-tree or a database
    extension is the next step if that changes."""
    return [int(h, 16) for h in BlockedHash.objects.values_list("phash", flat=True) if h]


def nearest_blocked(phash: str, blocked: list[int]) -> int | None:
    """Bits between this hash and the closest hash of removed content (None: none close)."""
    if not phash or not blocked:
        return None
    value = int(phash, 16)
    bits = min((value ^ other).bit_count() for other in blocked)
    limit = max(settings.BANANASITE_HASH_BLOCK_DISTANCE, settings.BANANASITE_HASH_HOLD_DISTANCE)
    return bits if bits <= limit else None


def hash_verdict(phash: str, blocked: list[int]) -> Verdict:
    """What to do with a photo, by its likeness to removed content."""
    bits = nearest_blocked(phash, blocked)
    if bits is None:
        return Verdict.OK
    if bits <= settings.BANANASITE_HASH_BLOCK_DISTANCE:
        return Verdict.BLOCK
    if bits <= settings.BANANASITE_HASH_HOLD_DISTANCE:
        return Verdict.HOLD
    return Verdict.OK


# --- Held for review ---------------------------------------------------------------------------


def recent_refusals(*, user_id: int) -> int:
    since = timezone.now() - timedelta(hours=settings.BANANASITE_REFUSAL_WINDOW_HOURS)
    return ProviderRefusal.objects.filter(user_id=user_id, created_at__gte=since).count()


def hold_reasons(
    *,
    user_id: int | None,
    compositions_made: int,
    prompt: str,
    held_inputs: list[str],
    people_preset: bool,
    consent: bool,
) -> list[str]:
    """Why this composition should wait for a moderator; empty when it may run at once.

    `compositions_made` is how many of the person's earlier compositions count towards the
    new-account hold: those that ran or that a moderator approved, never ones still held,
    rejected or canceled before they started (else a few throwaways would end the hold);
    `held_inputs` the public ids of its photos that are held. The texts are for moderators
    (the queue shows them); the person is told only that the composition is held for a
    review."""
    reasons = []
    first = settings.BANANASITE_HOLD_FIRST_COMPOSITIONS
    if first and user_id is not None and compositions_made < first:
        reasons.append(f"New account: composition {compositions_made + 1} of the first {first}.")
    term = flagged_term(prompt)
    if term:
        reasons.append(f"Flagged prompt term: “{term}”.")
    if held_inputs:
        reasons.append(f"Input close to removed content: {', '.join(held_inputs)}.")
    threshold = settings.BANANASITE_HOLD_AFTER_REFUSALS
    if threshold and user_id is not None:
        refusals = recent_refusals(user_id=user_id)
        if refusals >= threshold:
            reasons.append(
                f"{refusals} provider refusals in the last "
                f"{settings.BANANASITE_REFUSAL_WINDOW_HOURS} hours."
            )
    if people_preset and not consent:
        reasons.append("People preset without the consent statement.")
    return reasons


def record_refusal(*, user_id: int | None, composition_ref: str, provider: str) -> None:
    """A provider refused this person's work: counted per account, so deleting the
    composition does not reset the count."""
    if user_id is not None:
        ProviderRefusal.objects.create(
            user_id=user_id, composition_id=composition_ref, provider=provider
        )
