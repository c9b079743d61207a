"""Checks on the way in that decide whether a composition waits for a moderator.

Called by compositions.services while a composition is submitted; nothing here writes."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from .models import BlockedHash, ProviderRefusal


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


def flagged_term(prompt: str) -> str | None:
    """The first configured flagged term in the prompt (matched like blocked terms)."""
    from compositions.services import contains_term

    return contains_term(prompt, settings.BANANASITE_FLAGGED_TERMS)


def recent_refusals(user) -> int:
    since = timezone.now() - timedelta(hours=settings.BANANASITE_REFUSAL_WINDOW_HOURS)
    return ProviderRefusal.objects.filter(user=user, created_at__gte=since).count()


def hold_reasons(*, user, prompt: str, uploads, people_preset: bool, consent: bool) -> list[str]:
    """Why this composition should wait for a moderator; empty when it may run at once.

    The texts are for moderators (the queue shows them); the person is told only that the
    composition is held for a review."""
    from compositions.models import Composition

    reasons = []
    first = settings.BANANASITE_HOLD_FIRST_COMPOSITIONS
    if first and user is not None:
        made = Composition.objects.filter(created_by=user).count()
        if made < first:
            reasons.append(f"New account: composition {made + 1} of the first {first}.")
    term = flagged_term(prompt)
    if term:
        reasons.append(f"Flagged prompt term: “{term}”.")
    near = [u for u in uploads if u.status == u.Status.HELD]
    if near:
        reasons.append(f"Input close to removed content: {', '.join(u.public_id for u in near)}.")
    threshold = settings.BANANASITE_HOLD_AFTER_REFUSALS
    if threshold and user is not None:
        refusals = recent_refusals(user)
        if refusals >= threshold:
            reasons.append(
                f"{refusals} provider refusals in the last "
                f"{settings.BANANASITE_REFUSAL_WINDOW_HOURS} hours."
            )
    if people_preset and not consent:
        reasons.append("People preset without the consent statement.")
    return reasons


def record_refusal(composition) -> None:
    if composition.created_by_id:
        ProviderRefusal.objects.create(
            user_id=composition.created_by_id,
            composition_id=composition.public_id,
            provider=composition.provider,
        )
