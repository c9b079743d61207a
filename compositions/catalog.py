"""What this deployment can run: the model catalogue (the `catalogue` app's rows, cached) served
by the configured providers, read on each call."""

import datetime
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.utils import timezone

from catalogue import registry

from .providers import carries_options, has_batch_tier
from .providers.http import CircuitBreaker

IMAGE_SIZE_EDGE = {"512": 512, "1K": 1024, "2K": 2048, "4K": 4096}


@dataclass(frozen=True)
class Route:
    """One way to run a model: a provider, the provider's name for the model, its input limit,
    what one image costs there (USD by size, for routing)."""

    provider: str
    provider_model: str
    max_images: int
    usd_per_image: dict[str, str] = field(default_factory=dict, hash=False, compare=False)


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
    routes: tuple[Route, ...] = ()  # in their tie-break order (routing.rank orders them)
    # {"objects": n, "characters": m}: what the model documents it keeps faithful; may be empty
    reference_limits: dict[str, int] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    lifecycle: str = "ga"  # preview, ga, deprecated, shut_down (the shutdown date applied)
    shutdown_date: datetime.date | None = None
    successor: str | None = None
    # Options as data (catalogue.models.OPTION_KEYS): grounding, thinking_levels,
    # match_input_aspect. A request for an option the model lacks is refused.
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    # The batch tier's price is credits_per_image × batch_discount (rounded up).
    batch_discount: Decimal = Decimal("0.5")
    grounding_credits_per_search: int = 0
    grounding_usd_per_search: Decimal = Decimal(0)

    @property
    def shut_down(self) -> bool:
        return self.lifecycle == SHUT_DOWN

    @property
    def deprecated(self) -> bool:
        return self.lifecycle == DEPRECATED

    def batch_credits_per_image(self, image_size: str) -> int:
        return math.ceil(self.credits_per_image[image_size] * self.batch_discount)


SHUT_DOWN, DEPRECATED = "shut_down", "deprecated"


def _spec(m: dict[str, Any]) -> ModelSpec:
    """One entry of a catalogue pinned in settings (plain data, bananasite/model_catalog.py)."""
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
        reference_limits=dict(m.get("reference_limits", {})),
        options=dict(m.get("options", {})),
        batch_discount=Decimal(str(m.get("batch_discount", "0.5"))),
        grounding_credits_per_search=int(m.get("grounding_credits_per_search", 0)),
    )


def _served(m: dict[str, Any], configured: set[str], today: datetime.date) -> ModelSpec | None:
    """A database entry (catalogue.registry) as this deployment serves it: by its configured
    providers only, within the first one's limits; None when no configured provider has it."""
    providers = [p for p in m["providers"] if p["provider"] in configured]
    shutdown = datetime.date.fromisoformat(m["shutdown_date"]) if m["shutdown_date"] else None
    lifecycle = SHUT_DOWN if shutdown and shutdown <= today else m["lifecycle"]
    if not providers and lifecycle != SHUT_DOWN:
        return None
    # A shut-down model is still known (so a request for it names its successor), never served.
    first = providers[0] if providers else {**m, "provider": "", "provider_model": ""}
    return ModelSpec(
        id=m["id"],
        provider=first["provider"],
        name=m["name"],
        provider_model=first["provider_model"],
        max_images=first["max_images"],
        image_sizes=tuple(first["image_sizes"]),
        aspect_ratios=tuple(first["aspect_ratios"]),
        credits_per_image=dict(m["credits_per_image"]),
        routes=()
        if lifecycle == SHUT_DOWN
        else tuple(
            Route(p["provider"], p["provider_model"], p["max_images"], p["usd_per_image"])
            for p in providers
        ),
        aliases=tuple(m["aliases"]),
        lifecycle=lifecycle,
        shutdown_date=shutdown,
        successor=m["successor"],
        options=dict(m["options"]),
        reference_limits=dict(m.get("reference_limits", {})),
        batch_discount=Decimal(m["batch_discount"]),
        grounding_credits_per_search=m["grounding_credits_per_search"],
        grounding_usd_per_search=Decimal(m["grounding_usd_per_search"]),
    )


def known_models() -> list[ModelSpec]:
    """Every model this deployment knows: those it serves and those shut down."""
    if settings.BANANASITE_MODELS is not None:
        return [_spec(m) for m in settings.BANANASITE_MODELS]
    configured = {*settings.BANANASITE_PROVIDERS, "local"}
    today = timezone.localdate()
    specs = (_served(m, configured, today) for m in registry.models())
    return [s for s in specs if s is not None]


def all_models() -> list[ModelSpec]:
    """The models a composition may ask for (shut-down ones are left out)."""
    return [m for m in known_models() if not m.shut_down]


def find_model(name: str) -> ModelSpec | None:
    """A model by its id or one of its aliases, shut down or not."""
    models = known_models()
    return next((m for m in models if m.id == name), None) or next(
        (m for m in models if name in m.aliases), None
    )


def get_model(model_id: str) -> ModelSpec | None:
    model = find_model(model_id)
    return None if model is None or model.shut_down else model


def default_model() -> ModelSpec:
    return get_model(settings.BANANASITE_DEFAULT_MODEL) or all_models()[0]


def available_routes(model: ModelSpec, *, inputs: int, options: Iterable[str] = ()) -> list[Route]:
    """The routes that can take `inputs` images, carry the model `options` asked for
    (grounding, thinking_level) and whose circuit is not open, in order.

    `is_open` only looks; the single probe after a cooldown is taken (`allow`) just before a
    route is actually called, so a fallback that is never reached does not use it up. The local
    compositor has no circuit."""
    needs = tuple(options)
    return [
        route
        for route in model.routes
        if inputs <= route.max_images
        and carries_options(route.provider, needs)
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


def routes_carrying(model: ModelSpec, options: Iterable[str]) -> list[Route]:
    """The model's routes whose provider can carry these model options, healthy or not."""
    needs = tuple(options)
    return [route for route in model.routes if carries_options(route.provider, needs)]
