"""Usage for a workspace, counted from the ledger: compositions and failures from the reserve
rows (the day a composition was asked for), images and credits from the capture rows (the day
it delivered). The ledger keeps counting a composition after it is deleted."""

from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import TruncDate

from .models import LedgerEntry

Kind = LedgerEntry.Kind


@dataclass
class Day:
    date: date
    images: int = 0
    credits: int = 0
    compositions: int = 0
    failed: int = 0


def _in_range(workspace, start: date, end: date) -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.filter(
        wallet__workspace=workspace, created_at__date__gte=start, created_at__date__lte=end
    ).order_by()


def _reserves(entries: QuerySet[LedgerEntry]) -> QuerySet[LedgerEntry]:
    """Reserve rows, one per composition asked for, each marked `failed` if it released so."""
    failed = LedgerEntry.objects.filter(
        composition_ref=OuterRef("composition_ref"),
        kind=Kind.RELEASE,
        outcome=LedgerEntry.Outcome.FAILED,
    )
    return entries.filter(kind=Kind.RESERVE).alias(failed=Exists(failed))


def _captures(entries: QuerySet[LedgerEntry]) -> QuerySet[LedgerEntry]:
    return entries.filter(kind=Kind.CAPTURE)


def usage_by_day(*, workspace, start: date, end: date, user=None) -> list[Day]:
    """One row per day from start to end inclusive (UTC), zeros included."""
    days = {
        start + timedelta(days=i): Day(start + timedelta(days=i))
        for i in range((end - start).days + 1)
    }
    entries = _in_range(workspace, start, end)
    if user is not None:
        entries = entries.filter(created_by=user)
    for row in (
        _reserves(entries)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(n=Count("id"), failed=Count("id", filter=Q(failed=True)))
    ):
        days[row["day"]].compositions = row["n"]
        days[row["day"]].failed = row["failed"]
    for delivered in (
        _captures(entries)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(images=Sum("images"), charged=Sum("amount"))
    ):
        days[delivered["day"]].images = delivered["images"] or 0
        days[delivered["day"]].credits = -(delivered["charged"] or 0)
    return [days[d] for d in sorted(days)]


def member_totals(*, workspace, start: date, end: date) -> list[dict]:
    """Per member (by email, None for a deleted account), from start to end inclusive (UTC).

    Reserves and captures are grouped in separate queries, so nothing is counted once per row
    of the other; the members' numbers add up to usage_by_day's."""
    entries = _in_range(workspace, start, end)
    members: dict[str | None, dict] = {}

    def member(email: str | None) -> dict:
        return members.setdefault(
            email,
            {"email": email, "compositions": 0, "failed": 0, "credits": 0, "images": 0},
        )

    for row in (
        _reserves(entries)
        .values("created_by__email")
        .annotate(n=Count("id"), failed=Count("id", filter=Q(failed=True)))
    ):
        totals = member(row["created_by__email"])
        totals["compositions"], totals["failed"] = row["n"], row["failed"]
    for delivered in (
        _captures(entries)
        .values("created_by__email")
        .annotate(images=Sum("images"), charged=Sum("amount"))
    ):
        totals = member(delivered["created_by__email"])
        totals["images"] = delivered["images"] or 0
        totals["credits"] = -(delivered["charged"] or 0)
    return sorted(members.values(), key=lambda m: (m["email"] is None, m["email"] or ""))


def bar_chart(values: list[int], *, width: int = 600, height: int = 140) -> dict:
    """Geometry for a server-rendered SVG bar chart (no JavaScript, no CDN)."""
    top = max(values) if values and max(values) > 0 else 1
    slot = width / max(len(values), 1)
    bars = []
    for index, value in enumerate(values):
        h = round(value / top * (height - 20), 1)
        bars.append(
            {
                "x": round(index * slot + slot * 0.15, 1),
                "y": round(height - h, 1),
                "w": round(slot * 0.7, 1),
                "h": h,
                "value": value,
            }
        )
    return {"bars": bars, "width": width, "height": height, "top": top}


# --- one line per composition -------------------------------------------------------------


@dataclass
class CompositionLine:
    """What one composition did to the balance, in plain words, from its ledger rows."""

    ref: str
    created_at: object
    created_by: str | None
    images_asked: int = 0
    images_delivered: int = 0
    held: int = 0  # the reserve (credits put on hold at submit)
    charged: int = 0  # the capture (what the delivered images cost)
    returned: int = 0  # the part of the hold given back (held - charged once settled)
    outcome: str = ""  # succeeded, failed, canceled; "" while still on hold
    entries: list = field(default_factory=list)

    @property
    def settled(self) -> bool:
        return bool(self.outcome)

    @property
    def net(self) -> int:
        """The change to the balance so far (negative: spent or still held)."""
        return sum(e.amount for e in self.entries)


def composition_reserves(wallet) -> QuerySet[LedgerEntry]:
    """A wallet's reserve rows, newest first: one per composition asked for (page these)."""
    return wallet.entries.filter(kind=Kind.RESERVE).select_related("created_by")


def composition_lines(wallet, reserves) -> list[CompositionLine]:
    """The lines for these reserve rows (a page of them), with every row of theirs: 1 query."""
    lines = {
        r.composition_ref: CompositionLine(
            ref=r.composition_ref,
            created_at=r.created_at,
            created_by=r.created_by.email if r.created_by else None,
        )
        for r in reserves
    }
    rows = wallet.entries.filter(composition_ref__in=list(lines)).order_by("created_at", "id")
    for entry in rows:
        line = lines[entry.composition_ref]
        line.entries.append(entry)
        if entry.kind == Kind.RESERVE:
            line.held = -entry.amount
            line.images_asked = entry.images
        elif entry.kind == Kind.CAPTURE:
            line.charged = -entry.amount
            line.images_delivered = entry.images
        elif entry.kind == Kind.RELEASE:
            line.outcome = entry.outcome or "settled"
    for line in lines.values():
        if line.settled:
            line.returned = line.held - line.charged
    return list(lines.values())
