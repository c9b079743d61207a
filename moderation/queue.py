"""The moderators' queue: open reports (one row per reported item) and held compositions,
oldest first, and the suspended accounts that can be restored."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from django.core.paginator import Paginator
from django.db.models import Count, Min, Q
from django.utils.translation import gettext, gettext_lazy

from accounts.models import User
from compositions.models import Composition, Result, Upload

from .models import Report

ACTIONS = {
    "report": ["dismiss", "remove", "suspend"],
    "held": ["approve", "reject", "suspend"],
    "account": ["restore"],
}
ACTION_LABELS = {  # the keys are what the form posts; only the labels are translated
    "dismiss": gettext_lazy("Dismiss"),
    "remove": gettext_lazy("Remove"),
    "suspend": gettext_lazy("Suspend account"),
    "approve": gettext_lazy("Approve"),
    "reject": gettext_lazy("Reject"),
    "restore": gettext_lazy("Restore account"),
}
KIND_LABELS = {
    "result": gettext_lazy("Reported result"),
    "upload": gettext_lazy("Reported upload"),
    "held": gettext_lazy("Held composition"),
    "account": gettext_lazy("Suspended account"),
}


@dataclass
class QueueItem:
    key: str  # what the form posts back: "result:res_…", "upload:up_…", "held:cmp_…"
    kind: str  # "report", "held" or "account"
    target: object
    since: datetime | None
    owner: object = None
    workspace: object = None
    images: list = field(default_factory=list)  # (kind, public_id) of thumbnails to show
    reasons: list = field(default_factory=list)
    reporters: list = field(default_factory=list)
    details: list = field(default_factory=list)
    count: int = 1
    prompt: str = ""

    @property
    def label(self) -> str:
        kind = self.key.partition(":")[0] if self.kind == "report" else self.kind
        return str(KIND_LABELS[kind])

    @property
    def actions(self):
        return [(a, ACTION_LABELS[a]) for a in ACTIONS[self.kind]]


PAGE_SIZE = 50


@dataclass(order=True)
class _Entry:
    """One row of the queue before it is filled in: enough to order and page it."""

    since: datetime
    kind: str = field(compare=False)
    pk: int = field(compare=False)
    count: int = field(default=1, compare=False)


def _entries(show: str) -> list[_Entry]:
    """Every open item, oldest first, from two aggregate queries: reports are grouped per
    reported item in the database (count, oldest report), so a long queue costs one row per
    item here and the details are read only for the page shown."""
    entries = []
    if show in ("all", "reports"):
        groups = (
            Report.objects.filter(status=Report.Status.OPEN)
            .values("target_type", "result_id", "upload_id")
            .annotate(count=Count("id"), since=Min("created_at"))
        )
        entries += [
            _Entry(g["since"], g["target_type"], g["result_id"] or g["upload_id"], g["count"])
            for g in groups
        ]
    if show in ("all", "held"):
        held = Composition.objects.filter(status=Composition.Status.HELD)
        entries += [
            _Entry(c["created_at"], "held", c["id"]) for c in held.values("id", "created_at")
        ]
    return sorted(entries)


def _reported(entries: list[_Entry]) -> dict[tuple[str, int], QueueItem]:
    """Queue items for the reported results and uploads among `entries`, with their reports."""
    ids = {kind: [e.pk for e in entries if e.kind == kind] for kind in ("result", "upload")}
    targets: dict[tuple[str, int], Result | Upload] = {
        ("result", r.pk): r
        for r in Result.objects.filter(pk__in=ids["result"]).select_related(
            "composition__created_by", "composition__workspace"
        )
    }
    targets |= {
        ("upload", u.pk): u
        for u in Upload.objects.filter(pk__in=ids["upload"]).select_related(
            "uploaded_by", "workspace"
        )
    }
    items = {}
    for (kind, pk), target in targets.items():
        composition = target.composition if isinstance(target, Result) else None
        items[(kind, pk)] = QueueItem(
            key=f"{kind}:{target.public_id}",
            kind="report",
            target=target,
            since=None,
            owner=composition.created_by if composition else getattr(target, "uploaded_by", None),
            workspace=composition.workspace if composition else getattr(target, "workspace", None),
            images=[(kind, target.public_id)],
            prompt=composition.prompt if composition else "",
        )
    reasons: dict[tuple[str, int], Counter] = {key: Counter() for key in items}
    reports = (
        Report.objects.filter(status=Report.Status.OPEN)
        .filter(Q(result_id__in=ids["result"]) | Q(upload_id__in=ids["upload"]))
        .select_related("reporter")
        .order_by("created_at", "id")
    )
    for report in reports:
        key = (report.target_type, report.result_id or report.upload_id or 0)
        item = items.get(key)
        if item is None:
            continue
        reasons[key][report.get_reason_display()] += 1
        if report.reporter.email not in item.reporters:
            item.reporters.append(report.reporter.email)
        if report.details:
            item.details.append(report.details)
    for key, item in items.items():
        item.reasons = [f"{r} ×{n}" if n > 1 else r for r, n in reasons[key].most_common()]
    return items


def _held(entries: list[_Entry]) -> dict[tuple[str, int], QueueItem]:
    held = (
        Composition.objects.filter(pk__in=[e.pk for e in entries if e.kind == "held"])
        .select_related("created_by", "workspace")
        .prefetch_related("inputs__upload")
    )
    return {
        ("held", c.pk): QueueItem(
            key=f"held:{c.public_id}",
            kind="held",
            target=c,
            since=c.created_at,
            owner=c.created_by,
            workspace=c.workspace,
            images=[("upload", i.upload.public_id) for i in c.inputs.all()],
            reasons=[c.held_reason or gettext("Held for review.")],
            prompt=c.prompt,
        )
        for c in held
    }


def _accounts_page(number):
    page = Paginator(
        User.objects.filter(suspended_at__isnull=False).order_by("suspended_at", "id"), PAGE_SIZE
    ).get_page(number)
    page.object_list = [
        QueueItem(
            key=f"account:{u.email}",
            kind="account",
            target=u,
            since=u.suspended_at,
            owner=u,
            reasons=[u.suspension_reason],
        )
        for u in page.object_list
    ]
    return page


def queue_page(show: str = "all", number=1):
    """One page of the queue: open reports (one row per item) and held compositions, oldest
    first; or the suspended accounts."""
    if show == "suspended":
        return _accounts_page(number)
    page = Paginator(_entries(show), PAGE_SIZE).get_page(number)
    entries = list(page.object_list)
    found = _reported(entries) | _held(entries)
    items = []
    for entry in entries:
        item = found.get((entry.kind, entry.pk))
        if item is None:  # removed or decided between the two reads
            continue
        item.since, item.count = entry.since, entry.count
        items.append(item)
    page.object_list = cast(Any, items)  # the page shows items built from its entries
    return page


def resolve(key: str) -> tuple[str, Any] | None:
    """The item a posted key names, as (kind, target), or None when it is gone."""
    kind, _, ident = key.partition(":")
    if kind == "result":
        result = Result.objects.select_related("composition").filter(public_id=ident).first()
        return ("report", result) if result else None
    if kind == "upload":
        upload = Upload.objects.filter(public_id=ident).first()
        return ("report", upload) if upload else None
    if kind == "held":
        composition = Composition.objects.filter(public_id=ident).first()
        return ("held", composition) if composition else None
    if kind == "account":
        user = User.objects.filter(email=ident).first()
        return ("account", user) if user else None
    return None
