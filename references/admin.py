from django.contrib import admin

from .models import Reference, ReferenceConsent, ReferenceImage, ReferenceVersion


class ConsentInline(admin.StackedInline):
    model = ReferenceConsent
    extra = 0
    can_delete = False
    readonly_fields = [
        "workspace",
        "attested_by",
        "attested_by_email",
        "attested_at",
        "valid_until",
        "withdrawn_at",
        "withdrawn_by",
    ]


@admin.register(Reference)
class ReferenceAdmin(admin.ModelAdmin):
    list_display = [
        "public_id",
        "name",
        "kind",
        "workspace",
        "depicts_person",
        "version",
        "purged_at",
    ]
    list_filter = ["kind", "depicts_person"]
    search_fields = ["public_id", "name"]
    readonly_fields = ["public_id", "workspace", "created_by", "version", "purged_at"]
    inlines = [ConsentInline]


class ImageInline(admin.TabularInline):
    model = ReferenceImage
    extra = 0
    raw_id_fields = ["upload"]


@admin.register(ReferenceVersion)
class ReferenceVersionAdmin(admin.ModelAdmin):
    list_display = ["public_id", "reference", "number", "created_at"]
    raw_id_fields = ["reference"]
    inlines = [ImageInline]
