"""What this deployment can run: the model catalogue, read from settings on each call."""

import math
from dataclasses import dataclass

from django.conf import settings

IMAGE_SIZE_EDGE = {"512": 512, "1K": 1024, "2K": 2048, "4K": 4096}


@dataclass(frozen=True)
class ModelSpec:
    id: str
    provider: str
    name: str
    provider_model: str
    max_images: int
    image_sizes: tuple[str, ...]
    aspect_ratios: tuple[str, ...]
    credits_per_image: dict
    # (provider, the provider's model name, its input limit), in the order they are tried
    routes: tuple[tuple[str, str, int], ...] = ()


def all_models() -> list[ModelSpec]:
    return [
        ModelSpec(
            id=m["id"],
            provider=m["provider"],
            name=m["name"],
            provider_model=m.get("provider_model", m["id"]),
            max_images=int(m["max_images"]),
            image_sizes=tuple(m["image_sizes"]),
            aspect_ratios=tuple(m["aspect_ratios"]),
            credits_per_image=dict(m.get("credits_per_image", {})),
            routes=tuple(
                tuple(r)
                for r in m.get(
                    "routes",
                    [(m["provider"], m.get("provider_model", m["id"]), int(m["max_images"]))],
                )
            ),
        )
        for m in settings.BANANASITE_MODELS
    ]


def get_model(model_id: str) -> ModelSpec | None:
    return next((m for m in all_models() if m.id == model_id), None)


def default_model() -> ModelSpec:
    return get_model(settings.BANANASITE_DEFAULT_MODEL) or all_models()[0]


def output_size(aspect_ratio: str, image_size: str) -> tuple[int, int]:
    """Pixel size for a ratio at a size class: the area of an edge² square, multiples of 16."""
    w_ratio, h_ratio = (int(p) for p in aspect_ratio.split(":"))
    edge = IMAGE_SIZE_EDGE[image_size]
    width = math.sqrt(edge * edge * w_ratio / h_ratio)
    height = width * h_ratio / w_ratio

    def snap(v: float) -> int:
        return max(16, round(v / 16) * 16)

    return snap(width), snap(height)
