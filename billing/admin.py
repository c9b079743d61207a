from django import forms
from django.contrib import admin, messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse

from bananasite.admin import ReadOnlyAdmin
from bananasite.errors import AppError

from .models import LedgerEntry, Plan, Purchase, StripeEvent, Wallet
from .services import adjust_credits, grant_credits, ledger_sum


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = [
        "code",
        "name",
        "is_default",
        "is_paid",
        "monthly_grant",
        "daily_images_per_member",
        "monthly_images_per_workspace",
        "max_image_size",
        "concurrent_compositions",
    ]


class CreditsForm(forms.Form):
    amount = forms.IntegerField(
        help_text="Positive to add credits, negative to take them away (never below zero)."
    )
    reason = forms.CharField(max_length=300, help_text="Recorded in the ledger; say why.")


@admin.register(Wallet)
class WalletAdmin(admin.ModelAdmin):
    list_display = ["workspace", "plan", "balance", "updated_at"]
    list_filter = ["plan"]
    search_fields = ["workspace__slug", "workspace__name"]
    readonly_fields = ["workspace", "balance", "ledger_total", "created_at", "updated_at"]
    fields = ["workspace", "plan", "balance", "ledger_total", "created_at", "updated_at"]
    change_form_template = "admin/billing/wallet/change_form.html"

    def has_add_permission(self, request):
        return False  # wallets are opened with their workspace

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Sum of the ledger")
    def ledger_total(self, obj):
        return ledger_sum(obj)

    def get_urls(self):
        own = [
            path(
                "<int:wallet_id>/credits/",
                self.admin_site.admin_view(self.credits_view),
                name="billing_wallet_credits",
            )
        ]
        return own + super().get_urls()

    def credits_view(self, request, wallet_id):
        """Grant or adjust credits with a reason; every change is a ledger entry."""
        if not request.user.has_perm("billing.change_wallet"):
            return redirect("admin:index")
        wallet = get_object_or_404(Wallet, pk=wallet_id)
        form = CreditsForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            amount, reason = form.cleaned_data["amount"], form.cleaned_data["reason"]
            try:
                if amount > 0:
                    grant_credits(wallet=wallet, amount=amount, reason=reason, user=request.user)
                else:
                    adjust_credits(wallet=wallet, amount=amount, reason=reason, user=request.user)
            except AppError as exc:
                form.add_error("amount", exc.message)
            else:
                self.message_user(request, f"Recorded {amount:+d} credits.", messages.SUCCESS)
                return redirect(reverse("admin:billing_wallet_change", args=[wallet.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Credits for {wallet.workspace}",
            "wallet": wallet,
            "form": form,
            "opts": self.model._meta,
        }
        return render(request, "admin/billing/wallet/credits.html", context)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    """The ledger is append-only: readable here, never editable."""

    list_display = ["created_at", "wallet", "kind", "amount", "composition_ref", "reason"]
    list_filter = ["kind"]
    search_fields = ["wallet__workspace__slug", "composition_ref", "reference", "reason"]
    date_hierarchy = "created_at"


@admin.register(StripeEvent)
class StripeEventAdmin(admin.ModelAdmin):
    list_display = ["event_id", "event_type", "received_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Purchase)
class PurchaseAdmin(ReadOnlyAdmin):
    """What each Checkout Session sold; the webhook credits from these rows."""

    list_display = ["created_at", "wallet", "pack", "credits", "amount", "currency", "status"]
    list_filter = ["status"]
    search_fields = ["session_id", "wallet__workspace__slug"]
    date_hierarchy = "created_at"
