"""The catalogue as plain data, read once and kept in the shared cache (every process sees an
edit at once: a save or delete clears the key, `signals.py`). Compositions and the API read it
through `compositions.catalog`, which adds what this deployment has configured."""

from typing import Any

from django.core.cache import cache
from django.db import transaction

from .models import ImageModel

CACHE_KEY = "catalogue:models:v2"
# A safety net for changes that bypass the models (raw SQL, a restored backup).
CACHE_SECONDS = 300


def invalidate() -> None:
    cache.delete(CACHE_KEY)
    # A change inside a transaction: a reader between the delete and the commit may have cached
    # the old rows again, so clear once more when it commits.
    transaction.on_commit(lambda: cache.delete(CACHE_KEY))


def models() -> list[dict[str, Any]]:
    """Every model in the catalogue, in order, each with its providers in order."""
    data = cache.get(CACHE_KEY)
    if data is None:
        data = _load()
        cache.set(CACHE_KEY, data, CACHE_SECONDS)
    return data


def _load() -> list[dict[str, Any]]:
    return [
        {
            "id": m.id,
            "name": m.name,
            "aliases": list(m.aliases),
            "lifecycle": m.lifecycle,
            "shutdown_date": m.shutdown_date.isoformat() if m.shutdown_date else None,
            "successor": m.successor_id,
            "max_images": m.max_images,
            "image_sizes": list(m.image_sizes),
            "aspect_ratios": list(m.aspect_ratios),
            "credits_per_image": dict(m.credits_per_image),
            "batch_discount": str(m.batch_discount),
            "grounding_credits_per_search": m.grounding_credits_per_search,
            "grounding_usd_per_search": str(m.grounding_usd_per_search),
            "options": dict(m.options),
            "reference_limits": dict(m.reference_limits),
            "providers": [
                {
                    "provider": p.provider,
                    "provider_model": p.provider_model,
                    "max_images": p.max_images or m.max_images,
                    "image_sizes": [
                        s for s in m.image_sizes if s in (p.image_sizes or m.image_sizes)
                    ],
                    "aspect_ratios": [
                        r for r in m.aspect_ratios if r in (p.aspect_ratios or m.aspect_ratios)
                    ],
                    "usd_per_image": dict(p.usd_per_image),
                }
                for p in m.providers.all()
            ],
        }
        for m in ImageModel.objects.prefetch_related("providers")
    ]
