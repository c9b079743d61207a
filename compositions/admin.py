from django.contrib import admin

from .models import Report


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
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

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
