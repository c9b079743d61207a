"""API serializers: separate input (what clients send) and output (what we answer) shapes."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .models import Composition, Report, Role, Upload, Webhook

# --- Output -----------------------------------------------------------------------------------


class UploadOut(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    bytes = serializers.IntegerField()

    class Meta:
        model = Upload
        fields = [
            "id",
            "width",
            "height",
            "content_type",
            "bytes",
            "sha256",
            "status",
            "created_at",
        ]


class ResultOut(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    content_type = serializers.CharField()
    bytes = serializers.IntegerField()

    def _url(self, result, variant):
        path = reverse("api:result-file", args=[result.public_id, variant])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    @extend_schema_field(serializers.URLField())
    def get_url(self, result) -> str:
        return self._url(result, "file")

    @extend_schema_field(serializers.URLField())
    def get_thumbnail_url(self, result) -> str:
        return self._url(result, "thumbnail")


class InputOut(serializers.Serializer):
    upload = serializers.CharField(source="upload.public_id")
    position = serializers.IntegerField()
    role = serializers.CharField()


class ProgressOut(serializers.Serializer):
    stage = serializers.CharField()
    percent = serializers.IntegerField()


class ErrorOut(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class CreditsOut(serializers.Serializer):
    reserved = serializers.IntegerField()
    charged = serializers.IntegerField()
    refunded = serializers.IntegerField()


class CompositionOut(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    progress = serializers.SerializerMethodField()
    inputs = InputOut(many=True)
    results = ResultOut(many=True)
    text = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    credits = serializers.SerializerMethodField()
    parent = serializers.CharField(source="parent.public_id", allow_null=True, default=None)
    queue_position = serializers.SerializerMethodField()

    class Meta:
        model = Composition
        fields = [
            "id",
            "status",
            "progress",
            "prompt",
            "preset",
            "style",
            "model",
            "provider",
            "aspect_ratio",
            "image_size",
            "num_images",
            "inputs",
            "results",
            "text",
            "error",
            "credits",
            "parent",
            "queue_position",
            "consent",
            "created_at",
            "started_at",
            "finished_at",
        ]

    @extend_schema_field(ProgressOut)
    def get_progress(self, obj):
        return {"stage": obj.status, "percent": obj.progress}

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_text(self, obj):
        return obj.text or None

    @extend_schema_field(ErrorOut(allow_null=True))
    def get_error(self, obj):
        if obj.status != Composition.Status.FAILED:
            return None
        return {"code": obj.error_code, "message": obj.error_message}

    @extend_schema_field(CreditsOut)
    def get_credits(self, obj):
        return {
            "reserved": obj.credits_held,
            "charged": obj.credits_charged,
            "refunded": obj.credits_refunded,
        }

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_queue_position(self, obj):
        return obj.queue_position()


class ReportOut(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    target_id = serializers.SerializerMethodField()

    class Meta:
        model = Report
        fields = ["id", "target_type", "target_id", "reason", "details", "status", "created_at"]

    def get_target_id(self, obj) -> str:
        return obj.result.public_id if obj.result_id else obj.upload.public_id


class WebhookOut(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")

    class Meta:
        model = Webhook
        fields = ["id", "url", "events", "created_at"]


class WebhookCreatedOut(WebhookOut):
    class Meta(WebhookOut.Meta):
        fields = [*WebhookOut.Meta.fields, "secret"]


# --- Input ------------------------------------------------------------------------------------


class StrictInput(serializers.Serializer):
    """Form bodies as strict as JSON ones: DRF quietly treats an empty form value of an optional
    field as "not sent"; here it is refused, as the schema says."""

    def to_internal_value(self, data):
        if hasattr(data, "getlist"):
            blank = {
                name: [serializers.ErrorDetail("This field may not be blank.", code="blank")]
                for name, field in self.fields.items()
                if name in data
                and data.get(name) == ""
                and not getattr(field, "allow_blank", False)
            }
            if blank:
                raise serializers.ValidationError(blank)
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """A boolean as the schema types it: JSON `true`/`false`, or the form strings "true" and
    "false". DRF's own field also takes 1, 0, "yes", "on" and more, which the OpenAPI schema
    does not allow, so a client (and schemathesis) could not tell what is accepted."""

    def to_internal_value(self, data):
        if data is True or data is False:
            return data
        if isinstance(data, str) and data in ("true", "false"):
            return data == "true"
        self.fail("invalid", input=data)


class InputIn(StrictInput):
    upload = serializers.CharField(required=False, max_length=40)
    url = serializers.URLField(required=False, max_length=2048)
    role = serializers.ChoiceField(choices=Role.choices, required=False)

    def validate(self, attrs):
        if bool(attrs.get("upload")) == bool(attrs.get("url")):
            raise serializers.ValidationError(
                "Give each input either an upload id or a url.", code="invalid_request"
            )
        return attrs


def _model_choices():
    from .catalog import all_models

    return [m.id for m in all_models()]


def _ratio_choices():
    from .catalog import all_models

    return sorted({r for m in all_models() for r in m.aspect_ratios})


def _size_choices():
    from .catalog import all_models

    return sorted({s for m in all_models() for s in m.image_sizes})


class CompositionFields(StrictInput):
    """Options shared by the JSON and the multipart form of a composition request."""

    prompt = serializers.CharField(
        required=False, allow_blank=False, trim_whitespace=False, max_length=4000
    )
    preset = serializers.ChoiceField(
        choices=Composition.Preset.choices, required=False, default="none"
    )
    style = serializers.ChoiceField(
        choices=Composition.Style.choices, required=False, default="natural"
    )
    model = serializers.ChoiceField(choices=[], required=False)
    aspect_ratio = serializers.ChoiceField(choices=[], required=False, default="1:1")
    image_size = serializers.ChoiceField(choices=[], required=False, default="1K")
    num_images = serializers.IntegerField(required=False, default=1, min_value=1, max_value=4)
    parent = serializers.CharField(required=False, allow_null=True, max_length=40)
    consent = StrictBooleanField(
        required=False,
        default=False,
        help_text="The caller states they have the right to use these photos and the consent of "
        "the people in them. Without it, a preset with people (face_swap, outfit_change, "
        "combine_subjects) is held for a moderator's review.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Models, ratios and sizes are settings, so the choices are read per request.
        self.fields["model"].choices = _model_choices()
        self.fields["aspect_ratio"].choices = _ratio_choices()
        self.fields["image_size"].choices = _size_choices()


class CompositionIn(CompositionFields):
    """JSON: the images are `inputs`, each an upload id or a URL, in order."""

    inputs = InputIn(many=True, required=False, min_length=2, max_length=14)


class CompositionFormIn(CompositionFields):
    """multipart/form-data: the images are repeated `images` files, in order, with `roles`."""

    images = serializers.ListField(
        child=serializers.FileField(), required=False, min_length=2, max_length=14
    )
    roles = serializers.ListField(
        child=serializers.ChoiceField(choices=Role.choices), required=False, max_length=14
    )


class VariationIn(StrictInput):
    prompt = serializers.CharField(required=False, allow_blank=False, max_length=4000)
    num_images = serializers.IntegerField(required=False, min_value=1, max_value=4)
    style = serializers.ChoiceField(choices=Composition.Style.choices, required=False)


class UploadIn(StrictInput):
    file = serializers.FileField(required=False)
    url = serializers.URLField(required=False, max_length=2048)

    def validate(self, attrs):
        if bool(attrs.get("file")) == bool(attrs.get("url")):
            raise serializers.ValidationError(
                "Send either a file (multipart) or a url (JSON).", code="invalid_request"
            )
        return attrs


class ReportIn(StrictInput):
    target_type = serializers.ChoiceField(choices=Report.TargetType.choices)
    target_id = serializers.CharField(max_length=40)
    reason = serializers.ChoiceField(choices=Report.Reason.choices)
    details = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class WebhookIn(StrictInput):
    url = serializers.URLField(max_length=500)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=Webhook.Event.choices), min_length=1
    )


class EstimateOut(serializers.Serializer):
    credits = serializers.IntegerField()
    allowed = serializers.BooleanField()
    reasons = ErrorOut(many=True)
