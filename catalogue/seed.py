"""The catalogue the data migration writes (0002_seed): today's models as of 2026-12, from
shared/design/providers.md. Frozen like a migration: change the catalogue in the admin (or with
a new data migration), not here. Dates are the Gemini API deprecations page's; prices in USD are
the per-image figures in providers.md §1 (Batch Mode is half of them)."""

from typing import Any

ASPECT_RATIOS = ["1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"]
AIML_RATIOS = ["1:1", "9:16", "16:9", "3:4", "4:3"]
WIDE_RATIOS = [*ASPECT_RATIOS, "1:4", "4:1", "1:8", "8:1"]
# Google Search grounding for Gemini 3 image models: per search query (operators edit this).
GROUNDING = {"grounding_credits_per_search": 2, "grounding_usd_per_search": "0.0140"}
GEMINI3_OPTIONS = {"grounding": True, "thinking_levels": ["minimal", "high"]}

MODELS: list[dict[str, Any]] = [
    {
        "id": "nano-banana-2",
        "name": "Nano Banana 2 (Gemini 3.1 Flash Image)",
        "aliases": ["gemini-3.1-flash-image", "nb2"],
        "lifecycle": "ga",
        "max_images": 14,
        "image_sizes": ["512", "1K", "2K", "4K"],
        "aspect_ratios": WIDE_RATIOS,
        "credits_per_image": {"512": 4, "1K": 6, "2K": 9, "4K": 14},
        **GROUNDING,
        "options": {**GEMINI3_OPTIONS, "match_input_aspect": True},
        "usd": {"512": "0.045", "1K": "0.067", "2K": "0.101", "4K": "0.151"},
        "providers": [
            ("gemini", "gemini-3.1-flash-image", {}),
            ("vertex", "gemini-3.1-flash-image", {}),
            ("openrouter", "google/gemini-3.1-flash-image", {}),
            ("runware", "google:4@3", {}),
            (
                "aimlapi",
                "google/nano-banana-2",
                {"max_images": 5, "image_sizes": ["1K", "2K", "4K"], "aspect_ratios": AIML_RATIOS},
            ),
        ],
    },
    {
        "id": "nano-banana-pro",
        "name": "Nano Banana Pro (Gemini 3 Pro Image)",
        "aliases": ["gemini-3-pro-image"],
        "lifecycle": "ga",
        "max_images": 14,
        "image_sizes": ["1K", "2K", "4K"],
        "aspect_ratios": ASPECT_RATIOS,
        "credits_per_image": {"1K": 14, "2K": 14, "4K": 24},
        **GROUNDING,
        "options": {**GEMINI3_OPTIONS, "match_input_aspect": True},
        "usd": {"1K": "0.134", "2K": "0.134", "4K": "0.24"},
        "providers": [
            ("gemini", "gemini-3-pro-image", {}),
            ("vertex", "gemini-3-pro-image", {}),
            ("openrouter", "google/gemini-3-pro-image-preview", {}),
            ("runware", "google:4@2", {}),
            (
                "aimlapi",
                "google/gemini-3-pro-image-edit",
                {"max_images": 5, "aspect_ratios": AIML_RATIOS},
            ),
        ],
    },
    {
        # Shut down on the Gemini API's date; a request for it names Nano Banana 2.
        "id": "nano-banana",
        "name": "Nano Banana (Gemini 2.5 Flash Image)",
        "aliases": ["gemini-2.5-flash-image"],
        "lifecycle": "deprecated",
        "shutdown_date": "2026-10-02",
        "successor": "nano-banana-2",
        "max_images": 3,  # Vertex documents 3 inputs at most; AIML caps it at 3 too
        "image_sizes": ["1K"],
        "aspect_ratios": ASPECT_RATIOS,
        "credits_per_image": {"1K": 4},
        "options": {"match_input_aspect": True},
        "usd": {"1K": "0.039"},
        "providers": [
            ("gemini", "gemini-2.5-flash-image", {}),
            ("vertex", "gemini-2.5-flash-image", {}),
            ("openrouter", "google/gemini-2.5-flash-image", {}),
            ("runware", "google:4@1", {}),
            ("aimlapi", "google/nano-banana-edit", {"aspect_ratios": AIML_RATIOS}),
        ],
    },
    {
        "id": "nano-banana-2-preview",
        "name": "Nano Banana 2 preview (Gemini 3.1 Flash Image Preview)",
        "aliases": ["gemini-3.1-flash-image-preview"],
        "lifecycle": "shut_down",
        "shutdown_date": "2026-06-25",
        "successor": "nano-banana-2",
        "max_images": 14,
        "image_sizes": ["512", "1K", "2K", "4K"],
        "aspect_ratios": WIDE_RATIOS,
        "credits_per_image": {"512": 4, "1K": 6, "2K": 9, "4K": 14},
        "options": {},
        "usd": {},
        "providers": [("gemini", "gemini-3.1-flash-image-preview", {})],
    },
    {
        "id": "nano-banana-pro-preview",
        "name": "Nano Banana Pro preview (Gemini 3 Pro Image Preview)",
        "aliases": ["gemini-3-pro-image-preview"],
        "lifecycle": "shut_down",
        "shutdown_date": "2026-06-25",
        "successor": "nano-banana-pro",
        "max_images": 14,
        "image_sizes": ["1K", "2K", "4K"],
        "aspect_ratios": ASPECT_RATIOS,
        "credits_per_image": {"1K": 14, "2K": 14, "4K": 24},
        "options": {},
        "usd": {},
        "providers": [("gemini", "gemini-3-pro-image-preview", {})],
    },
    {
        "id": "local",
        "name": "Local compositor (offline, no AI)",
        "aliases": [],
        "lifecycle": "ga",
        "max_images": 14,
        "image_sizes": ["512", "1K", "2K", "4K"],
        "aspect_ratios": ASPECT_RATIOS,
        "credits_per_image": {"512": 1, "1K": 1, "2K": 1, "4K": 1},
        "options": {"match_input_aspect": True},
        "usd": {"512": "0", "1K": "0", "2K": "0", "4K": "0"},
        "providers": [("local", "local", {})],
    },
]


REFERENCE_LIMITS = {
    "nano-banana-2": {"objects": 10, "characters": 4},
    "nano-banana-pro": {"objects": 6, "characters": 5},
}


def limits_of(image_model: Any, m: dict[str, Any]) -> dict[str, Any]:
    """The reference limits, for the model classes that have the field (migration 0003 on)."""
    names = {f.name for f in image_model._meta.get_fields()}
    if "reference_limits" not in names:
        return {}
    return {"reference_limits": REFERENCE_LIMITS.get(m["id"], {})}


def seed(image_model: Any, provider_model: Any) -> None:
    """Write the catalogue with the given model classes (a migration passes its historical
    ones); models already there are left alone."""
    if image_model.objects.exists():
        return
    for position, m in enumerate(MODELS):
        image_model.objects.create(
            id=m["id"],
            name=m["name"],
            aliases=m["aliases"],
            position=position,
            lifecycle=m["lifecycle"],
            shutdown_date=m.get("shutdown_date"),
            max_images=m["max_images"],
            image_sizes=m["image_sizes"],
            aspect_ratios=m["aspect_ratios"],
            credits_per_image=m["credits_per_image"],
            grounding_credits_per_search=m.get("grounding_credits_per_search", 0),
            grounding_usd_per_search=m.get("grounding_usd_per_search", "0"),
            options=m["options"],
            **limits_of(image_model, m),
        )
        for order, (provider, name, limits) in enumerate(m["providers"]):
            usd = {s: p for s, p in m["usd"].items() if s in limits.get("image_sizes", m["usd"])}
            provider_model.objects.create(
                model_id=m["id"],
                provider=provider,
                provider_model=name,
                max_images=limits.get("max_images"),
                image_sizes=limits.get("image_sizes", []),
                aspect_ratios=limits.get("aspect_ratios", []),
                usd_per_image=usd,
                position=order,
            )
    for m in MODELS:
        if m.get("successor"):
            image_model.objects.filter(id=m["id"]).update(successor_id=m["successor"])
