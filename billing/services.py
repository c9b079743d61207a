"""Money: every balance change is a conditional UPDATE plus a ledger row, in one transaction.

The wallet row is also the workspace's lock: submissions and claims take it with
SELECT ... FOR UPDATE (PostgreSQL) or run in an IMMEDIATE transaction (SQLite), so quotas and
concurrency limits are checked and taken atomically.
"""

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from bananasite.errors import AppError

from .models import LedgerEntry, Plan, Wallet


class InsufficientCredits(AppError):
    code = "insufficient_credits"
    status = 402


class QuotaExceeded(AppError):
    status = 429

    def __init__(self, message, *, code, retry_after: int):
        super().__init__(message, code=code, field="num_images")
        self.retry_after = retry_after


class NotAllowed(AppError):
    status = 403


Kind = LedgerEntry.Kind
Outcome = LedgerEntry.Outcome


def default_plan() -> Plan:
    plan = Plan.objects.filter(is_default=True).first()
    if plan is None:
        raise AppError(_("No default plan is configured."), code="internal_error")
    return plan


def open_wallet(*, workspace) -> Wallet:
    """The workspace's wallet, created on the default plan.

    The welcome grant goes to personal workspaces only: it is one per person, and a grant per
    team would let anyone mint credits by creating teams. Teams buy credits or get a grant."""
    wallet = Wallet.objects.filter(workspace=workspace).select_related("plan").first()
    if wallet:
        return wallet
    with transaction.atomic():
        plan = default_plan()
        wallet, created = Wallet.objects.get_or_create(workspace=workspace, defaults={"plan": plan})
        if created and plan.signup_grant and workspace.kind == "personal":
            grant_credits(
                wallet=wallet,
                amount=plan.signup_grant,
                reason=f"Welcome credits ({plan.name} plan)",
                reference=f"signup:{workspace.public_id}",
            )
    wallet.refresh_from_db()
    return wallet


def estimate_credits(
    *,
    credits_per_image: dict[str, int],
    image_size: str,
    num_images: int,
    searches: int = 0,
    credits_per_search: int = 0,
) -> int:
    """The hold for a composition: the model's price per image at this size (1 credit when the
    table leaves the size out), times the images asked for; plus, with search grounding, the
    searches held for (one) at their price."""
    return int(credits_per_image.get(image_size, 1)) * num_images + searches * credits_per_search


def plan_problems(
    *, plan: Plan, model_id: str, model_name: str, image_size: str
) -> list[tuple[str, str, str]]:
    """What the plan forbids in this request, as (field, code, message) triples."""
    problems = []
    if not plan.allows_model(model_id):
        problems.append(
            (
                "model",
                "model_not_allowed",
                _("The %(name)s plan does not include %(model_name)s.")
                % {"name": plan.name, "model_name": model_name},
            )
        )
    if not plan.allows_size(image_size):
        problems.append(
            (
                "image_size",
                "size_not_allowed",
                _("The %(name)s plan makes images up to %(max_image_size)s.")
                % {"name": plan.name, "max_image_size": plan.max_image_size},
            )
        )
    return problems


# --- Quotas -----------------------------------------------------------------------------------


def _day_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _month_start(now: datetime) -> datetime:
    return _day_start(now).replace(day=1)


def _next_month(now: datetime) -> datetime:
    start = _month_start(now)
    days = calendar.monthrange(start.year, start.month)[1]
    return start + timedelta(days=days)


@dataclass
class Quotas:
    daily_used: int
    daily_limit: int
    monthly_used: int
    monthly_limit: int
    daily_resets_at: datetime
    monthly_resets_at: datetime


def _counted_reserves(wallet: Wallet) -> QuerySet[LedgerEntry]:
    """The wallet's reserves that still count against the quotas.

    Failed and canceled compositions give their images back; a deleted one keeps counting,
    because its ledger rows stay (deleting must not refund quota)."""
    given_back = LedgerEntry.objects.filter(
        composition_ref=OuterRef("composition_ref"),
        kind=Kind.RELEASE,
        outcome__in=[Outcome.FAILED, Outcome.CANCELED],
    )
    return LedgerEntry.objects.filter(wallet=wallet, kind=Kind.RESERVE).exclude(Exists(given_back))


def _images_since(reserves: QuerySet[LedgerEntry], since: datetime) -> int:
    return reserves.filter(created_at__gte=since).aggregate(n=Sum("images"))["n"] or 0


def quotas_for(*, wallet: Wallet, user, now: datetime | None = None) -> Quotas:
    """Images asked for today by this member, and this month by the whole workspace."""
    now = now or timezone.now()
    reserves = _counted_reserves(wallet)
    return Quotas(
        daily_used=_images_since(reserves.filter(created_by=user), _day_start(now)),
        daily_limit=wallet.plan.daily_images_per_member,
        monthly_used=_images_since(reserves, _month_start(now)),
        monthly_limit=wallet.plan.monthly_images_per_workspace,
        daily_resets_at=_day_start(now) + timedelta(days=1),
        monthly_resets_at=_next_month(now),
    )


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, int((moment - now).total_seconds()) + 1)


def check_quotas(*, wallet: Wallet, user, images: int) -> None:
    now = timezone.now()
    quotas = quotas_for(wallet=wallet, user=user, now=now)
    if quotas.daily_used + images > quotas.daily_limit:
        left = max(0, quotas.daily_limit - quotas.daily_used)
        raise QuotaExceeded(
            _(
                "You can make %(daily_limit)s images a day on this plan and have %(left)s left "
                "today. The count starts again at midnight UTC."
            )
            % {"daily_limit": quotas.daily_limit, "left": left},
            code="daily_quota_exceeded",
            retry_after=_seconds_until(quotas.daily_resets_at, now),
        )
    if quotas.monthly_used + images > quotas.monthly_limit:
        left = max(0, quotas.monthly_limit - quotas.monthly_used)
        raise QuotaExceeded(
            _(
                "This workspace can make %(monthly_limit)s images a month and has %(left)s "
                "left. The count starts again on the 1st (UTC)."
            )
            % {"monthly_limit": quotas.monthly_limit, "left": left},
            code="monthly_quota_exceeded",
            retry_after=_seconds_until(quotas.monthly_resets_at, now),
        )


# --- The composition's money path ------------------------------------------------------------


def lock_wallet(*, workspace_id: int) -> Wallet:
    """The wallet row, locked until the surrounding transaction ends."""
    return Wallet.objects.select_for_update().select_related("plan").get(workspace_id=workspace_id)


@dataclass(frozen=True)
class Settlement:
    """What a settled composition cost: the caller records it on the composition."""

    charged: int
    refunded: int


def insufficient(needed: int, balance: int) -> InsufficientCredits:
    return InsufficientCredits(
        ngettext(
            "This composition needs %(needed)d credit; the workspace has %(balance)d.",
            "This composition needs %(needed)d credits; the workspace has %(balance)d.",
            needed,
        )
        % {"needed": needed, "balance": balance},
        field="num_images",
    )


def reserve_credits(
    *,
    wallet: Wallet,
    composition_ref: str,
    amount: int,
    images: int,
    user: AbstractBaseUser | None,
) -> None:
    """Hold the estimate for a new composition; refuse if the balance cannot cover it.

    Call inside the transaction that creates the composition."""
    taken = Wallet.objects.filter(pk=wallet.pk, balance__gte=amount).update(
        balance=F("balance") - amount
    )
    if not taken:
        balance = Wallet.objects.values_list("balance", flat=True).get(pk=wallet.pk)
        raise insufficient(amount, balance)
    _composition_entry(
        wallet_id=wallet.pk,
        composition_ref=composition_ref,
        kind=Kind.RESERVE,
        amount=-amount,
        images=images,
        user_id=user.pk if user is not None else None,
        reason="Held while the composition runs",
    )


def _composition_entry(
    *,
    wallet_id: int,
    composition_ref: str,
    kind: str,
    amount: int,
    reason: str,
    user_id: int | None,
    images: int = 0,
    outcome: str = "",
) -> None:
    """A ledger row about a composition, named by its public id (which outlives it)."""
    LedgerEntry.objects.create(
        wallet_id=wallet_id,
        kind=kind,
        amount=amount,
        images=images,
        outcome=outcome,
        composition_ref=composition_ref,
        created_by_id=user_id,
        reason=reason,
    )


def settle_credits(
    *,
    workspace_id: int,
    composition_ref: str,
    held: int,
    requested_images: int,
    delivered_images: int,
    user_id: int | None,
    search_hold: int = 0,
    searches: int = 0,
    credits_per_search: int = 0,
    waiver_reason: str = "",
) -> Settlement:
    """On success: charge what was delivered and give back the rest of the hold.

    With a `waiver_reason` (a free retry), the capture is waived: it is still written, for the
    images delivered, at zero credits and with that reason, so the ledger says why.

    The price per image was fixed when the hold was taken (a price change in between does not
    reach a running composition), so it is the image part of the hold (`held - search_hold`)
    divided by the images asked for. Search grounding is charged per search the provider
    reported, at `credits_per_search`, and never more than `search_hold`, the part of the hold
    taken for searches: the caller held for what it promised, so the cap keeps the charge within
    the estimate people saw. Call inside the transaction that marks the composition succeeded;
    record the Settlement on it."""
    image_hold = held - search_hold
    per_image = image_hold // requested_images if requested_images > 0 else 0
    search_charge = min(search_hold, searches * credits_per_search)
    charge = min(image_hold, per_image * delivered_images) + search_charge
    if waiver_reason:
        charge = 0
    wallet_id = Wallet.objects.values_list("pk", flat=True).get(workspace_id=workspace_id)
    # The hold covers the charge, so this can never take the balance below zero.
    Wallet.objects.filter(pk=wallet_id).update(balance=F("balance") + held - charge)
    _composition_entry(
        wallet_id=wallet_id,
        composition_ref=composition_ref,
        user_id=user_id,
        kind=Kind.RELEASE,
        amount=held,
        outcome=Outcome.SUCCEEDED,
        reason="Hold released",
    )
    reason = f"{delivered_images} image{'s' if delivered_images != 1 else ''} delivered"
    if searches:
        charged = search_charge // credits_per_search if credits_per_search else searches
        capped = f" ({charged} charged: capped at the hold)" if charged < searches else ""
        reason += f", {searches} search{'es' if searches != 1 else ''}{capped}"
    if waiver_reason:
        reason = f"{reason}; not charged: {waiver_reason}"
    _composition_entry(
        wallet_id=wallet_id,
        composition_ref=composition_ref,
        user_id=user_id,
        kind=Kind.CAPTURE,
        amount=-charge,
        images=delivered_images,
        reason=reason[:300],
    )
    return Settlement(charged=charge, refunded=held - charge)


def release_credits(
    *, workspace_id: int, composition_ref: str, held: int, outcome: str, user_id: int | None
) -> Settlement:
    """On failure, refusal or cancel: give the whole hold back. Nothing is charged.

    Call inside the transaction that marks the composition failed or canceled; record the
    Settlement on it."""
    if outcome not in (Outcome.FAILED, Outcome.CANCELED):
        raise ValueError(
            f"Only failed or canceled compositions are released in full, not {outcome!r}."
        )
    wallet_id = Wallet.objects.values_list("pk", flat=True).get(workspace_id=workspace_id)
    Wallet.objects.filter(pk=wallet_id).update(balance=F("balance") + held)
    _composition_entry(
        wallet_id=wallet_id,
        composition_ref=composition_ref,
        kind=Kind.RELEASE,
        amount=held,
        outcome=outcome,
        user_id=user_id,
        reason=f"Not charged: {outcome}",
    )
    return Settlement(charged=0, refunded=held)


def waive_credits(
    *, workspace_id: int, composition_ref: str, held: int, reason: str, user_id: int | None
) -> Settlement:
    """On a success that costs nothing (its images repeat an earlier composition's): give the
    whole hold back, nothing is captured, and the ledger says why.

    Call inside the transaction that marks the composition succeeded; record the Settlement."""
    wallet_id = Wallet.objects.values_list("pk", flat=True).get(workspace_id=workspace_id)
    Wallet.objects.filter(pk=wallet_id).update(balance=F("balance") + held)
    _composition_entry(
        wallet_id=wallet_id,
        composition_ref=composition_ref,
        kind=Kind.RELEASE,
        amount=held,
        outcome=Outcome.SUCCEEDED,
        user_id=user_id,
        reason=reason,
    )
    return Settlement(charged=0, refunded=held)


# --- Grants, purchases, adjustments ----------------------------------------------------------


def grant_credits(
    *,
    wallet: Wallet,
    amount: int,
    reason: str,
    kind: str = Kind.GRANT,
    reference: str = "",
    user=None,
) -> LedgerEntry | None:
    """Add credits. With a reference, at most once: a repeat returns None and changes nothing."""
    if amount <= 0:
        raise AppError(_("A grant must be a positive number of credits."), field="amount")
    try:
        with transaction.atomic():
            entry = LedgerEntry.objects.create(
                wallet=wallet,
                kind=kind,
                amount=amount,
                created_by=user,
                reason=reason[:300],
                reference=reference,
            )
            Wallet.objects.filter(pk=wallet.pk).update(balance=F("balance") + amount)
    except IntegrityError:
        if reference and LedgerEntry.objects.filter(reference=reference).exists():
            return None  # already granted under this reference
        raise
    return entry


def adjust_credits(*, wallet: Wallet, amount: int, reason: str, user=None) -> LedgerEntry:
    """A correction by staff, up or down; never below zero."""
    if not amount:
        raise AppError(_("An adjustment must change the balance."), field="amount")
    if not reason.strip():
        raise AppError(_("Say why the balance is being adjusted."), field="reason")
    with transaction.atomic():
        changed = Wallet.objects.filter(pk=wallet.pk, balance__gte=-amount).update(
            balance=F("balance") + amount
        )
        if not changed:
            raise InsufficientCredits(
                _("That adjustment would take the balance below zero."), field="amount"
            )
        return LedgerEntry.objects.create(
            wallet=wallet, kind=Kind.ADJUSTMENT, amount=amount, created_by=user, reason=reason
        )


def grant_monthly_credits(*, now: datetime | None = None) -> int:
    """Each wallet's monthly grant, once per calendar month (UTC) however often this runs."""
    now = now or timezone.now()
    month = now.astimezone(UTC).strftime("%Y-%m")
    granted = 0
    # A workspace opened this month already has its welcome grant; its first monthly one
    # comes next month. Teams on a plan nobody paid for get none (Wallet.monthly_grant says
    # why); the filter is that rule in SQL, so those wallets are not even read.
    for wallet in Wallet.objects.select_related("plan", "workspace").filter(
        Q(plan__is_paid=True) | Q(workspace__kind="personal"),
        plan__monthly_grant__gt=0,
        created_at__lt=_month_start(now),
        # A workspace closed with its owner's account keeps its wallet for the ledger's sake
        # (privacy.services.close_workspace) but is given nothing more.
        workspace__closed_at__isnull=True,
    ):
        entry = grant_credits(
            wallet=wallet,
            amount=wallet.monthly_grant(),
            reason=f"Monthly credits for {month} ({wallet.plan.name} plan)",
            reference=f"monthly:{wallet.workspace.public_id}:{month}",
        )
        granted += entry is not None
    return granted


def ledger_sum(wallet: Wallet) -> int:
    return wallet.entries.aggregate(total=Sum("amount"))["total"] or 0
