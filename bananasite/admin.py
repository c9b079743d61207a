from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records that are readable in the admin and never added, changed or deleted there
    (the ledger, reports, the audit log, the blocklist): superusers included."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
