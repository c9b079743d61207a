"""`{% privacy_section workspace me %}`: the workspace page's retention setting and exports,
without accounts importing privacy (the dependency runs from privacy to accounts)."""

from typing import Any

from django import template
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import RETENTION_CHOICES, RETENTION_MAX_DAYS, Membership, Workspace

from ..models import Export

register = template.Library()


def retention_choices() -> list[tuple[str, str]]:
    choices = [("forever", _("Forever"))]
    choices += [(str(days), _("%(days)d days") % {"days": days}) for days in RETENTION_CHOICES]
    return [*choices, ("custom", _("Custom"))]


@register.inclusion_tag("privacy/section.html", takes_context=True)
def privacy_section(
    context: template.Context, workspace: Workspace, me: Membership
) -> dict[str, Any]:
    form = context.get("retention_form") or {}
    days = workspace.retention_days
    if form:
        selected, custom = form["values"]["retention"], form["values"]["custom_days"]
    elif days is None:
        selected, custom = "forever", ""
    elif days in RETENTION_CHOICES:
        selected, custom = str(days), ""
    else:
        selected, custom = "custom", str(days)
    exports = Export.objects.filter(workspace=workspace)[:5] if me.can_manage else []
    return {
        "csrf_token": context.get("csrf_token"),
        "workspace": workspace,
        "can_manage": me.can_manage,
        "form": form,
        "choices": retention_choices(),
        "selected": selected,
        "custom": custom,
        "max_days": RETENTION_MAX_DAYS,
        "hours": settings.BANANASITE_EXPORT_HOURS,
        "exports": exports,
        "busy": any(e.status in Export.UNFINISHED for e in exports),
        "now": timezone.now(),
    }
