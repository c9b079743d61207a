"""What every network provider shares: configuration, parallel calls, error mapping."""

import base64
import binascii
import io
from abc import abstractmethod
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from PIL import Image, UnidentifiedImageError

from .base import (
    ComposeRequest,
    ComposeResult,
    OutputImage,
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


def provider_settings(name: str) -> dict:
    return dict(settings.BANANASITE_PROVIDERS.get(name) or {})


def data_url(image) -> str:
    return f"data:{image.mime_type};base64,{base64.b64encode(image.data).decode()}"


def decode_image(b64: str, mime_type: str | None = None) -> OutputImage:
    """Base64 (or a data URL) from a provider, checked to really be an image."""
    if b64.startswith("data:"):
        header, _, b64 = b64.partition(",")
        mime_type = header[5:].split(";")[0] or mime_type
    try:
        data = base64.b64decode(b64, validate=False)
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
            fmt = img.format
    except (binascii.Error, ValueError, UnidentifiedImageError, OSError):
        raise ProviderError(
            "The image service sent something that is not an image.", detail="undecodable image"
        ) from None
    actual = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}.get(fmt)
    if actual is None:
        raise ProviderError("The image service sent an image in a format we do not keep.")
    return OutputImage(data=data, mime_type=actual)


class RemoteProvider(Provider):
    """A provider reached over HTTP. Subclasses build one call and read its answer."""

    name = ""
    images_per_call = 1  # how many output images one call may ask for
    secret_keys = ("api_key", "access_token")

    def __init__(self, *, sleep=None, transport=None):
        self.config = provider_settings(self.name)
        secrets = tuple(self.config.get(k, "") for k in self.secret_keys)
        kwargs = {"secrets": secrets, "transport": transport}
        if sleep is not None:
            kwargs["sleep"] = sleep
        for option in ("timeout", "max_attempts", "total_budget", "backoff_base"):
            if option in self.config:
                kwargs[option] = self.config[option]
        self.http = ProviderHTTP(self.name, **kwargs)

    @abstractmethod
    def call(self, request: ComposeRequest, count: int) -> ComposeResult:
        """One request to the provider for `count` images."""

    def compose(self, request, progress=None) -> ComposeResult:
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
                futures = [pool.submit(self.call, request, n) for n in counts]
                for done, future in enumerate(futures, start=1):
                    results.append(future.result())
                    if progress:
                        progress(done / len(futures))
        merged = ComposeResult(images=[], usage={"calls": len(results)})
        texts, costs = [], []
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

    def require_json(self, answer: Answer) -> dict | list:
        if answer.data is None:
            raise ProviderError(
                "The image service sent an answer we could not read.",
                detail=self.http.redact(f"{self.name} {answer.status}: not JSON"),
            )
        return answer.data
