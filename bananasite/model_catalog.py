"""The model catalogue as data: names, limits and credit prices per model and provider.

Providers rename models often (shared/design/providers.md §0), so all of it lives here, not in
client code. Plain Python: settings.py builds the catalogue from it at start, so nothing here
may import Django or an app.
"""

from typing import Any

ASPECT_RATIOS = ["1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"]
AIML_RATIOS = ["1:1", "9:16", "16:9", "3:4", "4:3"]
# The Nano Banana models, each under every provider's own name (providers.md §0), with the
# provider's own limits where they are narrower. The first configured provider serves a model;
# the others take over when it is unavailable or times out.
NANO_BANANA_MODELS: list[dict[str, Any]] = [
    {
        "id": "nano-banana-2",
        "name": "Nano Banana 2 (Gemini 3.1 Flash Image)",
        "max_images": 14,
        "image_sizes": ["512", "1K", "2K", "4K"],
        "aspect_ratios": [*ASPECT_RATIOS, "1:4", "4:1", "1:8", "8:1"],
        "credits_per_image": {"512": 4, "1K": 6, "2K": 9, "4K": 14},
        # What the model keeps faithful across its inputs (providers.md, "Limits"): the
        # composer's prompt linter warns past them.
        "reference_limits": {"objects": 10, "characters": 4},
        "provider_models": {
            "gemini": "gemini-3.1-flash-image",
            "vertex": "gemini-3.1-flash-image",
            "openrouter": "google/gemini-3.1-flash-image",
            "runware": "google:4@3",
            "aimlapi": "google/nano-banana-2",
        },
        "limits": {
            "aimlapi": {
                "max_images": 5,
                "image_sizes": ["1K", "2K", "4K"],
                "aspect_ratios": AIML_RATIOS,
            },
        },
    },
    {
        "id": "nano-banana-pro",
        "name": "Nano Banana Pro (Gemini 3 Pro Image)",
        "max_images": 14,
        "image_sizes": ["1K", "2K", "4K"],
        "aspect_ratios": ASPECT_RATIOS,
        "credits_per_image": {"1K": 14, "2K": 14, "4K": 24},
        "reference_limits": {"objects": 6, "characters": 5},
        "provider_models": {
            "gemini": "gemini-3-pro-image",
            "vertex": "gemini-3-pro-image",
            "openrouter": "google/gemini-3-pro-image-preview",
            "runware": "google:4@2",
            "aimlapi": "google/gemini-3-pro-image-edit",
        },
        "limits": {"aimlapi": {"max_images": 5, "aspect_ratios": AIML_RATIOS}},
    },
    {
        "id": "nano-banana",
        "name": "Nano Banana (Gemini 2.5 Flash Image)",
        "max_images": 3,  # Vertex documents 3 inputs at most; AIML caps it at 3 too
        "image_sizes": ["1K"],
        "aspect_ratios": ASPECT_RATIOS,
        "credits_per_image": {"1K": 4},
        "provider_models": {
            "gemini": "gemini-2.5-flash-image",
            "vertex": "gemini-2.5-flash-image",
            "openrouter": "google/gemini-2.5-flash-image",
            "runware": "google:4@1",
            "aimlapi": "google/nano-banana-edit",
        },
        "limits": {"aimlapi": {"aspect_ratios": AIML_RATIOS}},
    },
]
PROVIDER_ORDER = ["gemini", "vertex", "openrouter", "runware", "aimlapi"]


def build_models(providers: dict[str, Any]) -> list[dict[str, Any]]:
    """The catalogue for the configured providers: each Nano Banana model served by the first
    configured provider that has it, the others as fallbacks; the local compositor last."""
    models = []
    for model in NANO_BANANA_MODELS:
        models += _entry(model, providers)
    return [*models, LOCAL_MODEL]


def _entry(model: dict[str, Any], providers: dict[str, Any]) -> list[dict[str, Any]]:
    """The catalogue entry for one model, or nothing when no configured provider has it."""
    served_by = [p for p in PROVIDER_ORDER if p in providers]
    if not served_by:
        return []
    first = served_by[0]
    limits = model["limits"].get(first, {})
    return [
        {
            "id": model["id"],
            "name": model["name"],
            "provider": first,
            "provider_model": model["provider_models"][first],
            # (provider, the provider's name for the model, its input limit), in the order
            # they are tried; compositions.catalog reads them as Routes.
            "routes": [
                (
                    p,
                    model["provider_models"][p],
                    model["limits"].get(p, {}).get("max_images", model["max_images"]),
                )
                for p in served_by
            ],
            "max_images": limits.get("max_images", model["max_images"]),
            "image_sizes": [
                s
                for s in model["image_sizes"]
                if s in limits.get("image_sizes", model["image_sizes"])
            ],
            "aspect_ratios": [
                r
                for r in model["aspect_ratios"]
                if r in limits.get("aspect_ratios", model["aspect_ratios"])
            ],
            "credits_per_image": model["credits_per_image"],
            "reference_limits": model.get("reference_limits", {}),
        }
    ]


LOCAL_MODEL: dict[str, Any] = {
    "id": "local",
    "provider": "local",
    "name": "Local compositor (offline, no AI)",
    "provider_model": "local",
    "max_images": 14,
    "image_sizes": ["512", "1K", "2K", "4K"],
    "aspect_ratios": ASPECT_RATIOS,
    "credits_per_image": {"512": 1, "1K": 1, "2K": 1, "4K": 1},
}
