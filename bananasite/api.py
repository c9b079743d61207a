"""REST API plumbing shared by every endpoint: who is calling, for which workspace, what they
may do, how errors look (RFC 9457 problem+json), pagination, throttling and idempotency."""

import hashlib
import json
import logging
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone
from rest_framework import exceptions, status
from rest_framework.pagination import CursorPagination
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import exception_handler as drf_exception_handler

from bananasite.api_auth import (  # noqa: F401 (the API's one import place)
    TOKEN_PREFIX,
    HasScope,
    IsWorkspaceAdmin,
    hash_token,
)
from bananasite.errors import AppError

logger = logging.getLogger(__name__)

# --- Errors as problem+json -------------------------------------------------------------------


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

TITLES = {
    400: "Invalid request",
    401: "Not authenticated",
    402: "Insufficient credits",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Unprocessable request",
    429: "Too many requests",
    503: "Service unavailable",
}


def problem(status_code: int, code: str, detail: str, *, title=None, errors=None, headers=None):
    body = {
        "type": "about:blank",
        "title": title or TITLES.get(status_code, "Error"),
        "status": status_code,
        "detail": detail,
        "code": code,
    }
    if errors:
        body["errors"] = errors
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
    from billing.services import QuotaExceeded

    if isinstance(exc, AppError):
        headers = {}
        if isinstance(exc, QuotaExceeded):
            headers["Retry-After"] = str(exc.retry_after)
        errors = None
        if getattr(exc, "errors", None):
            errors = [{"field": f, "code": c, "message": m} for f, c, m in exc.errors]
        return problem(exc.status, exc.code, exc.message, errors=errors, headers=headers)
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
        return problem(400, _contract_code(errors[0]), errors[0]["message"], errors=errors)
    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("Unhandled API error", exc_info=exc)
        return problem(500, "internal_error", "Something went wrong on our side.")
    code = next((c for cls, c in DRF_CODES.items() if isinstance(exc, cls)), "error")
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        response.status_code = 401
    detail = response.data.get("detail", "") if isinstance(response.data, dict) else ""
    headers = {
        k: v for k, v in response.items() if k in ("Retry-After", "WWW-Authenticate", "Allow")
    }
    if isinstance(exc, exceptions.Throttled):
        detail = (
            f"Too many requests. Try again in {exc.wait:.0f} seconds." if exc.wait else str(detail)
        )
    return problem(response.status_code, code, str(detail), headers=headers)


# --- Pagination and throttling ---------------------------------------------------------------


class NewestFirstCursorPagination(CursorPagination):
    """`{"results": [...], "next": url | null}`, stable while new rows arrive."""

    ordering = ("-created_at", "-id")
    page_size = 20
    page_size_query_param = "limit"
    max_page_size = 100

    def get_page_size(self, request):
        """A `limit` that is not a whole number from 1 to 100 is an error, not a default."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            raise exceptions.ValidationError(
                {"limit": [f"Use a whole number from 1 to {self.max_page_size}."]}
            )
        return int(raw)

    def get_paginated_response(self, data):
        return Response({"results": data, "next": self.get_next_link()})

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["results", "next"],
            "properties": {
                "results": schema,
                "next": {"type": "string", "format": "uri", "nullable": True},
            },
        }


class TokenRateThrottle(SimpleRateThrottle):
    """Requests per API token (or per signed-in user for browser sessions)."""

    scope = "api"

    def get_cache_key(self, request, view):
        if request.auth is not None and hasattr(request.auth, "public_id"):
            ident = f"token:{request.auth.public_id}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


# --- Idempotency -----------------------------------------------------------------------------


def request_fingerprint(request) -> str:
    """What makes two requests "the same": method, path, fields and the files' contents."""
    digest = hashlib.sha256(f"{request.method} {request.path}".encode())
    data = request.data
    fields = {}
    for key in sorted(data.keys()) if hasattr(data, "keys") else []:
        values = data.getlist(key) if hasattr(data, "getlist") else [data[key]]
        fields[key] = [v for v in values if not hasattr(v, "read")]
    digest.update(json.dumps(fields, sort_keys=True, default=str).encode())
    for key in sorted(request.FILES.keys()):
        for upload in request.FILES.getlist(key):
            for chunk in upload.chunks():
                digest.update(chunk)
            upload.seek(0)
    return digest.hexdigest()


def idempotent(handler):
    """Honour `Idempotency-Key` on a POST: replay, 409 while in flight, 422 for another body."""

    def wrapper(view, request, *args, **kwargs):
        from compositions.models import IdempotencyKey

        key = request.headers.get("Idempotency-Key")
        if key is None:
            return handler(view, request, *args, **kwargs)
        if not 1 <= len(key) <= 255 or not all(32 <= ord(ch) < 127 for ch in key):
            return problem(
                400,
                "invalid_request",
                "Idempotency-Key must be 1 to 255 printable ASCII characters.",
            )
        workspace = request.workspace
        fingerprint = request_fingerprint(request)
        IdempotencyKey.objects.filter(
            workspace=workspace, key=key, created_at__lt=timezone.now() - timedelta(hours=24)
        ).delete()
        try:
            with transaction.atomic():
                record = IdempotencyKey.objects.create(
                    workspace=workspace, key=key, fingerprint=fingerprint
                )
        except IntegrityError:
            existing = IdempotencyKey.objects.filter(workspace=workspace, key=key).first()
            if existing is None:
                return problem(409, "idempotency_in_progress", "Retry this request.")
            if existing.fingerprint != fingerprint:
                return problem(
                    422,
                    "idempotency_key_reused",
                    "This Idempotency-Key was used with a different request.",
                )
            if existing.response_status is None:
                return problem(
                    409,
                    "idempotency_in_progress",
                    "A request with this Idempotency-Key is still being processed.",
                )
            replay = Response(existing.response_body, status=existing.response_status)
            replay["Idempotent-Replayed"] = "true"
            if existing.response_status >= 400:
                replay.content_type = "application/problem+json"
            return replay
        try:
            response = handler(view, request, *args, **kwargs)
        except Exception as exc:
            response = view.handle_exception(exc)
        if response.status_code >= 500:
            record.delete()  # let the client retry with the same key
        else:
            IdempotencyKey.objects.filter(pk=record.pk).update(
                response_status=response.status_code, response_body=response.data
            )
        return response

    wrapper.__name__ = handler.__name__
    wrapper.__doc__ = handler.__doc__
    return wrapper


__all__ = ["status"]
