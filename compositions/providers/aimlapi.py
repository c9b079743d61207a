"""AI/ML API's `/v1/images/generations` (providers.md §5).

Two answer shapes are in the wild: `data[].url|b64_json` (current) and `images[].url` (older,
fal-style); both are read. Out of credits is 403 here, not 402. Result URLs are downloaded
through the SSRF-safe fetcher.
"""

from typing import Any

from .base import (
    ComposeRequest,
    ComposeResult,
    OutputImage,
    ProviderAuthError,
    ProviderNoImage,
    ProviderSafetyBlock,
)
from .remote import OUT_OF_CREDIT, RemoteProvider, data_url, decode_image

SAFETY_WORDS = ("safety", "content policy", "moderation", "prohibited", "nsfw")


class AimlApiProvider(RemoteProvider):
    name = "aimlapi"
    default_base_url = "https://api.aimlapi.com"
    version_paths = ("/v1",)
    images_per_call = 4

    def body(self, request: ComposeRequest, count: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model,
            "prompt": request.prompt,
            "image_urls": [data_url(i) for i in request.images],
            "aspect_ratio": request.aspect_ratio,
            "num_images": count,
        }
        # 2.5 ("nano-banana-edit") takes no resolution; the others 1K, 2K or 4K.
        if "nano-banana-edit" not in request.model and request.image_size in ("1K", "2K", "4K"):
            body["resolution"] = request.image_size
        return body

    def call(self, request: ComposeRequest, count: int) -> ComposeResult:
        answer = self.post(
            "/v1/images/generations", self.body(request, count), deadline=request.deadline
        )
        data = answer.data if isinstance(answer.data, dict) else {}
        if answer.status not in (200, 201):
            message = str(data.get("message", ""))[:300]
            if answer.status == 403 and "credit" in message.lower():
                raise ProviderAuthError(OUT_OF_CREDIT, detail=self.http.redact(message))
            if answer.status == 400 and any(w in message.lower() for w in SAFETY_WORDS):
                raise ProviderSafetyBlock(
                    "The image service declined this request under its content rules.",
                    detail=self.http.redact(message),
                )
            raise self.error_for(answer, message)
        data = self.require_json(answer)
        images: list[OutputImage] = []
        for item in (data.get("data") or []) + (data.get("images") or []):
            if not isinstance(item, dict):
                continue
            if item.get("b64_json"):
                images.append(decode_image(item["b64_json"]))
            elif item.get("url"):
                url = item["url"]
                if url.startswith("data:"):
                    images.append(decode_image(url))
                else:
                    images.append(self.fetch_image(url, deadline=request.deadline))
        text = str(data.get("description") or "")
        if not images:
            said = f' It said: "{text[:200]}"' if text else ""
            raise ProviderNoImage(f"The image service answered without an image.{said}")
        usage = (data.get("meta") or {}).get("usage") or {}
        return ComposeResult(
            images=images,
            text=text,
            usage={"credits_used": usage.get("credits_used", 0)},
            cost_usd=usage.get("usd_spent"),
            request_id=str(data.get("requestId", "")),
        )
