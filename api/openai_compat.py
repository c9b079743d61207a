"""`POST /v1/images/edits`, OpenAI's image edit call, answered by a composition.

The same token, scopes, throttle, credits, quotas, plans, moderation and `Idempotency-Key` as
`POST /api/v1/compositions` (the api app's auth and `idempotent`, `compositions.services`); only
the request's field names, the wait for the end and the error shape are OpenAI's.

The request creates the composition (idempotently: the kept answer is the composition's id) and
then waits for it to end, at most `BANANASITE_OPENAI_WAIT_SECONDS`. A wait that runs out answers
504 naming the composition, which keeps running: it is in `/api/v1/compositions`, and the same
request with the same `Idempotency-Key` waits for that same composition again instead of making
a new one.

Errors are `{"error": {"message", "type", "code", "param"}}` with the statuses the `openai`
client maps sensibly (see README, "OpenAI-compatible endpoint"); `x-should-retry: false` tells
that client not to retry what a retry cannot fix (it retries 409, 429 and 5xx by default)."""

import base64
import contextlib
import math
import re
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from drf_spectacular.utils import extend_schema
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from bananasite.errors import ValidationFailed
from compositions import services
from compositions.catalog import IMAGE_SIZE_EDGE, ModelSpec, all_models, default_model, find_model
from compositions.models import Composition
from compositions.options import (
    CompositionOptions,
    NewImage,
    lifecycle_warnings,
    nearest_ratio,
    shut_down_message,
)
from compositions.serializers import ResultOut

from .auth import HasScope
from .idempotency import idempotent

# OpenAI's own image model names: a client written for OpenAI often cannot change the name it
# sends, so these run on the deployment's default model (the answer names the model used).
OPENAI_MODEL_PREFIXES = ("gpt-image", "dall-e", "chatgpt-image")
# OpenAI's fields we accept and ignore: they tune OpenAI's own models and have no counterpart.
IGNORED_FIELDS = {
    "background",
    "input_fidelity",
    "moderation",
    "output_compression",
    "output_format",
    "quality",
    "user",
}
KNOWN_FIELDS = {"image", "image[]", "prompt", "model", "n", "size", "response_format", "mask"}
KNOWN_FIELDS |= {"stream", "partial_images"} | IGNORED_FIELDS
POLL_SECONDS = 0.5

# Our field names → OpenAI's, for `param`.
PARAMS = {
    "images": "image",
    "inputs": "image",
    "num_images": "n",
    "aspect_ratio": "size",
    "image_size": "size",
    "model": "model",
    "prompt": "prompt",
}
MODERATION_CODES = {"prompt_blocked", "image_blocked", "provider_safety_block"}
# Codes that a retry can fix (the limit resets, the provider comes back, the twin request ends).
RETRYABLE = {"rate_limited", "provider_unavailable", "idempotency_in_progress"}


def openai_error(
    status: int,
    message: str,
    *,
    code: str | None,
    type_: str = "invalid_request_error",
    param: str | None = None,
    retry: bool = False,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = {
        "error": {"message": message, "type": type_, "code": code, "param": param, **(extra or {})}
    }
    response = Response(body, status=status, headers=headers)
    response["x-should-retry"] = "true" if retry else "false"
    return response


def from_problem(response: Response) -> Response:
    """A problem+json answer (from the shared exception handler or `idempotent`) in OpenAI's
    shape, with the status the `openai` client maps to the right exception class."""
    body = response.data or {}
    code = str(body.get("code") or "error")
    message = str(body.get("detail") or body.get("title") or "The request failed.")
    errors = body.get("errors") or []
    field = errors[0].get("field") if errors else None
    param = PARAMS.get(field or "", field)
    status = response.status_code
    headers = {k: v for k, v in response.items() if k in ("Retry-After", "WWW-Authenticate")}
    type_ = "invalid_request_error"
    if code in MODERATION_CODES:
        # OpenAI's own refusal of an image request: 400, code moderation_blocked.
        return openai_error(
            400,
            message,
            code="moderation_blocked",
            type_="image_generation_user_error",
            param=param,
        )
    if code == "insufficient_credits":
        # OpenAI answers an exhausted balance with 429 insufficient_quota; the client raises
        # RateLimitError and, told so, does not retry.
        return openai_error(
            429, message, code="insufficient_quota", type_="insufficient_quota", param=param
        )
    if status == 429 and code != "rate_limited":
        # A plan's daily or monthly image quota: resets later, not by retrying now.
        type_ = "insufficient_quota"
    elif status == 429:
        type_, code = "requests", "rate_limit_exceeded"
    elif status == 401:
        type_, code = "invalid_request_error", "invalid_api_key"
    elif status >= 500:
        type_ = "server_error"
    elif status in (413, 415):
        status = 400  # a file that is too large or not an image: OpenAI's 400 (BadRequestError)
    return openai_error(
        status,
        message,
        code=code,
        type_=type_,
        param=param,
        retry=code in RETRYABLE or code == "rate_limit_exceeded",
        headers=headers,
    )


def _model(raw: str) -> ModelSpec:
    if not raw or raw.startswith(OPENAI_MODEL_PREFIXES):
        return default_model()
    model = find_model(raw)  # an alias resolves, as on /api/v1
    if model is None:
        names = ", ".join(m.id for m in all_models())
        raise ValidationFailed(
            [("model", "model_not_found", f"There is no model {raw!r} here. Use one of: {names}.")]
        )
    if model.shut_down:
        raise ValidationFailed([("model", "model_shut_down", shut_down_message(model))])
    return model


def _size(raw: str, model: ModelSpec) -> tuple[str, str]:
    """OpenAI's `size` (`WxH` or `auto`) as our aspect ratio and size class: the model's ratio
    nearest W/H (within 5 %) and the size class nearest the area."""
    if raw in ("", "auto"):
        return CompositionOptions.aspect_ratio, CompositionOptions.image_size
    shape = re.fullmatch(r"([1-9][0-9]{0,5})x([1-9][0-9]{0,5})", raw.lower(), re.ASCII)
    if shape is None:
        raise ValidationFailed([("size", "invalid_size", "Give `size` as WIDTHxHEIGHT or auto.")])
    w, h = int(shape[1]), int(shape[2])

    def ratio(text: str) -> float:
        a, b = text.split(":")
        return int(a) / int(b)

    best = nearest_ratio(w, h, model.aspect_ratios)
    if abs(ratio(best) / (w / h) - 1) > 0.05:
        shapes = ", ".join(model.aspect_ratios)
        raise ValidationFailed(
            [("size", "invalid_size", f"{model.name} makes these shapes only: {shapes}.")]
        )
    size = min(
        (s for s in model.image_sizes if s in IMAGE_SIZE_EDGE),
        key=lambda s: abs(math.log(IMAGE_SIZE_EDGE[s] / math.sqrt(w * h))),
    )
    return best, size


def _int(raw: Any, field: str, low: int, high: int) -> int:
    try:
        value = int(str(raw))
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ValidationFailed([(field, "invalid_value", f"`{field}` must be {low} to {high}.")])
    return value


def _read(request) -> tuple[CompositionOptions, list[NewImage], str]:
    data = request.data
    unknown = sorted(set(data.keys()) - KNOWN_FIELDS)
    if unknown:
        raise ValidationFailed(
            [(unknown[0], "unknown_parameter", f"Unknown parameter: {unknown[0]}.")]
        )
    if data.get("mask"):
        raise ValidationFailed([("mask", "unsupported_option", "Masks are not supported here.")])
    if str(data.get("stream", "")).lower() == "true":
        raise ValidationFailed([("stream", "unsupported_option", "Streaming is not supported.")])
    response_format = data.get("response_format") or "b64_json"
    if response_format not in ("b64_json", "url"):
        raise ValidationFailed(
            [("response_format", "invalid_value", "`response_format` is b64_json or url.")]
        )
    # The openai client sends a list of images as repeated `image[]`, one image as `image`.
    files = [*request.FILES.getlist("image[]"), *request.FILES.getlist("image")]
    model = _model(str(data.get("model") or ""))
    aspect_ratio, image_size = _size(str(data.get("size") or ""), model)
    options = CompositionOptions(
        prompt=str(data.get("prompt") or ""),
        model=model.id,
        aspect_ratio=aspect_ratio,
        image_size=image_size,
        num_images=_int(data.get("n") or 1, "n", 1, 4),
    )
    images = [NewImage(name=f.name, fileobj=f, size=f.size) for f in files]
    return options, images, response_format


def _give_back(slot: str) -> None:
    # The key may have expired meanwhile (decr of a missing key raises): nothing to give back.
    with contextlib.suppress(ValueError):
        cache.decr(slot)


@extend_schema(exclude=True)  # OpenAI's contract, not ours: kept out of the /api/v1/ schema
class ImageEditsView(APIView):
    parser_classes = [MultiPartParser]
    permission_classes = [HasScope]
    required_scopes = {"POST": "compositions:write"}

    def post(self, request):
        # Each request holds a web thread while it waits: a workspace may hold only a few at
        # once, refused before anything is created (a thread pool is shared by every visitor).
        slot = f"openai-waits:{request.workspace.pk}"
        # A count that outlives a crashed request only until the longest wait is over. (Redis
        # counts atomically; the embedded profile's database cache may let one extra through.)
        lifetime = int(settings.BANANASITE_OPENAI_WAIT_SECONDS) + 60
        cache.add(slot, 0, timeout=lifetime)
        waiting = cache.incr(slot)
        cache.touch(slot, lifetime)  # incr keeps the first request's expiry: renew it
        if waiting > settings.BANANASITE_OPENAI_WAITS_PER_WORKSPACE:
            _give_back(slot)
            return openai_error(
                429,
                "Too many image edits of this workspace are waiting at once (at most "
                f"{settings.BANANASITE_OPENAI_WAITS_PER_WORKSPACE}). Try again when one has "
                "answered, or use POST /api/v1/compositions, which answers at once.",
                code="rate_limit_exceeded",
                type_="rate_limit_error",
                retry=True,
            )
        try:
            return self._create_and_wait(request)
        finally:
            _give_back(slot)

    def _create_and_wait(self, request):
        created = self.create(request)
        if created.status_code != 201:
            return created
        composition = Composition.objects.filter(
            public_id=created.data["id"], workspace=request.workspace
        ).first()
        if composition is None:  # deleted meanwhile (a replayed key)
            return openai_error(
                404, f"Composition {created.data['id']} was deleted.", code="not_found"
            )
        response = self.answer(request, wait_for(composition), created.data["response_format"])
        if created.get("Idempotent-Replayed"):
            response["Idempotent-Replayed"] = "true"  # the same composition, waited for again
        return response

    @idempotent
    def create(self, request):
        """The composition, once per Idempotency-Key: the key's kept answer is its id."""
        options, images, response_format = _read(request)
        composition = services.create_composition(
            workspace=request.workspace, user=request.user, options=options, images=images
        )
        return Response(
            {"id": composition.public_id, "response_format": response_format}, status=201
        )

    def answer(self, request, composition: Composition, response_format: str) -> Response:
        named = {"composition": composition.public_id}
        where = f"/api/v1/compositions/{composition.public_id}"
        status = composition.status
        if status == Composition.Status.SUCCEEDED:
            return Response(self.body(request, composition, response_format))
        if status == Composition.Status.HELD:
            return openai_error(
                409,
                f"Composition {composition.public_id} is held for review and runs once a "
                f"moderator approves it; follow it at {where}.",
                code="composition_held",
                extra=named,
            )
        if status == Composition.Status.FAILED:
            if composition.error_code in MODERATION_CODES:
                return openai_error(
                    400,
                    composition.error_message,
                    code="moderation_blocked",
                    type_="image_generation_user_error",
                    extra=named,
                )
            return openai_error(
                500,
                f"{composition.error_message} (composition {composition.public_id})",
                code=composition.error_code or "composition_failed",
                type_="server_error",
                extra=named,
            )
        if status == Composition.Status.CANCELED:
            return openai_error(
                409,
                f"Composition {composition.public_id} was canceled.",
                code="composition_canceled",
                extra=named,
            )
        return openai_error(
            504,
            f"Composition {composition.public_id} is still running after "
            f"{settings.BANANASITE_OPENAI_WAIT_SECONDS} s. It keeps running: fetch it at {where}, "
            "or send this request again with the same Idempotency-Key to wait for it again.",
            code="composition_timeout",
            type_="timeout",
            extra=named,
        )

    def body(self, request, composition: Composition, response_format: str) -> dict[str, Any]:
        data = []
        for result in composition.results.order_by("position"):
            if response_format == "url":
                item = {"url": ResultOut(result, context={"request": request}).data["url"]}
            else:
                with result.file.open("rb") as fh:
                    item = {"b64_json": base64.b64encode(fh.read()).decode()}
            data.append(item)
        body: dict[str, Any] = {
            "created": int(composition.created_at.timestamp()),
            "data": data,
            "model": composition.model,
            "composition": composition.public_id,
            "credits": {"charged": composition.credits_charged},
        }
        if warnings := lifecycle_warnings(composition.model):
            body["warnings"] = warnings  # a deprecated model ran: when it stops, what follows
        usage = composition.usage or {}
        if usage.get("total_tokens"):
            body["usage"] = {
                "input_tokens": usage.get("prompt_tokens", 0),
                "output_tokens": usage.get("output_tokens", 0),
                "total_tokens": usage["total_tokens"],
            }
        return body

    def finalize_response(self, request, response, *args, **kwargs):
        # Every refusal (authentication, scopes, throttling, validation, credits, the
        # idempotency checks) reaches here as problem+json: answer it in OpenAI's shape.
        if response.status_code >= 400 and "error" not in (response.data or {}):
            response = from_problem(response)
        return super().finalize_response(request, response, *args, **kwargs)


def wait_for(composition: Composition) -> Composition:
    """The composition once it ends (or is held), or as it is when the wait runs out."""
    deadline = time.monotonic() + settings.BANANASITE_OPENAI_WAIT_SECONDS
    while True:
        composition.refresh_from_db()
        if composition.is_finished or composition.status == Composition.Status.HELD:
            return composition
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return composition
        time.sleep(min(POLL_SECONDS, remaining))
