"""Per-composition usage lines (billing's, from the ledger) with what only compositions know:
the preset, a thumbnail and a link; and their CSV export."""

import csv
from collections.abc import Iterable, Iterator

from django.urls import reverse

from billing.usage import CompositionLine

from .models import Composition, Result


def describe(lines: list[CompositionLine], *, workspace) -> list[CompositionLine]:
    """Set `preset`, `url` and `thumb` on each line (None for a deleted composition, and no
    thumbnail for a result a moderator removed). Two queries."""
    refs = [line.ref for line in lines]
    found = {
        c.public_id: c
        for c in Composition.objects.filter(workspace=workspace, public_id__in=refs).only(
            "id", "public_id", "preset"
        )
    }
    first_results: dict[int, str] = {}
    for composition_id, public_id in (
        Result.objects.filter(composition__in=list(found.values()))
        .order_by("composition_id", "-position")
        .values_list("composition_id", "public_id")
    ):
        first_results[composition_id] = public_id  # the lowest position wins (ordered last)
    for line in lines:
        composition = found.get(line.ref)
        line.preset = composition.get_preset_display() if composition else None  # type: ignore[attr-defined]
        line.url = composition.get_absolute_url() if composition else None  # type: ignore[attr-defined]
        result_id = first_results.get(composition.pk) if composition else None
        line.thumb = (  # type: ignore[attr-defined]
            reverse("compositions:result_file", args=[result_id, "thumb"]) if result_id else None
        )
    return lines


CSV_HEADER = [
    "composition",
    "asked_at_utc",
    "made_by",
    "preset",
    "outcome",
    "images_asked",
    "images_delivered",
    "credits_held",
    "credits_charged",
    "credits_returned",
]


class _Echo:
    """csv.writer writes to this and gets the line back, for a streaming response."""

    def write(self, value: str) -> str:
        return value


def spreadsheet_safe(text: str) -> str:
    """A cell a spreadsheet will not run as a formula (an email may start with = + - or @)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_rows(batches: Iterable[list[CompositionLine]], *, workspace) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_HEADER)
    for lines in batches:
        for line in describe(lines, workspace=workspace):
            yield writer.writerow(
                [
                    line.ref,
                    line.created_at.isoformat(),  # type: ignore[attr-defined]
                    spreadsheet_safe(line.created_by or ""),
                    line.preset or "(deleted)",  # type: ignore[attr-defined]
                    line.outcome or "on hold",
                    line.images_asked,
                    line.images_delivered,
                    line.held,
                    line.charged,
                    line.returned,
                ]
            )
