from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme

from bananasite.errors import AppError, problem_body


class RequestSizeLimitMiddleware:
    """Refuse oversized requests from their Content-Length, before the body is read."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = settings.BANANASITE_MAX_REQUEST_BYTES
        if length > limit and request.path.startswith("/api/"):
            detail = f"The request is {length // 1048576} MB; the limit is {limit // 1048576} MB."
            return JsonResponse(
                problem_body(413, "request_too_large", detail, title="Request too large"),
                status=413,
                content_type="application/problem+json",
            )
        if length > limit:
            return render(
                request,
                "413.html",
                {"limit_mb": limit // (1024 * 1024), "size_mb": length // (1024 * 1024)},
                status=413,
            )
        return self.get_response(request)


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
