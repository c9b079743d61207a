from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render


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
            return JsonResponse(
                {
                    "type": "about:blank",
                    "title": "Request too large",
                    "status": 413,
                    "detail": f"The request is {length // 1048576} MB; the limit is "
                    f"{limit // 1048576} MB.",
                    "code": "request_too_large",
                },
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
