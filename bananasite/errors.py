"""One error base for the whole application.

Services raise `AppError` subclasses with a stable `code`; the web views turn them into a
friendly message next to the right field (bananasite.middleware), and the API into
problem+json (api.problems).
"""

from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext, gettext_lazy

if TYPE_CHECKING:
    from django.utils.functional import _StrPromise  # lazy translations, for the type checker


class AppError(Exception):
    code = "invalid_request"
    status = 400
    title = gettext_lazy("Invalid request")

    errors: list[tuple[str, str, str]] = []

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.field = field


# The contract (api-v1.md) answers these input problems with their own statuses; the rest 400.
STATUS_BY_CODE = {"unsupported_image_type": 415, "image_too_large": 413}


class ValidationFailed(AppError):
    """One or more inputs are invalid; `errors` holds (field, code, message) triples."""

    def __init__(self, errors: list[tuple[str, str, str]]):
        self.errors = errors
        field, code, message = errors[0]
        super().__init__(message, code=code, field=field)
        self.status = STATUS_BY_CODE.get(code, 400)


class NotFound(AppError):
    code = "not_found"
    status = 404
    title = gettext_lazy("Not found")


class InvalidState(AppError):
    code = "invalid_state"
    status = 409
    title = gettext_lazy("Invalid state")


def problem_body(
    status: int,
    code: str,
    detail: "str | _StrPromise",
    *,
    title: "str | _StrPromise | None" = None,
    errors: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """An RFC 9457 problem details body, as every API error is answered."""
    body: dict[str, Any] = {
        "type": "about:blank",
        # Lazy titles and messages become text in the request's language; `code` stays English.
        "title": str(title) if title else gettext("Error"),
        "status": status,
        "detail": str(detail),
        "code": code,
    }
    if errors:
        body["errors"] = errors
    return body
