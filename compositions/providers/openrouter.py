"""OpenRouter chat completions with `modalities` (providers.md §3).

Without `modalities: ["image", "text"]` Gemini answers with text only, and the images come in
`choices[0].message.images[].image_url.url` as data URLs, never in `content`.
"""

from typing import Any

from .base import (
    ComposeRequest,
    ComposeResult,
    ProviderNoImage,
    ProviderRateLimited,
    ProviderSafetyBlock,
)
from .http import parse_retry_after
from .remote import RemoteProvider, data_url, decode_image

SAFETY_NATIVE = {"IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "SAFETY", "PROHIBITED_CONTENT"}
SIZES = {"512": "0.5K", "1K": "1K", "2K": "2K", "4K": "4K"}


class OpenRouterProvider(RemoteProvider):
    name = "openrouter"
    default_base_url = "https://openrouter.ai"
    version_paths = ("/api/v1", "/api")

    def headers(self) -> dict[str, str]:
        headers = {**super().headers(), "x-title": "bananasite"}
        if self.config.get("site_url"):
            headers["http-referer"] = self.config["site_url"]
        return headers

    def body(self, request: ComposeRequest) -> dict[str, Any]:
        content: list[dict[str, Any]] = [{"type": "text", "text": request.prompt}]
        content += [
            {"type": "image_url", "image_url": {"url": data_url(i)}} for i in request.images
        ]
        return {
            "model": request.model,
            "messages": [{"role": "user", "content": content}],
            "modalities": ["image", "text"],
            "image_config": {
                "aspect_ratio": request.aspect_ratio,
                "image_size": SIZES.get(request.image_size, "1K"),
            },
            "stream": False,
        }

    def call(self, request: ComposeRequest, count: int) -> ComposeResult:
        answer = self.post(
            "/api/v1/chat/completions", self.body(request), deadline=request.deadline
        )
        data = answer.data if isinstance(answer.data, dict) else {}
        if answer.status != 200 or "error" in data:
            error = data.get("error") or {}
            message = str(error.get("message", ""))[:300]
            if answer.status == 403 and (error.get("metadata") or {}).get("reasons"):
                raise ProviderSafetyBlock(
                    "The image service's moderation declined this request.",
                    detail=self.http.redact(message),
                )
            if answer.status == 200:  # an error inside a 200 (mid-stream failures look so)
                answer.status = int(error.get("code") or 502)
            mapped = self.error_for(answer, message)
            if isinstance(mapped, ProviderRateLimited):
                mapped.retry_after = parse_retry_after(answer.headers.get("retry-after"))
            raise mapped
        data = self.require_json(answer)
        choice = (data.get("choices") or [{}])[0]
        reply = choice.get("message") or {}
        images = [
            decode_image(item["image_url"]["url"])
            for item in reply.get("images") or []
            if (item.get("image_url") or {}).get("url")
        ]
        text = reply.get("content") or ""
        if isinstance(text, list):  # content parts
            text = " ".join(p.get("text", "") for p in text if isinstance(p, dict))
        if not images:
            native = str(choice.get("native_finish_reason") or "")
            if native in SAFETY_NATIVE or choice.get("finish_reason") == "content_filter":
                raise ProviderSafetyBlock(
                    "The image model declined to make this picture under its safety rules.",
                    detail=f"finish={choice.get('finish_reason')} native={native}",
                )
            said = f' It said: "{text[:200]}"' if text else ""
            raise ProviderNoImage(
                f"The image model answered without an image.{said}", detail=f"native={native}"
            )
        usage = data.get("usage") or {}
        return ComposeResult(
            images=images,
            text=text.strip(),
            usage={
                "prompt_tokens": usage.get("prompt_tokens", 0),
                "output_tokens": usage.get("completion_tokens", 0),
                "total_tokens": usage.get("total_tokens", 0),
            },
            cost_usd=usage.get("cost"),
            request_id=str(data.get("id", "")),
        )
