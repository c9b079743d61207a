import logging
from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from bananasite.errors import AppError

from . import payments
from .services import open_wallet, quotas_for
from .usage import bar_chart, composition_lines, composition_reserves, usage_by_day

logger = logging.getLogger(__name__)


def _percent(used: int, limit: int) -> int:
    return min(100, round(used / limit * 100)) if limit else 100


@login_required
def usage(request):
    wallet = open_wallet(workspace=request.workspace)
    quotas = quotas_for(wallet=wallet, user=request.user)
    today = timezone.now().date()
    days = usage_by_day(workspace=request.workspace, start=today - timedelta(days=29), end=today)
    ledger = Paginator(wallet.entries.select_related("created_by"), 20).get_page(
        request.GET.get("page")
    )
    reserves = Paginator(composition_reserves(wallet), 20).get_page(request.GET.get("cpage"))
    context = {
        "lines": composition_lines(wallet, reserves.object_list),
        "lines_page": reserves,
        "wallet": wallet,
        "plan": wallet.plan,
        "quotas": quotas,
        "daily_percent": _percent(quotas.daily_used, quotas.daily_limit),
        "monthly_percent": _percent(quotas.monthly_used, quotas.monthly_limit),
        "days": days,
        "images_chart": bar_chart([d.images for d in days]),
        "credits_chart": bar_chart([d.credits for d in days]),
        "totals": {
            "images": sum(d.images for d in days),
            "credits": sum(d.credits for d in days),
            "compositions": sum(d.compositions for d in days),
        },
        "ledger": ledger,
        "packs": payments.packs(),
        "payments_configured": payments.is_configured(),
    }
    return render(request, "billing/usage.html", context)


@login_required
@require_POST
def buy(request):
    pack = payments.get_pack(request.POST.get("pack", ""))
    if pack is None:
        messages.error(request, _("Choose one of the credit packs."))
        return redirect("billing:usage")
    back = request.build_absolute_uri(reverse("billing:usage"))
    try:
        url = payments.create_checkout(
            workspace=request.workspace,
            user=request.user,
            pack=pack,
            success_url=back + "?purchase=success",
            cancel_url=back + "?purchase=canceled",
        )
    except AppError as exc:
        messages.error(request, exc.message)
        return redirect("billing:usage")
    except Exception:
        logger.exception("Could not start a Stripe Checkout session")
        messages.error(request, _("The payment service could not be reached. Nothing was charged."))
        return redirect("billing:usage")
    return redirect(url)


@csrf_exempt  # Stripe signs its deliveries; the signature replaces the CSRF token.
@require_POST
def stripe_webhook(request):
    if not payments.is_configured():
        return HttpResponse(status=404)
    try:
        outcome = payments.handle_webhook(request.body, request.headers.get("Stripe-Signature", ""))
    except payments.BadWebhook:
        return HttpResponseBadRequest("invalid signature")
    except payments.UnmatchedPayment:
        # Paid but not creditable as sold (logged): a 5xx makes Stripe retry for days.
        return HttpResponse("unmatched", status=500, content_type="text/plain")
    return HttpResponse(outcome, content_type="text/plain")
