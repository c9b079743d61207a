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


class InvalidState(AppError):
    code = "invalid_state"
    status = 409


# RFC 9457: `title` summarises the problem's type, and `code` names the type, so each code has
# its own title (the same for every occurrence; `detail` tells this occurrence). Titles follow the
# request's language; a client branches on `code`, never on `title`.
TITLES: "dict[str, _StrPromise]" = {
    # Bad input (400)
    "invalid_request": gettext_lazy("Invalid request"),
    "prompt_invalid": gettext_lazy("Invalid prompt"),
    "prompt_too_long": gettext_lazy("Prompt too long"),
    "prompt_blocked": gettext_lazy("Prompt not allowed"),
    "too_few_images": gettext_lazy("Too few images"),
    "too_many_images": gettext_lazy("Too many images"),
    "image_corrupt": gettext_lazy("Unreadable image"),
    "image_too_large_pixels": gettext_lazy("Image has too many pixels"),
    "image_url_forbidden": gettext_lazy("Image address not allowed"),
    "image_fetch_failed": gettext_lazy("Image could not be fetched"),
    "image_rejected": gettext_lazy("Image removed by a moderator"),
    "image_required": gettext_lazy("Image required"),
    "unsupported_option": gettext_lazy("Unsupported option"),
    "batch_unavailable": gettext_lazy("Batch tier unavailable"),
    "model_shut_down": gettext_lazy("Model shut down"),
    "invalid_retention": gettext_lazy("Invalid retention period"),
    "retention_too_long": gettext_lazy("Retention period too long"),
    "markup_invalid": gettext_lazy("Invalid mark-up"),
    "markup_chained": gettext_lazy("Mark-up of a mark-up"),
    "mask_empty": gettext_lazy("Empty mask"),
    "expand_invalid": gettext_lazy("Invalid expansion"),
    "consent_required": gettext_lazy("Consent required"),
    "consent_until_required": gettext_lazy("Consent end date required"),
    "consent_until_past": gettext_lazy("Consent end date has passed"),
    "reference_not_found": gettext_lazy("Reference not found"),
    "reference_changed": gettext_lazy("Reference changed"),
    "invalid_csv": gettext_lazy("Invalid CSV file"),
    "invalid_rows": gettext_lazy("Invalid rows"),
    "too_many_rows": gettext_lazy("Too many rows"),
    "unknown_field": gettext_lazy("Unknown field"),
    "unknown_placeholder": gettext_lazy("Unknown placeholder"),
    "field_required": gettext_lazy("Field required"),
    "reason_required": gettext_lazy("Reason required"),
    "account_not_deleted": gettext_lazy("Account not deleted"),
    "teams_need_owner": gettext_lazy("Teams need a new owner"),
    # Who may do it (401, 402, 403)
    "not_authenticated": gettext_lazy("Not authenticated"),
    "insufficient_credits": gettext_lazy("Insufficient credits"),
    "permission_denied": gettext_lazy("Permission denied"),
    "model_not_allowed": gettext_lazy("Model not in the plan"),
    "size_not_allowed": gettext_lazy("Image size not in the plan"),
    "account_suspended": gettext_lazy("Account suspended"),
    "email_unverified": gettext_lazy("Email address not verified"),
    "mfa_required": gettext_lazy("Two-factor sign-in required"),
    # What is there and what state it is in (404, 405, 406, 409)
    "not_found": gettext_lazy("Not found"),
    "method_not_allowed": gettext_lazy("Method not allowed"),
    "not_acceptable": gettext_lazy("Not acceptable"),
    "invalid_state": gettext_lazy("Invalid state"),
    "export_in_progress": gettext_lazy("Export already in progress"),
    "gone": gettext_lazy("Export no longer available"),
    "reference_last_image": gettext_lazy("Last image of the reference"),
    "reference_consent_missing": gettext_lazy("Consent missing"),
    "reference_consent_withdrawn": gettext_lazy("Consent withdrawn"),
    "reference_consent_expired": gettext_lazy("Consent expired"),
    "free_retry_not_offered": gettext_lazy("No free retry"),
    "free_retry_used": gettext_lazy("Free retry already used"),
    "idempotency_in_progress": gettext_lazy("Request still in progress"),
    # The body itself (413, 415, 422)
    "request_too_large": gettext_lazy("Request too large"),
    "image_too_large": gettext_lazy("Image too large"),
    "unsupported_media_type": gettext_lazy("Unsupported media type"),
    "unsupported_image_type": gettext_lazy("Unsupported image type"),
    "idempotency_key_reused": gettext_lazy("Idempotency key reused"),
    # Limits and our side (429, 5xx)
    "rate_limited": gettext_lazy("Too many requests"),
    "daily_quota_exceeded": gettext_lazy("Daily quota used up"),
    "monthly_quota_exceeded": gettext_lazy("Monthly quota used up"),
    "internal_error": gettext_lazy("Internal error"),
    "provider_unavailable": gettext_lazy("Provider unavailable"),
    "payments_not_configured": gettext_lazy("Payments unavailable"),
}

# For a code without a title of its own (a DRF error we do not name): the status's title.
STATUS_TITLES: "dict[int, _StrPromise]" = {
    400: gettext_lazy("Invalid request"),
    401: gettext_lazy("Not authenticated"),
    402: gettext_lazy("Insufficient credits"),
    403: gettext_lazy("Forbidden"),
    404: gettext_lazy("Not found"),
    405: gettext_lazy("Method not allowed"),
    406: gettext_lazy("Not acceptable"),
    409: gettext_lazy("Conflict"),
    413: gettext_lazy("Request too large"),
    415: gettext_lazy("Unsupported media type"),
    422: gettext_lazy("Unprocessable request"),
    429: gettext_lazy("Too many requests"),
    503: gettext_lazy("Service unavailable"),
}


def problem_title(status: int, code: str) -> str:
    """The short summary of the problem type `code`, in the active language."""
    return str(TITLES.get(code) or STATUS_TITLES.get(status) or gettext("Error"))


def problem_body(
    status: int,
    code: str,
    detail: "str | _StrPromise",
    *,
    errors: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """An RFC 9457 problem details body, as every API error is answered."""
    body: dict[str, Any] = {
        "type": "about:blank",
        # Lazy titles and messages become text in the request's language; `code` stays English.
        "title": problem_title(status, code),
        "status": status,
        "detail": str(detail),
        "code": code,
    }
    if errors:
        body["errors"] = errors
    return body
