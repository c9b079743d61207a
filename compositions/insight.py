"""What a composition's page says about it beyond its own row: how long it should take, where
it stands in the queue, where it comes from and what was made from it, what a moderator took
down. Every function here runs a fixed, small number of queries."""

from dataclasses import dataclass
from datetime import datetime
from statistics import median

from django.core.cache import cache
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from bananasite.translations import in_sentence
from moderation.models import Report

from .models import Composition, CompositionInput, Result

ETA_SAMPLE = 20  # recent successes of the same model and provider
ETA_CACHE_SECONDS = 30
LINEAGE_DEPTH = 6  # ancestors shown (one query: select_related down the chain)
CHILDREN_SHOWN = 12


def typical_seconds(*, model: str, provider: str) -> float | None:
    """The median time from claim to finish of the last ETA_SAMPLE successes of this model on
    this provider (queue time left out: it is counted separately); None with no history."""
    key = f"eta:{model}:{provider}"
    cached = cache.get(key)
    if cached is not None:
        return cached or None
    rows = (
        Composition.objects.filter(
            model=model,
            provider=provider,
            status=Composition.Status.SUCCEEDED,
            started_at__isnull=False,
            finished_at__isnull=False,
        )
        .order_by("-finished_at")
        .values_list("started_at", "finished_at")[:ETA_SAMPLE]
    )
    durations = [
        (end - start).total_seconds() for start, end in rows if start and end and end >= start
    ]
    value = round(median(durations), 1) if durations else 0.0
    cache.set(key, value, ETA_CACHE_SECONDS)
    return value or None


def global_queue_position(composition: Composition) -> int | None:
    """1 + the queued compositions of every workspace that the workers take before this one
    (they take the queue in the order it was enqueued)."""
    if composition.status != Composition.Status.QUEUED:
        return None
    mine = composition.enqueued_at or composition.created_at
    queued = Composition.objects.filter(status=Composition.Status.QUEUED).alias(
        since=Coalesce(F("enqueued_at"), F("created_at"))
    )
    ahead = queued.filter(Q(since__lt=mine) | Q(since=mine, id__lt=composition.pk)).count()
    return ahead + 1


@dataclass
class Eta:
    typical: float | None  # seconds a run usually takes
    remaining: int | None  # seconds left, for a running composition

    def text(self, status: str) -> str:
        if self.typical is None:
            return ""
        typical = _duration(self.typical)
        if status in Composition.ACTIVE and self.remaining is not None:
            if self.remaining <= 0:
                return _("Taking longer than usual (usually %(typical)s); any moment now.") % {
                    "typical": typical
                }
            return _("About %(left)s left (this model usually takes %(typical)s).") % {
                "left": _duration(self.remaining),
                "typical": typical,
            }
        if status in (Composition.Status.QUEUED, Composition.Status.HELD):
            return _("Once it starts, this model usually takes %(typical)s.") % {"typical": typical}
        return ""


def _duration(seconds: float) -> str:
    seconds = max(1, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    return f"{seconds // 60} min {seconds % 60:02d} s"


def eta_for(composition: Composition, *, now: datetime) -> Eta:
    if composition.is_finished:
        return Eta(None, None)
    typical = typical_seconds(model=composition.model, provider=composition.provider)
    remaining = None
    if typical is not None and composition.started_at and composition.status in Composition.ACTIVE:
        remaining = round(typical - (now - composition.started_at).total_seconds())
    return Eta(typical, remaining)


# --- lineage ---------------------------------------------------------------------------------


def ancestors(composition: Composition) -> list[Composition]:
    """Parent, grandparent... oldest first, at most LINEAGE_DEPTH, in one query. Scoped to the
    composition's workspace (a parent is always in it; this only makes sure)."""
    chain = "__".join(["parent"] * LINEAGE_DEPTH)
    row = (
        Composition.objects.filter(pk=composition.pk).select_related(chain).first()
        if composition.parent_id
        else None
    )
    found: list[Composition] = []
    node = row.parent if row else None
    while node is not None and len(found) < LINEAGE_DEPTH:
        if node.workspace_id != composition.workspace_id:
            break
        found.append(node)
        node = node.parent if "parent" in node._state.fields_cache else None
    return list(reversed(found))


def children(composition: Composition) -> list[Composition]:
    return list(
        composition.children.filter(workspace_id=composition.workspace_id)
        .prefetch_related("results")
        .order_by("created_at", "id")[:CHILDREN_SHOWN]
    )


@dataclass
class Picture:
    key: str
    label: str
    url: str
    thumb: str
    width: int
    height: int
    # The template offers "refine the parent's result" for these (labels are translated).
    parent: bool = False


def compare_choices(
    composition: Composition,
    *,
    results: list[Result],
    inputs: list[CompositionInput],
    parent_results: list[Result],
    children: list[Composition],
    result_url,
    upload_url,
) -> list[Picture]:
    """Everything a result can be compared with: its siblings, its inputs, its parent's
    results and its variations' and refinements' results."""
    pictures = [
        Picture(
            r.public_id,
            _("Result %(position)s") % {"position": r.position},
            result_url(r, "image"),
            result_url(r, "thumb"),
            r.width,
            r.height,
        )
        for r in results
    ]
    pictures += [
        Picture(
            i.upload.public_id,
            _("Input: image %(position)s (%(role)s)")
            % {"position": i.position, "role": in_sentence(i.get_role_display())},
            upload_url(i.upload, "image"),
            upload_url(i.upload, "thumb"),
            i.upload.width,
            i.upload.height,
        )
        for i in inputs
    ]
    pictures += [
        Picture(
            r.public_id,
            _("Parent %(id)s, result %(position)s")
            % {"id": r.composition.public_id, "position": r.position},
            result_url(r, "image"),
            result_url(r, "thumb"),
            r.width,
            r.height,
            parent=True,
        )
        for r in parent_results
    ]
    for child in children:
        for r in child.results.all():
            pictures.append(
                Picture(
                    r.public_id,
                    _("%(origin)s %(id)s, result %(position)s")
                    % {
                        "origin": child.get_origin_display(),
                        "id": child.public_id,
                        "position": r.position,
                    },
                    result_url(r, "image"),
                    result_url(r, "thumb"),
                    r.width,
                    r.height,
                )
            )
    return pictures


# --- removed content -------------------------------------------------------------------------


@dataclass
class Removal:
    position: int
    removed_at: datetime
    category: str


FALLBACK_CATEGORY = "it broke our content rules"


def removals(composition_ids: list[int]) -> dict[int, list[Removal]]:
    """Results a moderator removed, per composition, with the category people reported it for
    (the most reported reason of the reports the removal closed). Two queries."""
    removed = list(
        Result.all_objects.filter(composition_id__in=composition_ids, removed_at__isnull=False)
        .order_by("composition_id", "position")
        .values_list("pk", "composition_id", "position", "removed_at")
    )
    if not removed:
        return {}
    reasons: dict[int, dict[str, int]] = {}
    for result_id, reason in Report.objects.filter(
        result_id__in=[r[0] for r in removed], status=Report.Status.ACTIONED
    ).values_list("result_id", "reason"):
        if result_id is None:
            continue
        tally = reasons.setdefault(result_id, {})
        tally[reason] = tally.get(reason, 0) + 1
    found: dict[int, list[Removal]] = {}
    for pk, composition_id, position, removed_at in removed:
        counts = reasons.get(pk, {})
        if removed_at is None:
            continue
        category = (
            str(Report.Reason(max(counts, key=lambda k: counts[k])).label)
            if counts
            else FALLBACK_CATEGORY
        )
        found.setdefault(composition_id, []).append(Removal(position, removed_at, category))
    return found
