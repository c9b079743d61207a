"""The catalogue in the admin: staff edit models and their providers; every change (inlines and
deletions included) writes an append-only `CatalogueChange` with the row before and after."""

import datetime
import json
from typing import Any

from django.contrib import admin, messages
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.forms.models import model_to_dict
from django.utils import timezone

from bananasite.admin import ReadOnlyAdmin

from .models import CatalogueChange, ImageModel, ProviderModel

SOON_DAYS = 30


def _snapshot(obj: Any) -> dict[str, Any]:
    """The row as JSON (dates and decimals as text)."""
    return json.loads(json.dumps(model_to_dict(obj), cls=DjangoJSONEncoder))


def record(request, action: str, obj: Any, before: dict | None = None) -> None:
    CatalogueChange.objects.create(
        actor=request.user,
        actor_email=request.user.email,
        action=action,
        target_type=type(obj).__name__,
        target_id=str(obj.pk if obj.pk is not None else obj),
        before=before or {},
        after={} if action == "deleted" else _snapshot(obj),
    )


def shutting_down_soon(today: datetime.date | None = None):
    today = today or timezone.localdate()
    return ImageModel.objects.filter(
        shutdown_date__gte=today, shutdown_date__lte=today + datetime.timedelta(days=SOON_DAYS)
    ).exclude(lifecycle=ImageModel.Lifecycle.SHUT_DOWN)


class ShutdownFilter(admin.SimpleListFilter):
    title = "shutdown"
    parameter_name = "shutdown"

    def lookups(self, request, model_admin):
        return [("soon", f"Within {SOON_DAYS} days"), ("past", "Shut down")]

    def queryset(self, request, queryset):
        today = timezone.localdate()
        if self.value() == "soon":
            return queryset.filter(pk__in=shutting_down_soon(today))
        if self.value() == "past":
            return queryset.filter(shutdown_date__lte=today) | queryset.filter(
                lifecycle=ImageModel.Lifecycle.SHUT_DOWN
            )
        return queryset


class ProviderModelInline(admin.TabularInline):
    model = ProviderModel
    extra = 0
    fields = [
        "provider",
        "provider_model",
        "max_images",
        "image_sizes",
        "aspect_ratios",
        "usd_per_image",
        "position",
    ]


@admin.register(ImageModel)
class ImageModelAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "lifecycle", "shutdown_date", "successor", "position"]
    list_filter = ["lifecycle", ShutdownFilter]
    search_fields = ["id", "name", "aliases", "providers__provider_model"]
    inlines = [ProviderModelInline]

    def changelist_view(self, request, extra_context=None):
        soon = list(shutting_down_soon())
        if soon:
            names = ", ".join(f"{m.id} ({m.shutdown_date:%-d %b %Y})" for m in soon)
            self.message_user(
                request, f"Shutting down within {SOON_DAYS} days: {names}.", messages.WARNING
            )
        return super().changelist_view(request, extra_context)

    def save_model(self, request, obj, form, change):
        before = _snapshot(ImageModel.objects.get(pk=obj.pk)) if change else None
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            record(request, "changed" if change else "added", obj, before)

    def delete_model(self, request, obj):
        with transaction.atomic():
            record(request, "deleted", obj, _snapshot(obj))
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for obj in queryset:
                record(request, "deleted", obj, _snapshot(obj))
            super().delete_queryset(request, queryset)

    def save_formset(self, request, form, formset, change):
        # Snapshots before saving, keyed by object: a deleted row has lost its pk afterwards.
        befores = {
            id(f.instance): (f.instance.pk, _snapshot(ProviderModel.objects.get(pk=f.instance.pk)))
            for f in formset.forms
            if f.instance.pk
        }
        with transaction.atomic():
            super().save_formset(request, form, formset, change)
            for obj in formset.deleted_objects:
                pk, before = befores[id(obj)]
                obj.pk = pk
                record(request, "deleted", obj, before)
            for obj in formset.new_objects:
                record(request, "added", obj)
            for obj, _fields in formset.changed_objects:
                record(request, "changed", obj, befores[id(obj)][1])


@admin.register(CatalogueChange)
class CatalogueChangeAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor_email", "action", "target_type", "target_id"]
    list_filter = ["action", "target_type"]
    search_fields = ["target_id", "actor_email"]
