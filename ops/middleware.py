"""Request latency by view, for /metrics."""

import time

from django.http import HttpRequest, HttpResponse

from .metrics import REQUEST_LATENCY

# Any other method a client makes up is one label value, not a series each.
METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


class RequestMetricsMiddleware:
    """Time each request and count it under its view's URL name (never its path, which holds
    public ids and would make a series per composition). Early in the chain, so it measures
    the other middleware too."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = (match.view_name or "unnamed") if match else "unmatched"
        # Scrapes and probes would only measure themselves.
        if view not in {"ops:metrics", "ops:healthz", "ops:readyz"}:
            REQUEST_LATENCY.labels(
                view=view,
                method=request.method if request.method in METHODS else "other",
                status=f"{response.status_code // 100}xx",
            ).observe(time.perf_counter() - started)
        return response
