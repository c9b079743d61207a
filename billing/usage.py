"""Usage per day for a workspace: images delivered, credits charged, compositions, failures."""

from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate

from .models import LedgerEntry


@dataclass
class Day:
    date: date
    images: int = 0
    credits: int = 0
    compositions: int = 0
    failed: int = 0


def usage_by_day(*, workspace, start: date, end: date, user=None) -> list[Day]:
    """One row per day from start to end inclusive (UTC), zeros included."""
    from compositions.models import Composition, Result

    days = {
        start + timedelta(days=i): Day(start + timedelta(days=i))
        for i in range((end - start).days + 1)
    }
    in_range = {"created_at__date__gte": start, "created_at__date__lte": end}
    compositions = Composition.objects.filter(workspace=workspace, **in_range)
    results = Result.objects.filter(composition__workspace=workspace, **in_range)
    charges = LedgerEntry.objects.filter(
        wallet__workspace=workspace, kind=LedgerEntry.Kind.CAPTURE, **in_range
    )
    if user is not None:
        compositions = compositions.filter(created_by=user)
        results = results.filter(composition__created_by=user)
        charges = charges.filter(composition__created_by=user)
    for row in (
        compositions.annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(n=Count("id"), failed=Count("id", filter=Q(status="failed")))
    ):
        days[row["day"]].compositions = row["n"]
        days[row["day"]].failed = row["failed"]
    for row in results.annotate(day=TruncDate("created_at")).values("day").annotate(n=Count("id")):
        days[row["day"]].images = row["n"]
    for row in (
        charges.annotate(day=TruncDate("created_at")).values("day").annotate(s=Sum("amount"))
    ):
        days[row["day"]].credits = -(row["s"] or 0)
    return [days[d] for d in sorted(days)]


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
