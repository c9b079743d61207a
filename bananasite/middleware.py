from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext

from bananasite.errors import AppError, problem_body


class RequestSizeLimitMiddleware:
    """Refuse oversized requests from their Content-Length, before the body is read.

    It runs before the session and LocaleMiddleware (nothing before it may read the body), so
    it picks the language itself, from the language cookie or Accept-Language, and answers each
    kind of caller in its own shape: problem+json under /api/, OpenAI's error JSON under /v1/
    (the OpenAI-compatible endpoint, api.openai_compat), a page everywhere else."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = settings.BANANASITE_MAX_REQUEST_BYTES
        if length <= limit:
            return self.get_response(request)
        language = translation.get_language_from_request(request)
        with translation.override(language):
            response = self.too_large(request, size=length, limit=limit)
            response["Content-Language"] = translation.get_language()
        patch_vary_headers(response, ("Accept-Language", "Cookie"))
        return response

    def too_large(self, request: HttpRequest, *, size: int, limit: int) -> HttpResponse:
        sizes = {"size": filesizeformat(size), "limit": filesizeformat(limit)}
        detail = gettext("The request is %(size)s; the limit is %(limit)s.") % sizes
        if request.path.startswith("/api/"):
            return JsonResponse(
                problem_body(413, "request_too_large", detail),
                status=413,
                content_type="application/problem+json",
            )
        if request.path.startswith("/v1/"):
            # As api.openai_compat answers a body over the limit: OpenAI's 400 (the `openai`
            # client's BadRequestError), and a retry cannot help.
            body = {
                "error": {
                    "message": detail,
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "request_too_large",
                }
            }
            return JsonResponse(body, status=400, headers={"x-should-retry": "false"})
        # Back to the page the form was on; never off the site.
        back = request.META.get("HTTP_REFERER", "")
        if not url_has_allowed_host_and_scheme(
            back, {request.get_host()}, require_https=request.is_secure()
        ):
            back = "/"
        return render(request, "413.html", {**sizes, "back": back}, status=413)


def back_on_error(to: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Where the person lands when the view raises an AppError (a URL name or a path); without
    it, the page they came from."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            request.error_redirect = to  # type: ignore[attr-defined]  # read by the middleware
            return view(request, *args, **kwargs)

        return wrapped

    return decorate


class AppErrorMiddleware:
    """The web side's one mapping of AppError: a message for the person, then back where they
    were, or where the view said (`@back_on_error`, or `request.error_redirect` when the place
    depends on the object). Views do not catch AppError themselves, except a form that shows
    the message beside its field. (The API maps the same errors to problem+json in
    api.problems.)"""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, AppError) or request.path.startswith("/api/"):
            return None
        messages.error(request, exception.message)
        chosen = getattr(request, "error_redirect", None)
        if chosen:
            return redirect(chosen)
        back = request.META.get("HTTP_REFERER", "")
        if not url_has_allowed_host_and_scheme(back, {request.get_host()}):
            back = "/"
        return redirect(back)
