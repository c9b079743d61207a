"""Image providers, chosen by each model's `provider` in the catalogue."""

from .base import (
    ComposeRequest,
    ComposeResult,
    InputImage,
    OutputImage,
    Provider,
    ProviderError,
)
from .local import LocalCompositor

_PROVIDERS: dict[str, type[Provider]] = {"local": LocalCompositor}


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
