"""Google's Gemini API (`generateContent`) and Vertex AI, which takes the same body.

Wire format: shared/design/providers.md §1 and §2. One image per call (there is no `n`), so the
base class makes parallel calls for more. Interim "thought" images are skipped; a blocked prompt
is a 200 with `promptFeedback.blockReason`; a blocked output is a candidate without an image and
an image-safety `finishReason`; text with no image is a failure too.
"""

import contextlib
import time
from typing import Any

from .base import (
    GROUNDING,
    THINKING_LEVEL,
    BatchPoll,
    BatchProvider,
    ComposeRequest,
    ComposeResult,
    OutputImage,
    ProviderAuthError,
    ProviderError,
    ProviderNoImage,
    ProviderRateLimited,
    ProviderSafetyBlock,
)
from .http import Answer, parse_duration
from .remote import RemoteProvider, b64encode, decode_image, normalise_base_url

SAFETY_REASONS = {
    "SAFETY",
    "PROHIBITED_CONTENT",
    "BLOCKLIST",
    "SPII",
    "RECITATION",
    "IMAGE_SAFETY",
    "IMAGE_PROHIBITED_CONTENT",
    "IMAGE_RECITATION",
    "OTHER",
    "JAILBREAK",
    "MODEL_ARMOR",
}
PLAIN = {
    "SAFETY": "it touches on content the model will not produce",
    "PROHIBITED_CONTENT": "it asks for prohibited content",
    "BLOCKLIST": "it contains a blocked term",
    "SPII": "it involves sensitive personal information",
    "RECITATION": "the result would copy protected material",
    "IMAGE_SAFETY": "the picture it would make breaks the image safety rules",
    "IMAGE_PROHIBITED_CONTENT": "the picture it would make is prohibited content",
    "IMAGE_RECITATION": "the picture would copy protected material",
}


# USD per million image-output tokens (providers.md §1), for the cost we record; credits are
# what people pay and come from the model catalogue.
IMAGE_TOKEN_USD = {"gemini-3.1-flash": 60, "gemini-3-pro": 120, "gemini-2.5-flash": 30}


def _inline(part: dict[str, Any]) -> dict[str, Any] | None:
    return part.get("inlineData") or part.get("inline_data")


def retry_delay(answer: Answer) -> float | None:
    """RetryInfo.retryDelay from a google.rpc error body, e.g. "57.2s"."""
    error = (answer.data or {}).get("error") if isinstance(answer.data, dict) else None
    for detail in (error or {}).get("details") or []:
        if str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            return parse_duration(detail.get("retryDelay"))
    return None


# Batch job states (providers.md §1b), with or without the BATCH_STATE_/JOB_STATE_ prefix.
BATCH_STATES = {
    "PENDING": "running",
    "QUEUED": "running",
    "RUNNING": "running",
    "SUCCEEDED": "succeeded",
    "FAILED": "failed",
    "CANCELLED": "canceled",
    "CANCELLING": "canceled",
    "EXPIRED": "expired",
}


def _batch_state(raw: str) -> str:
    name = raw.upper().removeprefix("BATCH_STATE_").removeprefix("JOB_STATE_")
    return BATCH_STATES.get(name, "running")  # an unknown state: ask again next time


def _field(data: Any, *names: str) -> Any:
    """The first of `names` present in `data`, camelCase or snake_case (the unverified parts
    of the batch shapes are read liberally)."""
    if not isinstance(data, dict):
        return None
    for name in names:
        for key in (
            name,
            "".join(p if i == 0 else p.title() for i, p in enumerate(name.split("_"))),
        ):
            if key in data:
                return data[key]
    return None


def inlined_responses(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-request answers of a finished batch, wherever the answer puts them: under
    `response` (the operation) or `output`/`dest` (the batch), as a list or wrapped once more
    in an object of the same name (providers.md §1b marks the nesting unverified)."""
    metadata = _field(data, "metadata") or {}
    for holder in (
        _field(data, "response"),
        _field(metadata, "output"),
        _field(data, "output"),
        _field(data, "dest"),
        _field(metadata, "dest"),
        data,
    ):
        found = _field(holder, "inlined_responses")
        if isinstance(found, dict):
            found = _field(found, "inlined_responses")
        if isinstance(found, list):
            return [item for item in found if isinstance(item, dict)]
    return []


class GeminiProvider(RemoteProvider, BatchProvider):
    name = "gemini"
    model_options = frozenset({GROUNDING, THINKING_LEVEL})
    default_base_url = "https://generativelanguage.googleapis.com"
    version_paths = ("/v1beta", "/v1")

    def endpoint(self, model: str) -> str:
        return f"{self.base_url()}/v1beta/models/{model}:generateContent"

    def headers(self) -> dict[str, str]:
        return {
            "x-goog-api-key": self.config.get("api_key", ""),
            "content-type": "application/json",
        }

    def body(self, request: ComposeRequest) -> dict[str, Any]:
        parts: list[dict[str, Any]] = [{"text": request.prompt}]
        for image in request.images:
            parts.append(
                {"inlineData": {"mimeType": image.mime_type, "data": b64encode(image.data)}}
            )
        image_config = {"aspectRatio": request.aspect_ratio}
        # 2.5 Flash Image makes 1K only and is reported to refuse imageSize.
        if not request.model.startswith("gemini-2.5"):
            image_config["imageSize"] = request.image_size
        config: dict[str, Any] = {
            "responseModalities": ["TEXT", "IMAGE"],
            "imageConfig": image_config,
        }
        if request.thinking_level:
            config["thinkingConfig"] = {"thinkingLevel": request.thinking_level}
        body: dict[str, Any] = {
            "contents": [{"role": "user", "parts": parts}],
            "generationConfig": config,
        }
        if request.grounding:
            body["tools"] = [{"google_search": {}}]
        return body

    def call(self, request: ComposeRequest, count: int) -> ComposeResult:
        answer = self.http.post(
            self.endpoint(request.model),
            headers=self.headers(),
            json_body=self.body(request),
            retry_delay_hint=retry_delay,
            deadline=request.deadline,
        )
        if answer.status != 200:
            raise self.google_error(answer)
        return self.read(self.require_json(answer), model=request.model)

    def google_error(self, answer: Answer) -> ProviderError:
        error = (answer.data or {}).get("error", {}) if isinstance(answer.data, dict) else {}
        message = str(error.get("message", ""))[:300]
        reasons = {str(d.get("reason", "")) for d in error.get("details") or []}
        if answer.status == 400 and (
            "API_KEY_INVALID" in reasons or "API key not valid" in message
        ):
            # Google answers a bad key with 400, not 401.
            return ProviderAuthError(detail=self.http.redact(f"{self.name} 400: {message}"))
        mapped = self.error_for(answer, message)
        if isinstance(mapped, ProviderRateLimited):
            mapped.retry_after = retry_delay(answer)
        return mapped

    def read(self, data: dict[str, Any], *, model: str = "") -> ComposeResult:
        feedback = data.get("promptFeedback") or {}
        candidates = data.get("candidates") or []
        if not candidates and feedback.get("blockReason"):
            reason = feedback["blockReason"]
            raise ProviderSafetyBlock(
                f"The image model declined the request: {PLAIN.get(reason, 'it was blocked')}.",
                detail=f"blockReason={reason}",
            )
        images: list[OutputImage] = []
        texts: list[str] = []
        reasons: list[str] = []
        for candidate in candidates:
            reasons.append(candidate.get("finishReason", ""))
            for part in (candidate.get("content") or {}).get("parts") or []:
                if part.get("thought"):
                    continue  # Gemini 3's interim "thinking" images and text are not results
                inline = _inline(part)
                if inline and inline.get("data"):
                    images.append(decode_image(inline["data"]))
                elif part.get("text"):
                    texts.append(part["text"])
        text = "\n".join(texts).strip()
        if not images:
            blocked = next((r for r in reasons if r in SAFETY_REASONS), None)
            if blocked:
                raise ProviderSafetyBlock(
                    "The image model declined to make this picture: "
                    f"{PLAIN.get(blocked, 'it was blocked')}.",
                    detail=f"finishReason={blocked}",
                )
            said = f' It said: "{text[:200]}"' if text else ""
            raise ProviderNoImage(
                f"The image model answered without an image.{said}",
                detail=f"finishReason={','.join(reasons)}",
            )
        usage = data.get("usageMetadata") or {}
        out_tokens = sum(
            d.get("tokenCount", 0)
            for d in usage.get("candidatesTokensDetails") or []
            if d.get("modality") == "IMAGE"
        ) or usage.get("candidatesTokenCount", 0)
        # Grounding is billed per search query the model ran: Gemini lists them in each
        # candidate's groundingMetadata.webSearchQueries. Without any groundingMetadata the
        # count is not reported (settlement then charges one search, if grounding was asked).
        grounded = [c["groundingMetadata"] for c in candidates if c.get("groundingMetadata")]
        searches = sum(len(g.get("webSearchQueries") or []) for g in grounded)
        rate = next((usd for prefix, usd in IMAGE_TOKEN_USD.items() if model.startswith(prefix)), 0)
        return ComposeResult(
            images=images,
            text=text,
            usage={
                "prompt_tokens": usage.get("promptTokenCount", 0),
                "output_tokens": usage.get("candidatesTokenCount", 0),
                "total_tokens": usage.get("totalTokenCount", 0),
                **({"searches": searches} if grounded else {}),
            },
            cost_usd=round(out_tokens * rate / 1_000_000, 6) if rate else None,
            request_id=str(data.get("responseId", "")),
        )

    # --- Batch Mode (providers.md §1b): half price, results within a day -------------------

    def submit_batch(self, request: ComposeRequest, *, key: str) -> str:
        """One inline request per image asked for (a call makes one image), keyed by ours."""
        body = {
            "batch": {
                "displayName": key,
                "inputConfig": {
                    "requests": {
                        "requests": [
                            {"request": self.body(request), "metadata": {"key": f"{key}-{n}"}}
                            for n in range(1, request.num_images + 1)
                        ]
                    }
                },
            }
        }
        answer = self.http.post(
            f"{self.base_url()}/v1beta/models/{request.model}:batchGenerateContent",
            headers=self.headers(),
            json_body=body,
            retry_delay_hint=retry_delay,
            deadline=request.deadline,
        )
        if answer.status != 200:
            raise self.google_error(answer)
        data = self.require_json(answer)
        name = str(_field(data, "name") or _field(_field(data, "metadata"), "name") or "")
        if not name.startswith("batches/"):
            raise ProviderError(detail=f"{self.name}: batch created without a batches/ name")
        return name

    def poll_batch(self, name: str, *, model: str) -> BatchPoll:
        answer = self.http.get(f"{self.base_url()}/v1beta/{name}", headers=self.headers())
        if answer.status != 200:
            raise self.google_error(answer)
        data = self.require_json(answer)
        metadata = _field(data, "metadata") or {}
        state = _batch_state(str(_field(metadata, "state") or _field(data, "state") or ""))
        if state != "succeeded":
            error = _field(data, "error") or {}
            return BatchPoll(state=state, detail=str(_field(error, "message") or "")[:300])
        return BatchPoll(state=state, result=self.read_batch(inlined_responses(data), model))

    def read_batch(self, answers: list[dict[str, Any]], model: str) -> ComposeResult:
        """The images of every request that made one; if none did, the first one's error
        (a refusal stays a refusal)."""
        images, texts, errors = [], [], []
        usage: dict[str, Any] = {}
        for item in answers:
            response, error = _field(item, "response"), _field(item, "error")
            if isinstance(response, dict):
                try:
                    result = self.read(response, model=model)
                except ProviderError as exc:
                    errors.append(exc)
                    continue
                images += result.images
                texts.append(result.text)
                for k, v in result.usage.items():
                    usage[k] = usage.get(k, 0) + v
            else:
                message = str(_field(error, "message") or "no answer")[:300]
                errors.append(ProviderError(detail=f"{self.name} batch request: {message}"))
        if not images:
            raise errors[0] if errors else ProviderNoImage(detail=f"{self.name}: empty batch")
        return ComposeResult(
            images=images,
            text="\n".join(t for t in texts if t),
            usage={**usage, "batch": True, "failed_requests": len(errors)},
        )

    def cancel_batch(self, name: str) -> None:
        # Best effort: the composition ends here whatever the provider does.
        with contextlib.suppress(ProviderError):
            self.http.post(
                f"{self.base_url()}/v1beta/{name}:cancel",
                headers=self.headers(),
                json_body={},
                deadline=time.monotonic() + 30,
            )


class VertexProvider(GeminiProvider):
    """Vertex AI: the Gemini body and answer, another URL and auth (token or express key)."""

    name = "vertex"
    batch_tier = False  # Vertex's batch prediction is another API (jobs over Cloud Storage)
    version_paths = ("/v1beta1", "/v1")

    def location(self) -> str:
        return self.config.get("location") or "global"

    def base_url(self) -> str:
        location = self.location()
        default = (
            "https://aiplatform.googleapis.com"
            if location == "global"
            else f"https://{location}-aiplatform.googleapis.com"
        )
        return normalise_base_url(self.config.get("base_url") or default, self.version_paths)

    def endpoint(self, model: str) -> str:
        base, location = self.base_url(), self.location()
        if self.config.get("access_token"):
            project = self.config.get("project", "")
            return (
                f"{base}/v1beta1/projects/{project}/locations/{location}/publishers/google/"
                f"models/{model}:generateContent"
            )
        return f"{base}/v1beta1/publishers/google/models/{model}:generateContent"  # express mode

    def headers(self) -> dict[str, str]:
        if self.config.get("access_token"):
            headers = {"authorization": f"Bearer {self.config['access_token']}"}
            if self.config.get("project"):
                headers["x-goog-user-project"] = self.config["project"]
        else:
            headers = {"x-goog-api-key": self.config.get("api_key", "")}
        return {**headers, "content-type": "application/json"}
