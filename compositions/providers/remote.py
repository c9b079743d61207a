"""What every network provider shares: configuration, the call, parallel calls, error mapping."""

import base64
import binascii
import io
import time
from abc import abstractmethod
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from django.conf import settings
from PIL import Image, UnidentifiedImageError

from bananasite.logs import carried

from ..images import FORMAT_MIME
from .base import (
    ComposeRequest,
    ComposeResult,
    InputImage,
    OutputImage,
    ProgressCallback,
    Provider,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)
from .http import Answer, ProviderHTTP

OUT_OF_CREDIT = "The image service account behind this site has run out of credit."
# The formats we keep from a provider, by Pillow's name for them.
KEPT_FORMATS = {name: FORMAT_MIME[name] for name in ("PNG", "JPEG", "WEBP")}


def provider_settings(name: str) -> dict[str, Any]:
    return dict(settings.BANANASITE_PROVIDERS.get(name) or {})


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode()


def data_url(image: InputImage) -> str:
    return f"data:{image.mime_type};base64,{b64encode(image.data)}"


def checked_image(data: bytes) -> OutputImage:
    """Bytes from a provider, checked to really be an image in a format we keep."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
            fmt = img.format
    except (ValueError, UnidentifiedImageError, OSError):
        raise ProviderError(
            "The image service sent something that is not an image.", detail="undecodable image"
        ) from None
    mime_type = KEPT_FORMATS.get(fmt or "")
    if mime_type is None:
        raise ProviderError("The image service sent an image in a format we do not keep.")
    return OutputImage(data=data, mime_type=mime_type)


def decode_image(b64: str) -> OutputImage:
    """Base64 (or a data URL) from a provider; the type is read from the bytes, not the label."""
    if b64.startswith("data:"):
        b64 = b64.partition(",")[2]
    try:
        data = base64.b64decode(b64, validate=False)
    except (binascii.Error, ValueError):
        raise ProviderError(
            "The image service sent something that is not an image.", detail="undecodable image"
        ) from None
    return checked_image(data)


def normalise_base_url(url: str, version_paths: tuple[str, ...]) -> str:
    """The host (and any proxy prefix) without the provider's version path, which the clients
    add themselves: operators paste either the base URL the provider documents (OpenRouter's
    ends in /api/v1, Gemini's in /v1beta) or the host alone, and both must work."""
    base = url.strip().rstrip("/")
    for suffix in version_paths:
        if base.lower().endswith(suffix):
            return base[: -len(suffix)]
    return base


class RemoteProvider(Provider):
    """A provider reached over HTTP. Subclasses build one call and read its answer."""

    name = ""
    default_base_url = ""
    # The version paths of the provider's documented base URLs, longest first; the endpoints
    # below add the path they need.
    version_paths: tuple[str, ...] = ()
    images_per_call = 1  # how many output images one call may ask for
    secret_keys = ("api_key", "access_token")

    def __init__(
        self,
        *,
        sleep: Callable[[float], None] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.config = provider_settings(self.name)
        secrets = tuple(self.config.get(k, "") for k in self.secret_keys)
        options: dict[str, Any] = {
            option: self.config[option]
            for option in ("timeout", "max_attempts", "total_budget", "backoff_base")
            if option in self.config
        }
        if sleep is not None:
            options["sleep"] = sleep
        self.http = ProviderHTTP(self.name, secrets=secrets, transport=transport, **options)

    def base_url(self) -> str:
        return normalise_base_url(
            self.config.get("base_url") or self.default_base_url, self.version_paths
        )

    def headers(self) -> dict[str, str]:
        """Bearer auth with the API key, which most providers take."""
        return {
            "authorization": f"Bearer {self.config.get('api_key', '')}",
            "content-type": "application/json",
        }

    def post(self, path: str, body: Any, *, deadline: float | None) -> Answer:
        """POST a JSON body to a path under the provider's base URL, with its headers, ending
        by `deadline` (the request's)."""
        return self.http.post(
            f"{self.base_url()}{path}", headers=self.headers(), json_body=body, deadline=deadline
        )

    def fetch_image(self, url: str, *, deadline: float | None) -> OutputImage:
        """An image the provider answered with by URL, downloaded and checked."""
        return checked_image(self.http.get_bytes(url, deadline=deadline))

    @abstractmethod
    def call(self, request: ComposeRequest, count: int) -> ComposeResult:
        """One request to the provider for `count` images."""

    def compose(
        self, request: ComposeRequest, progress: ProgressCallback | None = None
    ) -> ComposeResult:
        """Every call (in parallel when one cannot make all the images), each ending by the
        request's deadline: the calls' retries and backoff respect it in ProviderHTTP.post."""
        if request.deadline is not None and time.monotonic() >= request.deadline:
            raise ProviderTimeout(detail=f"{self.name}: out of time before the first call")
        counts = []
        left = request.num_images
        while left > 0:
            counts.append(min(left, self.images_per_call))
            left -= counts[-1]
        results: list[ComposeResult] = []
        if len(counts) == 1:
            results.append(self.call(request, counts[0]))
        else:
            # num_images above what one call returns: the calls go out in parallel.
            with ThreadPoolExecutor(max_workers=min(4, len(counts))) as pool:
                futures = [pool.submit(carried(self.call), request, n) for n in counts]
                for done, future in enumerate(futures, start=1):
                    results.append(future.result())
                    if progress:
                        progress(done / len(futures))
        merged = ComposeResult(images=[], usage={"calls": len(results)})
        texts: list[str] = []
        costs: list[float] = []
        for result in results:
            merged.images += result.images
            if result.text:
                texts.append(result.text)
            if result.cost_usd is not None:
                costs.append(result.cost_usd)
            for key, value in result.usage.items():
                if isinstance(value, int | float):
                    merged.usage[key] = merged.usage.get(key, 0) + value
            merged.request_id = merged.request_id or result.request_id
        merged.images = merged.images[: request.num_images]
        merged.text = "\n".join(dict.fromkeys(texts))[:4000]
        merged.cost_usd = round(sum(costs), 6) if costs else None
        return merged

    def error_for(self, answer: Answer, message: str = "") -> ProviderError:
        """The taxonomy for an HTTP error status; subclasses refine it from the body."""
        detail = self.http.redact(f"{self.name} {answer.status}: {message or answer.text[:300]}")
        status = answer.status
        if status in (401, 403):
            return ProviderAuthError(detail=detail)
        if status == 402:
            return ProviderAuthError(OUT_OF_CREDIT, detail=detail)
        if status == 429:
            return ProviderRateLimited(detail=detail)
        if status in (408, 504):
            return ProviderTimeout(detail=detail)
        if status >= 500:
            return ProviderUnavailable(detail=detail)
        return ProviderBadRequest(detail=detail)

    def require_json(self, answer: Answer) -> dict[str, Any]:
        """The answer's JSON object; anything else is an answer we cannot read."""
        if not isinstance(answer.data, dict):
            raise ProviderError(
                "The image service sent an answer we could not read.",
                detail=self.http.redact(f"{self.name} {answer.status}: not a JSON object"),
            )
        return answer.data
