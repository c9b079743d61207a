"""What this deployment can run: the model catalogue, read from settings on each call."""

import math
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from .providers import has_batch_tier
from .providers.http import CircuitBreaker

IMAGE_SIZE_EDGE = {"512": 512, "1K": 1024, "2K": 2048, "4K": 4096}


@dataclass(frozen=True)
class Route:
    """One way to run a model: a provider, the provider's name for the model, its input limit."""

    provider: str
    provider_model: str
    max_images: int


@dataclass(frozen=True)
class ModelSpec:
    id: str
    provider: str
    name: str
    provider_model: str
    max_images: int
    image_sizes: tuple[str, ...]
    aspect_ratios: tuple[str, ...]
    credits_per_image: dict[str, int]
    routes: tuple[Route, ...] = ()  # in the order they are tried


def _spec(m: dict[str, Any]) -> ModelSpec:
    """One catalogue entry from settings (plain data, see bananasite/model_catalog.py)."""
    provider_model = m.get("provider_model", m["id"])
    # An entry without routes is served by its own provider alone.
    routes = m.get("routes", [(m["provider"], provider_model, m["max_images"])])
    return ModelSpec(
        id=m["id"],
        provider=m["provider"],
        name=m["name"],
        provider_model=provider_model,
        max_images=int(m["max_images"]),
        image_sizes=tuple(m["image_sizes"]),
        aspect_ratios=tuple(m["aspect_ratios"]),
        credits_per_image=dict(m.get("credits_per_image", {})),
        routes=tuple(Route(p, pm, int(limit)) for p, pm, limit in routes),
    )


def all_models() -> list[ModelSpec]:
    return [_spec(m) for m in settings.BANANASITE_MODELS]


def get_model(model_id: str) -> ModelSpec | None:
    return next((m for m in all_models() if m.id == model_id), None)


def default_model() -> ModelSpec:
    return get_model(settings.BANANASITE_DEFAULT_MODEL) or all_models()[0]


def available_routes(model: ModelSpec, *, inputs: int) -> list[Route]:
    """The routes that can take `inputs` images and whose circuit is not open, in order.

    `is_open` only looks; the single probe after a cooldown is taken (`allow`) just before a
    route is actually called, so a fallback that is never reached does not use it up. The local
    compositor has no circuit."""
    return [
        route
        for route in model.routes
        if inputs <= route.max_images
        and (route.provider == "local" or not CircuitBreaker(route.provider).is_open())
    ]


def batch_route(model: ModelSpec) -> Route | None:
    """The first of the model's routes whose provider has a batch tier (the Gemini API's
    Batch Mode), or None."""
    return next((route for route in model.routes if has_batch_tier(route.provider)), None)


def output_size(aspect_ratio: str, image_size: str) -> tuple[int, int]:
    """Pixel size for a ratio at a size class: the area of an edge² square, multiples of 16."""
    w_ratio, h_ratio = (int(p) for p in aspect_ratio.split(":"))
    edge = IMAGE_SIZE_EDGE[image_size]
    width = math.sqrt(edge * edge * w_ratio / h_ratio)
    height = width * h_ratio / w_ratio

    def snap(v: float) -> int:
        return max(16, round(v / 16) * 16)

    return snap(width), snap(height)
