"""How the API answers errors: RFC 9457 problem+json with a stable `code`, for every
AppError, every DRF error and every path under /api/v1/ that matches nothing."""

import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from bananasite.errors import AppError, problem_body
from billing.services import QuotaExceeded

logger = logging.getLogger(__name__)


class ProblemJSONRenderer(JSONRenderer):
    media_type = "application/problem+json"
    format = "problem+json"


DRF_CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "not_authenticated",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    Http404: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "rate_limited",
    exceptions.ParseError: "invalid_request",
    exceptions.ValidationError: "invalid_request",
}


def problem(
    status_code: int,
    code: str,
    detail: str,
    *,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """A problem+json answer; its `title` is the code's own (bananasite.errors.TITLES) and,
    like `detail`, follows the request's Accept-Language (LocaleMiddleware)."""
    body = problem_body(status_code, code, detail, errors=errors)
    response = Response(body, status=status_code, headers=headers)
    response.content_type = "application/problem+json"
    return response


def _flatten(detail, field=None):
    """DRF's nested validation errors as [{"field", "code", "message"}]."""
    if isinstance(detail, dict):
        return [
            item
            for key, value in detail.items()
            for item in _flatten(value, key if field is None else f"{field}.{key}")
        ]
    if isinstance(detail, list):
        return [item for value in detail for item in _flatten(value, field)]
    code = getattr(detail, "code", "invalid") or "invalid"
    return [{"field": field or "non_field_errors", "code": str(code), "message": str(detail)}]


# Field-level validation codes from DRF, named the way the contract (api-v1.md) names them.
CONTRACT_CODES = {
    ("prompt", "blank"): "prompt_invalid",
    ("prompt", "max_length"): "prompt_too_long",
    ("inputs", "min_length"): "too_few_images",
    ("inputs", "max_length"): "too_many_images",
}


def _contract_code(error: dict) -> str:
    field = error["field"].split(".")[0]
    if error["code"] == "invalid_choice":
        return "unsupported_option"
    return CONTRACT_CODES.get((field, error["code"]), "invalid_request")


def exception_handler(exc, context):
    """Every error the API returns, as problem+json with a stable code. No internals leak."""
    if isinstance(exc, AppError):
        headers = {}
        if isinstance(exc, QuotaExceeded):
            headers["Retry-After"] = str(exc.retry_after)
        errors = None
        if getattr(exc, "errors", None):
            errors = [{"field": f, "code": c, "message": m} for f, c, m in exc.errors]
        return problem(exc.status, exc.code, exc.message, errors=errors, headers=headers)
    if isinstance(exc, TooManyFilesSent | TooManyFieldsSent):
        # Django refuses the multipart body while it is read (request.data): a bad request.
        return problem(
            400, "too_many_images", _("The request has more files or fields than allowed.")
        )
    if isinstance(exc, RequestDataTooBig):
        return problem(413, "request_too_large", _("The request body is larger than allowed."))
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
        return problem(400, _contract_code(errors[0]), errors[0]["message"], errors=errors)
    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("Unhandled API error", exc_info=exc)
        return problem(500, "internal_error", _("Something went wrong on our side."))
    code = next((c for cls, c in DRF_CODES.items() if isinstance(exc, cls)), "error")
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        response.status_code = 401
    detail = response.data.get("detail", "") if isinstance(response.data, dict) else ""
    headers = {
        k: v for k, v in response.items() if k in ("Retry-After", "WWW-Authenticate", "Allow")
    }
    if isinstance(exc, exceptions.Throttled):
        detail = (
            _("Too many requests. Try again in %(seconds)d seconds.") % {"seconds": round(exc.wait)}
            if exc.wait
            else str(detail)
        )
    return problem(response.status_code, code, str(detail), headers=headers)


def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """Anything under /api/v1/ that matches no endpoint: problem+json, never an HTML page."""
    response = problem(404, "not_found", _("There is no such API endpoint."))
    response.accepted_renderer = ProblemJSONRenderer()
    response.accepted_media_type = "application/problem+json"
    response.renderer_context = {}  # type: ignore[attr-defined]  # DRF sets it in views
    return response.render()
