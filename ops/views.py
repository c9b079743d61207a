"""/metrics for Prometheus (closed to the public), /healthz and /readyz for the orchestrator."""

import hmac
import ipaddress

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from .health import failed_checks
from .metrics import render_metrics


def may_scrape(request: HttpRequest) -> bool:
    """From an allowed network (BANANASITE_METRICS_ALLOW, loopback by default, `any` for none)
    and, when BANANASITE_METRICS_TOKEN is set, with `Authorization: Bearer <token>`."""
    networks = settings.BANANASITE_METRICS_ALLOW
    forwarded = "HTTP_X_FORWARDED_FOR" in request.META or "HTTP_FORWARDED" in request.META
    if forwarded and not settings.BANANASITE_METRICS_TOKEN:
        # Through a reverse proxy on this machine every visitor arrives from loopback: the
        # address says nothing, so a proxied scrape needs the token.
        return False
    if networks is not None:
        try:
            address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
        except ValueError:
            return False
        if address.version == 6 and address.ipv4_mapped:
            address = address.ipv4_mapped
        if not any(address in network for network in networks):
            return False
    token = settings.BANANASITE_METRICS_TOKEN
    if token:
        scheme, _, given = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            return False
    return True


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not may_scrape(request):
        # The same answer as any unknown path: nothing says a metrics endpoint lives here.
        raise Http404
    return HttpResponse(render_metrics(), content_type=CONTENT_TYPE_LATEST)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process lives and answers; asks nothing of any other service."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """The database, the broker and the storage answer; only the failing checks' names."""
    failed = failed_checks()
    if failed:
        return JsonResponse({"status": "unavailable", "failed": failed}, status=503)
    return JsonResponse({"status": "ok"})
