"""The moderators' queue: open reports (one row per reported item) and held compositions,
oldest first, and the suspended accounts that can be restored."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from compositions.models import Composition, Report, Result, Upload

ACTIONS = {
    "report": ["dismiss", "remove", "suspend"],
    "held": ["approve", "reject", "suspend"],
    "account": ["restore"],
}
ACTION_LABELS = {
    "dismiss": "Dismiss",
    "remove": "Remove",
    "suspend": "Suspend account",
    "approve": "Approve",
    "reject": "Reject",
    "restore": "Restore account",
}


@dataclass
class QueueItem:
    key: str  # what the form posts back: "result:res_…", "upload:up_…", "held:cmp_…"
    kind: str  # "report", "held" or "account"
    target: object
    since: datetime
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
        if self.kind == "report":
            return f"Reported {self.key.partition(':')[0]}"
        return "Held composition" if self.kind == "held" else "Suspended account"

    @property
    def actions(self):
        return [(a, ACTION_LABELS[a]) for a in ACTIONS[self.kind]]


def report_items() -> list[QueueItem]:
    reports = Report.objects.filter(status=Report.Status.OPEN).select_related(
        "reporter",
        "result__composition__created_by",
        "result__composition__workspace",
        "upload__uploaded_by",
        "upload__workspace",
    )
    items: dict[str, QueueItem] = {}
    reasons: dict[str, Counter] = {}
    for report in reports.order_by("created_at", "id"):
        target = report.result or report.upload
        key = f"{report.target_type}:{target.public_id}"
        item = items.get(key)
        if item is None:
            is_result = isinstance(target, Result)
            composition = target.composition if is_result else None
            item = items[key] = QueueItem(
                key=key,
                kind="report",
                target=target,
                since=report.created_at,
                owner=composition.created_by if is_result else target.uploaded_by,
                workspace=composition.workspace if is_result else target.workspace,
                images=[(report.target_type, target.public_id)],
                prompt=composition.prompt if is_result else "",
                count=0,
            )
            reasons[key] = Counter()
        item.count += 1
        reasons[key][report.get_reason_display()] += 1
        if report.reporter.email not in item.reporters:
            item.reporters.append(report.reporter.email)
        if report.details:
            item.details.append(report.details)
    for key, item in items.items():
        item.reasons = [f"{r} ×{n}" if n > 1 else r for r, n in reasons[key].most_common()]
    return list(items.values())


def held_items() -> list[QueueItem]:
    held = (
        Composition.objects.filter(status=Composition.Status.HELD)
        .select_related("created_by", "workspace")
        .prefetch_related("inputs__upload")
        .order_by("created_at", "id")
    )
    return [
        QueueItem(
            key=f"held:{c.public_id}",
            kind="held",
            target=c,
            since=c.created_at,
            owner=c.created_by,
            workspace=c.workspace,
            images=[("upload", i.upload.public_id) for i in c.inputs.all()],
            reasons=[c.held_reason or "Held for review."],
            prompt=c.prompt,
        )
        for c in held
    ]


def account_items() -> list[QueueItem]:
    from accounts.models import User

    return [
        QueueItem(
            key=f"account:{u.email}",
            kind="account",
            target=u,
            since=u.suspended_at,
            owner=u,
            reasons=[u.suspension_reason],
        )
        for u in User.objects.filter(suspended_at__isnull=False).order_by("suspended_at")
    ]


def queue(show: str = "all") -> list[QueueItem]:
    if show == "suspended":
        return account_items()
    items = []
    if show in ("all", "reports"):
        items += report_items()
    if show in ("all", "held"):
        items += held_items()
    return sorted(items, key=lambda item: item.since)


def resolve(key: str):
    """The item a posted key names, as (kind, target), or None when it is gone."""
    from accounts.models import User

    kind, _, ident = key.partition(":")
    if kind == "result":
        target = Result.objects.select_related("composition").filter(public_id=ident).first()
        return ("report", target) if target else None
    if kind == "upload":
        target = Upload.objects.filter(public_id=ident).first()
        return ("report", target) if target else None
    if kind == "held":
        target = Composition.objects.filter(public_id=ident).first()
        return ("held", target) if target else None
    if kind == "account":
        target = User.objects.filter(email=ident).first()
        return ("account", target) if target else None
    return None
