"""The answers about templates and bulk runs: the API sends them, and the `batch.finished`
webhook sends a batch's."""

from typing import Any

from rest_framework import serializers

from .models import Batch, BatchRow, Template, TemplateVersion


class FieldOut(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # the contract's name
    required = serializers.BooleanField()  # type: ignore[assignment]  # the contract's name


class SlotOut(serializers.Serializer):
    role = serializers.CharField(allow_blank=True)
    label = serializers.CharField(allow_blank=True)  # type: ignore[assignment]  # the contract's name
    required = serializers.BooleanField()  # type: ignore[assignment]  # the contract's name
    fixed = serializers.DictField(
        child=serializers.CharField(),
        allow_null=True,
        help_text='The photo every run uses ({"upload": …} or {"url": …}); null: asked each '
        "time, in `inputs`.",
    )


class VersionOut(serializers.ModelSerializer):
    version = serializers.IntegerField(source="number")
    fields = FieldOut(many=True)  # type: ignore[assignment]  # the contract's name
    slots = SlotOut(many=True)
    options = serializers.DictField()

    class Meta:
        model = TemplateVersion
        fields = ["version", "prompt", "fields", "slots", "options", "created_at"]


class TemplateOut(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    version = serializers.SerializerMethodField()
    prompt = serializers.SerializerMethodField()
    # (Not `get_fields`: that is the Serializer's own method.)
    fields = serializers.SerializerMethodField(method_name="fields_of")  # type: ignore[assignment]
    slots = serializers.SerializerMethodField()
    options = serializers.SerializerMethodField()
    csv_columns = serializers.SerializerMethodField()

    class Meta:
        model = Template
        fields = [
            "id",
            "name",
            "version",
            "prompt",
            "fields",
            "slots",
            "options",
            "csv_columns",
            "created_at",
            "updated_at",
        ]

    def _latest(self, obj: Template) -> TemplateVersion:
        cache = self._latest_cache = getattr(self, "_latest_cache", {})
        if obj.pk not in cache:
            cache[obj.pk] = obj.latest
        return cache[obj.pk]

    def get_version(self, obj) -> int:
        return self._latest(obj).number

    def get_prompt(self, obj) -> str:
        return self._latest(obj).prompt

    def fields_of(self, obj) -> list[dict[str, Any]]:
        return list(FieldOut(self._latest(obj).fields, many=True).data)

    def get_slots(self, obj) -> list[dict[str, Any]]:
        return list(SlotOut(self._latest(obj).slots, many=True).data)

    def get_options(self, obj) -> dict[str, Any]:
        return self._latest(obj).options

    def get_csv_columns(self, obj) -> list[str]:
        latest = self._latest(obj)
        return [f["name"] for f in latest.fields] + [
            f"image_{position}" for position, _slot in latest.asked_slots
        ]


class TemplateDetailOut(TemplateOut):
    """A template with every version, newest first."""

    versions = VersionOut(many=True)

    class Meta(TemplateOut.Meta):
        fields = [*TemplateOut.Meta.fields, "versions"]


class BatchCountsOut(serializers.Serializer):
    total = serializers.IntegerField()
    pending = serializers.IntegerField()
    running = serializers.IntegerField()
    succeeded = serializers.IntegerField()
    failed = serializers.IntegerField()
    canceled = serializers.IntegerField()


class BatchCreditsOut(serializers.Serializer):
    reserved = serializers.IntegerField()


class BatchOut(serializers.Serializer):
    id = serializers.CharField()
    template = serializers.CharField()
    template_version = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Batch.Status.choices)
    counts = BatchCountsOut()
    credits = BatchCreditsOut()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


def batch_data(batch: Batch) -> dict[str, Any]:
    """A batch as the API and the `batch.finished` webhook send it."""
    version = batch.version
    return BatchOut(
        {
            "id": batch.public_id,
            "template": version.template.public_id,
            "template_version": version.number,
            "status": batch.status,
            "counts": batch.counts(),
            "credits": {"reserved": batch.credits_reserved},
            "created_at": batch.created_at,
            "finished_at": batch.finished_at,
        }
    ).data


class BatchRowOut(serializers.Serializer):
    row = serializers.IntegerField(source="number")
    composition = serializers.SerializerMethodField()
    status = serializers.ChoiceField(
        source="outcome", choices=["pending", "running", "succeeded", "failed", "canceled"]
    )
    error = serializers.CharField(allow_blank=True)
    fields = serializers.DictField(source="values")  # type: ignore[assignment]

    def get_composition(self, obj: BatchRow) -> str | None:
        return obj.composition.public_id if obj.composition else None
