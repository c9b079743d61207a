from django.contrib import admin

from bananasite.admin import ReadOnlyAdmin

from .models import Report


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
    readonly_fields = fields

    @admin.display(description="Target")
    def target(self, obj):
        return (obj.result or obj.upload).public_id
