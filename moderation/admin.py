"""The moderation panel in Django's admin: the queue, the audit log and the blocklist."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy, ngettext

from bananasite.admin import ReadOnlyAdmin
from bananasite.errors import AppError
from bananasite.files import serve_private_file
from compositions.models import Result, Upload

from . import services
from .models import AuditEntry, BlockedHash, ModerationQueue, Report
from .queue import ACTION_LABELS, ACTIONS, queue_page, resolve

NEEDS_REASON = {"remove", "suspend", "reject"}
TABS = [  # the keys are what ?show= takes; only the labels are translated
    ("all", gettext_lazy("Everything open")),
    ("reports", gettext_lazy("Reports")),
    ("held", gettext_lazy("Held compositions")),
    ("suspended", gettext_lazy("Suspended accounts")),
]


def can_moderate(request) -> bool:
    return request.user.is_active and request.user.has_perm("moderation.moderate")


@admin.register(ModerationQueue)
class ModerationQueueAdmin(ReadOnlyAdmin):
    """Not a model list: one page with every open report and held composition."""

    def has_module_permission(self, request):
        return can_moderate(request)

    def has_view_permission(self, request, obj=None):
        return can_moderate(request)

    def get_urls(self):
        return [
            path(
                "media/<str:kind>/<str:public_id>/<str:variant>/",
                self.admin_site.admin_view(self.media_view),
                name="moderation_media",
            ),
            *super().get_urls(),
        ]

    def media_view(self, request, kind, public_id, variant):
        """A result or upload for moderators, whichever workspace it belongs to."""
        if not can_moderate(request):
            raise PermissionDenied
        model = {"result": Result, "upload": Upload}.get(kind)
        item = model and model.objects.filter(public_id=public_id).first()
        if item is None or variant not in ("thumb", "full"):
            raise Http404
        field = item.thumbnail if variant == "thumb" else item.file
        if not field:
            raise Http404
        content_type = "image/webp" if variant == "thumb" else item.content_type
        return serve_private_file(
            field, content_type=content_type, cache_control="private, no-store"
        )

    def changelist_view(self, request, extra_context=None):
        if not can_moderate(request):
            raise PermissionDenied
        if request.method == "POST":
            return self._act(request)
        show = request.GET.get("show", "all")
        if show not in dict(TABS):
            show = "all"
        page = queue_page(show, request.GET.get("page"))
        actions = sorted(
            {a for kind in ACTIONS.values() for a in kind}, key=list(ACTION_LABELS).index
        )
        if show == "suspended":
            actions = ["restore"]
        elif show == "reports":
            actions = ACTIONS["report"]
        elif show == "held":
            actions = ACTIONS["held"]
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Moderation queue"),
            "opts": self.model._meta,
            "page": page,
            "show": show,
            "tabs": TABS,
            "bulk_actions": [(a, ACTION_LABELS[a]) for a in actions],
            "needs_reason": sorted(NEEDS_REASON),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/moderation/queue.html", context)

    def _act(self, request):
        """Apply an action to the chosen items: a row's own button, or the bulk form."""
        back = request.get_full_path()
        single = request.POST.get("do", "")
        if single:
            action, _, key = single.partition("|")
            keys = [key]
        else:
            action = request.POST.get("action", "")
            keys = request.POST.getlist("items")
        reason = request.POST.get("reason", "").strip()
        if action not in ACTION_LABELS:
            messages.error(request, gettext("Choose an action."))
            return redirect(back)
        if not keys:
            messages.error(request, gettext("Tick at least one item first."))
            return redirect(back)
        if action in NEEDS_REASON and not reason:
            messages.error(
                request,
                gettext(
                    "“%(action)s” needs a reason: it is written to the audit log. "
                    "Nothing was changed."
                )
                % {"action": ACTION_LABELS[action]},
            )
            return redirect(back)
        done, problems = 0, []
        for key in dict.fromkeys(keys):
            resolved = resolve(key)
            if resolved is None:
                problems.append(
                    gettext("%(item)s: no longer there") % {"item": key.partition(":")[2]}
                )
                continue
            kind, target = resolved
            if action not in ACTIONS[kind]:
                problems.append(
                    gettext("%(item)s: “%(action)s” does not apply")
                    % {"item": key.partition(":")[2], "action": ACTION_LABELS[action]}
                )
                continue
            try:
                perform(action, target, actor=request.user, reason=reason)
            except AppError as exc:
                problems.append(f"{key.partition(':')[2]}: {exc.message}")
            else:
                done += 1
        if done:
            messages.success(
                request,
                ngettext(
                    "%(action)s: done for %(count)d item.",
                    "%(action)s: done for %(count)d items.",
                    done,
                )
                % {"action": ACTION_LABELS[action], "count": done},
            )
        if problems:
            messages.warning(
                request, gettext("Not done: %(problems)s") % {"problems": "; ".join(problems)}
            )
        return redirect(back)


def perform(action: str, target, *, actor, reason: str) -> None:
    if action == "dismiss":
        services.dismiss_reports(target=target, actor=actor, reason=reason)
    elif action == "remove":
        services.remove_content(target=target, actor=actor, reason=reason)
    elif action == "approve":
        services.approve_composition(composition=target, actor=actor, reason=reason)
    elif action == "reject":
        services.reject_composition(composition=target, actor=actor, reason=reason)
    elif action == "restore":
        services.restore_account(user=target, actor=actor, reason=reason)
    elif action == "suspend":
        owner = services.owner_of(target)
        if owner is None:
            raise AppError(gettext("The account behind it no longer exists."))
        services.suspend_account(user=owner, actor=actor, reason=reason)


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    """Read-only for everyone, superusers included: the log is append-only."""

    list_display = ["when", "actor_email", "action", "target", "short_reason"]
    list_filter = ["action", "target_type"]
    search_fields = ["actor_email", "target_id", "reason"]
    date_hierarchy = "created_at"
    fields = [
        "created_at",
        "actor_email",
        "action",
        "target_type",
        "target_id",
        "reason",
        "details",
    ]
    readonly_fields = fields  # type: ignore[assignment]  # every field is read-only

    @admin.display(description=gettext_lazy("When"), ordering="created_at")
    def when(self, obj):
        return timezone.localtime(obj.created_at).strftime("%Y-%m-%d %H:%M:%S %Z")

    @admin.display(description=gettext_lazy("Target"))
    def target(self, obj):
        return f"{obj.target_type} {obj.target_id}"

    @admin.display(description=gettext_lazy("Why"))
    def short_reason(self, obj):
        return obj.reason if len(obj.reason) <= 80 else obj.reason[:79] + "…"


@admin.register(BlockedHash)
class BlockedHashAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "phash", "source", "added_by", "reason"]
    search_fields = ["phash", "sha256", "source"]
    fields = ["created_at", "phash", "sha256", "source", "added_by", "reason"]
    readonly_fields = fields  # type: ignore[assignment]  # every field is read-only


@admin.register(Report)
class ReportAdmin(ReadOnlyAdmin):
    """Every report, open and closed, for reference; moderators act on them in the queue."""

    list_display = ["created_at", "reason", "target_type", "target", "reporter", "status"]
    list_filter = ["status", "reason", "target_type"]
    search_fields = ["public_id", "reporter__email", "result__public_id", "upload__public_id"]
    list_select_related = ["reporter", "result", "upload"]
    fields = [
        "public_id",
        "created_at",
        "reporter",
        "workspace",
        "target_type",
        "target",
        "reason",
        "details",
        "status",
        "resolved_at",
    ]
    readonly_fields = fields  # type: ignore[assignment]  # every field is read-only

    @admin.display(description=gettext_lazy("Target"))
    def target(self, obj):
        return (obj.result or obj.upload).public_id
