from django.conf import settings
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
        if length > limit:
            return render(
                request,
                "413.html",
                {"limit_mb": limit // (1024 * 1024), "size_mb": length // (1024 * 1024)},
                status=413,
            )
        return self.get_response(request)
