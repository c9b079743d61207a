"""The operations page in Django's admin (staff only): the last day per provider, the queue."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext

from bananasite.admin import ReadOnlyAdmin

from .models import OperationsOverview
from .overview import provider_days, queue_now


def is_staff(request) -> bool:
    return request.user.is_active and request.user.is_staff


@admin.register(OperationsOverview)
class OperationsOverviewAdmin(ReadOnlyAdmin):
    """Not a model list: one page of figures, for every member of staff."""

    def has_module_permission(self, request):
        return is_staff(request)

    def has_view_permission(self, request, obj=None):
        return is_staff(request)

    def changelist_view(self, request, extra_context=None):
        if not is_staff(request):
            raise PermissionDenied
        now = timezone.now()
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Operations"),
            "opts": self.model._meta,
            "now": now,
            "providers": provider_days(now=now),
            "queue": queue_now(now=now),
        }
        return TemplateResponse(request, "admin/ops/overview.html", context)
