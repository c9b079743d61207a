from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from bananasite.append_only import AppendOnlyModel, AppendOnlyQuerySet


class Plan(models.Model):
    """What a workspace may do and what it is given. Plans are data, edited in the admin."""

    class Size(models.TextChoices):
        S512 = "512", "512"
        S1K = "1K", "1K"
        S2K = "2K", "2K"
        S4K = "4K", "4K"

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=80)
    is_default = models.BooleanField(default=False, help_text="New workspaces start on this plan.")
    # Anyone can open teams, so a monthly grant to every team on a plan nobody paid for would
    # mint credits; teams get it only on a paid plan. Off by default: a plan someone adds in
    # the admin gives teams nothing until it is marked paid.
    is_paid = models.BooleanField(
        default=False,
        help_text="Bought, not given. Teams get the monthly grant only on a paid plan; personal "
        "workspaces get it on every plan. The default plan cannot be paid.",
    )
    signup_grant = models.PositiveIntegerField(default=0)
    monthly_grant = models.PositiveIntegerField(default=0)
    daily_images_per_member = models.PositiveIntegerField()
    monthly_images_per_workspace = models.PositiveIntegerField()
    allowed_models = models.JSONField(
        default=list, blank=True, help_text="Model ids this plan may use; empty means all."
    )
    max_image_size = models.CharField(max_length=4, choices=Size, default=Size.S2K)
    concurrent_compositions = models.PositiveSmallIntegerField(default=2)

    class Meta:
        ordering = ["monthly_grant", "code"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="plan_one_default"
            ),
            models.CheckConstraint(
                condition=Q(concurrent_compositions__gte=1), name="plan_concurrency_positive"
            ),
            # Every new team starts on the default plan: a paid default would grant them all.
            models.CheckConstraint(
                condition=Q(is_default=False) | Q(is_paid=False), name="plan_default_not_paid"
            ),
        ]

    def __str__(self):
        return self.name

    SIZE_ORDER = ["512", "1K", "2K", "4K"]

    def allows_model(self, model_id: str) -> bool:
        return not self.allowed_models or model_id in self.allowed_models

    def allows_size(self, size: str) -> bool:
        order = self.SIZE_ORDER
        return size in order and order.index(size) <= order.index(self.max_image_size)


class Wallet(models.Model):
    """A workspace's credits. The balance only changes by conditional UPDATEs in services.py,
    each with a ledger row in the same transaction; the database refuses a negative balance."""

    workspace = models.OneToOneField(
        "accounts.Workspace", on_delete=models.CASCADE, related_name="wallet"
    )
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="wallets")
    balance = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(balance__gte=0), name="wallet_balance_not_negative")
        ]

    def __str__(self):
        return f"{self.workspace.slug}: {self.balance} credits"

    def monthly_grant(self) -> int:
        """Credits this wallet is given each month: the plan's grant, except for a team on a
        plan nobody paid for (one grant per person, like the welcome credits)."""
        if self.plan.is_paid or self.workspace.kind == "personal":
            return self.plan.monthly_grant
        return 0


class LedgerEntry(AppendOnlyModel):
    """One change to a wallet's balance. Append-only: never updated, never deleted.

    `amount` is the change to the spendable balance: a reserve holds credits (negative), a
    release gives the whole hold back (positive), a capture charges what was delivered
    (negative). So a settled composition adds up to exactly what it cost.
    """

    append_only_message = "Ledger entries are append-only."

    class Kind(models.TextChoices):
        GRANT = "grant", _("Grant")
        PURCHASE = "purchase", _("Purchase")
        RESERVE = "reserve", _("Reserve")
        CAPTURE = "capture", _("Capture")
        RELEASE = "release", _("Release")
        ADJUSTMENT = "adjustment", _("Adjustment")

    class Outcome(models.TextChoices):
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        CANCELED = "canceled", _("Canceled")

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=12, choices=Kind)
    amount = models.IntegerField()
    # The composition's public id, not a foreign key: billing sits below compositions, and the
    # ledger must still say what a charge was for after the composition is deleted.
    composition_ref = models.CharField(max_length=32, blank=True)
    # Reserve: images asked for; capture: images delivered. Quotas and usage count these, so
    # they never need the compositions' own tables.
    images = models.PositiveIntegerField(default=0)
    # On the release row of a settled composition: how it ended. Failed and canceled ones give
    # their images back to the quotas.
    outcome = models.CharField(max_length=10, choices=Outcome, blank=True)
    # For a composition's rows, the person who made it (per-member quotas and usage).
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=300, blank=True)
    # An idempotency reference for grants and purchases ("signup:ws_..", "stripe:cs_..").
    reference = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "ledger entries"
        indexes = [models.Index(fields=["wallet", "-created_at"], name="ledger_wallet_recent")]
        constraints = [
            models.UniqueConstraint(
                fields=["composition_ref", "kind"],
                condition=Q(kind__in=["reserve", "capture", "release"]),
                name="ledger_one_reserve_capture_release_per_composition",
            ),
            models.UniqueConstraint(
                fields=["reference"], condition=~Q(reference=""), name="ledger_reference_once"
            ),
            models.CheckConstraint(
                condition=(
                    Q(kind__in=["reserve", "capture"], amount__lte=0)
                    | Q(kind__in=["grant", "purchase", "release"], amount__gte=0)
                    | Q(kind="adjustment")
                ),
                name="ledger_amount_sign_matches_kind",
            ),
            models.CheckConstraint(
                condition=Q(images=0) | Q(kind__in=["reserve", "capture"]),
                name="ledger_images_only_on_reserve_and_capture",
            ),
            models.CheckConstraint(
                condition=Q(outcome="") | Q(kind="release"),
                name="ledger_outcome_only_on_release",
            ),
        ]

    def __str__(self):
        return f"{self.kind} {self.amount:+d}"


class StripeEvent(models.Model):
    """Stripe webhook events already handled, so a redelivery credits nothing twice."""

    event_id = models.CharField(max_length=100, unique=True)
    event_type = models.CharField(max_length=100)
    received_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.event_id


class Purchase(models.Model):
    """A credit pack someone set out to buy, recorded when its Checkout Session is created.

    The webhook credits what was sold then (credits, price, currency), so repricing or removing
    a pack later cannot strand a payment; a paid session with no record, or paid with another
    amount or currency, is left for Stripe to retry and a person to look at."""

    class Status(models.TextChoices):
        OPEN = "open", _("Awaiting payment")
        CREDITED = "credited", _("Credited")

    session_id = models.CharField(max_length=255, unique=True)
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="purchases")
    pack = models.CharField(max_length=60, help_text="The pack's id when it was bought.")
    name = models.CharField(max_length=120)
    credits = models.PositiveIntegerField()
    amount = models.PositiveIntegerField(help_text="In the currency's smallest unit.")
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=10, choices=Status, default=Status.OPEN)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    credited_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(credits__gt=0), name="purchase_credits_positive"),
            models.CheckConstraint(
                condition=Q(status="open", credited_at__isnull=True)
                | Q(status="credited", credited_at__isnull=False),
                name="purchase_credited_at_matches_status",
            ),
        ]

    def __str__(self):
        return f"{self.session_id}: {self.credits} credits"
