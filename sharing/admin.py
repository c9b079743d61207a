from django.contrib import admin

from .models import Collection, CollectionItem, Favourite, ShareLink


class CollectionItemInline(admin.TabularInline):
    model = CollectionItem
    extra = 0
    raw_id_fields = ["composition"]


@admin.register(Collection)
class CollectionAdmin(admin.ModelAdmin):
    list_display = ["name", "public_id", "workspace", "created_at"]
    search_fields = ["name", "public_id", "workspace__slug"]
    raw_id_fields = ["workspace", "created_by"]
    inlines = [CollectionItemInline]


@admin.register(Favourite)
class FavouriteAdmin(admin.ModelAdmin):
    list_display = ["user", "composition", "created_at"]
    raw_id_fields = ["user", "composition"]


@admin.register(ShareLink)
class ShareLinkAdmin(admin.ModelAdmin):
    """Read-only but for revoking: the secret is never stored, so nothing here can show it."""

    list_display = ["public_id", "prefix", "workspace", "result", "collection", "expires_at"]
    list_filter = ["revoked_at"]
    search_fields = ["public_id", "prefix", "workspace__slug"]
    readonly_fields = [
        "public_id",
        "workspace",
        "created_by",
        "result",
        "collection",
        "show_prompt",
        "token_hash",
        "prefix",
        "expires_at",
        "created_at",
    ]

    def has_add_permission(self, request):
        return False
