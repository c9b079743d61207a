"""Runware's task API, `imageInference` (providers.md §4).

The body is always a JSON array of tasks; the answer carries `data` and `errors` side by side,
per task. Width and height must be a pair the model supports; the 1K pairs below are Google's,
2K and 4K are their doubles and quadruples.
"""

import uuid
from typing import Any

from .base import (
    GROUNDING,
    THINKING_LEVEL,
    ComposeRequest,
    ComposeResult,
    OutputImage,
    ProviderAuthError,
    ProviderError,
    ProviderSafetyBlock,
    ProviderTimeout,
)
from .http import Answer
from .remote import OUT_OF_CREDIT, RemoteProvider, data_url, decode_image

PAIRS_1K = {
    "1:1": (1024, 1024),
    "2:3": (848, 1264),
    "3:2": (1264, 848),
    "3:4": (896, 1200),
    "4:3": (1200, 896),
    "4:5": (928, 1152),
    "5:4": (1152, 928),
    "9:16": (768, 1376),
    "16:9": (1376, 768),
    "21:9": (1584, 672),
}
SCALE = {"512": 0.5, "1K": 1, "2K": 2, "4K": 4}


def dimensions(request: ComposeRequest) -> tuple[int, int]:
    """Google's own pair for the ratio at the size class; for other ratios, the request's size."""
    if request.aspect_ratio in PAIRS_1K:
        w, h = PAIRS_1K[request.aspect_ratio]
        scale = SCALE.get(request.image_size, 1)
        return int(w * scale), int(h * scale)
    return request.width, request.height


class RunwareProvider(RemoteProvider):
    name = "runware"
    # providers.md §4: providerSettings.google.search (grounding) and settings.thinking (NB2,
    # second-hand). Runware reports no search count, so settlement charges one search.
    model_options = frozenset({GROUNDING, THINKING_LEVEL})
    default_base_url = "https://api.runware.ai"
    version_paths = ("/v1",)
    images_per_call = 4

    def body(self, request: ComposeRequest, count: int) -> list[dict[str, Any]]:
        width, height = dimensions(request)
        task: dict[str, Any] = {
            "taskType": "imageInference",
            "taskUUID": str(uuid.uuid4()),
            "model": request.model,
            "positivePrompt": request.prompt,
            "width": width,
            "height": height,
            "inputs": {"referenceImages": [data_url(i) for i in request.images]},
            "outputType": "base64Data",
            "outputFormat": "PNG",
            "numberResults": count,
            "includeCost": True,
            "deliveryMethod": "sync",
        }
        if request.grounding:
            task["providerSettings"] = {"google": {"search": True}}
        if request.thinking_level:
            task["settings"] = {"thinking": request.thinking_level}
        return [task]

    def call(self, request: ComposeRequest, count: int) -> ComposeResult:
        answer = self.post("/v1", self.body(request, count), deadline=request.deadline)
        data = answer.data if isinstance(answer.data, dict) else {}
        items = [d for d in data.get("data") or [] if isinstance(d, dict)]
        errors = [e for e in data.get("errors") or [] if isinstance(e, dict)]
        images: list[OutputImage] = []
        for item in items:
            encoded = item.get("imageBase64Data") or item.get("imageDataURI")
            if encoded:
                images.append(decode_image(encoded))
            elif item.get("imageURL"):
                images.append(self.fetch_image(item["imageURL"], deadline=request.deadline))
        if images:
            return ComposeResult(
                images=images,
                usage={"results": len(images)},
                cost_usd=round(sum(float(i.get("cost") or 0) for i in items), 6) or None,
                request_id=str(items[0].get("taskUUID", "")),
            )
        if errors:
            raise self.task_error(answer, errors[0])
        if answer.status != 200:
            raise self.error_for(answer)
        self.require_json(answer)
        raise ProviderError("The image service answered without an image.", detail="no data")

    def task_error(self, answer: Answer, error: dict[str, Any]) -> ProviderError:
        code = str(error.get("code", ""))
        message = self.http.redact(str(error.get("message", ""))[:300])
        if code in ("invalidProviderContent", "contentModerated", "nsfwContent") or (
            "content" in code.lower() and "invalid" in code.lower()
        ):
            return ProviderSafetyBlock(
                "The image service declined this request under its content rules.",
                detail=f"{code}: {message}",
            )
        if code == "timeoutProvider":
            return ProviderTimeout(detail=f"{code}: {message}")
        if code in ("insufficientCredits", "insufficientBalance") or answer.status == 402:
            return ProviderAuthError(OUT_OF_CREDIT, detail=f"{code}: {message}")
        if answer.status == 200:
            answer.status = 400
        return self.error_for(answer, f"{code}: {message}")
