"""Image providers, chosen by each model's `provider` in the catalogue."""

from collections.abc import Iterable

from .aimlapi import AimlApiProvider
from .base import (
    BatchProvider,
    ComposeRequest,
    ComposeResult,
    InputImage,
    OutputImage,
    Provider,
    ProviderError,
)
from .gemini import GeminiProvider, VertexProvider
from .local import LocalCompositor
from .openrouter import OpenRouterProvider
from .runware import RunwareProvider

_PROVIDERS: dict[str, type[Provider]] = {
    "local": LocalCompositor,
    "gemini": GeminiProvider,
    "vertex": VertexProvider,
    "openrouter": OpenRouterProvider,
    "runware": RunwareProvider,
    "aimlapi": AimlApiProvider,
}


def has_batch_tier(name: str) -> bool:
    """Whether the provider can run a composition through a batch tier (`BatchProvider`)."""
    provider = _PROVIDERS.get(name)
    return (
        provider is not None
        and issubclass(provider, BatchProvider)
        and bool(getattr(provider, "batch_tier", False))
    )


def carries_options(name: str, options: Iterable[str]) -> bool:
    """Whether the provider's wire format can carry every one of these model options."""
    provider = _PROVIDERS.get(name)
    return provider is not None and set(options) <= provider.model_options


def get_provider(name: str) -> Provider:
    try:
        return _PROVIDERS[name]()
    except KeyError:
        raise ProviderError(f"No image provider named {name!r} is configured.") from None


__all__ = [
    "ComposeRequest",
    "ComposeResult",
    "InputImage",
    "OutputImage",
    "Provider",
    "ProviderError",
    "get_provider",
]
