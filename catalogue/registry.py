"""The catalogue as plain data, read once and kept in the shared cache (every process sees an
edit at once: a save or delete clears the key, `signals.py`). Compositions and the API read it
through `compositions.catalog`, which adds what this deployment has configured."""

from typing import Any

from django.core.cache import cache
from django.db import DatabaseError, transaction

from . import seed
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
    try:
        data = cache.get(CACHE_KEY)
        if data is None:
            data = _load()
            cache.set(CACHE_KEY, data, CACHE_SECONDS)
    except DatabaseError:
        # Before `migrate` (no cache or catalogue table yet: `check --deploy`, the OpenAPI
        # schema at build time) the seed the migration will write stands in.
        return _from_seed()
    return data


def _from_seed() -> list[dict[str, Any]]:
    out = []
    for m in seed.MODELS:
        out.append(
            {
                **{k: m[k] for k in ("id", "name", "aliases", "lifecycle", "max_images")},
                **{k: list(m[k]) for k in ("image_sizes", "aspect_ratios")},
                "shutdown_date": m.get("shutdown_date"),
                "successor": m.get("successor"),
                "credits_per_image": dict(m["credits_per_image"]),
                "batch_discount": "0.5",
                "grounding_credits_per_search": m.get("grounding_credits_per_search", 0),
                "grounding_usd_per_search": m.get("grounding_usd_per_search", "0"),
                "options": dict(m["options"]),
                "providers": [
                    {
                        "provider": provider,
                        "provider_model": name,
                        "max_images": limits.get("max_images", m["max_images"]),
                        "image_sizes": limits.get("image_sizes", list(m["image_sizes"])),
                        "aspect_ratios": limits.get("aspect_ratios", list(m["aspect_ratios"])),
                        "usd_per_image": dict(m["usd"]),
                    }
                    for provider, name, limits in m["providers"]
                ],
            }
        )
    return out


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
