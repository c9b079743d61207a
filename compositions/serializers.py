"""How a composition, its inputs and results look to API clients and webhook endpoints.

Beside the models they describe, because compositions send them in webhooks; the request
shapes and the other answers of the API are in api/serializers.py."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .credentials import result_credentials
from .models import Composition, RegionEdit, Upload
from .options import lifecycle_warnings


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


class ValidationOut(serializers.Serializer):
    state = serializers.ChoiceField(
        choices=["valid", "tampered", "none"],
        help_text="valid: the manifest and the bytes it signs are intact; tampered: either was"
        " changed (or the manifest cannot be read); none: no Content Credentials.",
    )
    trusted = serializers.BooleanField(
        help_text="Whether the signer chains to a trusted root. False for the development"
        " certificate: valid, but not vouched for by anyone verifiers trust."
    )
    problems = serializers.ListField(
        child=serializers.CharField(), help_text="C2PA validation failure codes, trust aside."
    )


class ActionOut(serializers.Serializer):
    action = serializers.CharField()
    digital_source_type = serializers.CharField()
    model = serializers.CharField()
    provider = serializers.CharField()


class IngredientManifestOut(serializers.Serializer):
    issuer = serializers.CharField()
    claim_generator = serializers.CharField()
    state = serializers.ChoiceField(choices=["valid", "tampered"])


class IngredientOut(serializers.Serializer):
    title = serializers.CharField()
    relationship = serializers.CharField(help_text="parentOf, inputTo or componentOf.")
    format = serializers.CharField()
    sha256 = serializers.CharField(help_text="The ingredient's SHA-256 (hex), when recorded.")
    description = serializers.CharField()
    manifest = IngredientManifestOut(
        allow_null=True, help_text="The ingredient's own Content Credentials, if it had any."
    )


class ManifestOut(serializers.Serializer):
    issuer = serializers.CharField()
    claim_generator = serializers.CharField()
    title = serializers.CharField()
    actions = ActionOut(many=True)
    ingredients = IngredientOut(many=True)


class CredentialsOut(serializers.Serializer):
    signed = serializers.BooleanField()
    issuer = serializers.CharField()
    claim_generator = serializers.CharField()
    title = serializers.CharField()
    actions = ActionOut(many=True)
    ingredients = IngredientOut(many=True)
    validation = ValidationOut(help_text="As read back with c2pa when the result was signed.")


class VerificationOut(serializers.Serializer):
    validation = ValidationOut()
    manifest = ManifestOut(allow_null=True)


class ResultOut(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    content_type = serializers.CharField()
    bytes = serializers.IntegerField()
    credentials = serializers.SerializerMethodField()

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

    @extend_schema_field(CredentialsOut)
    def get_credentials(self, result) -> dict:
        # One serializer for every result of a page: making one per result (its fields are
        # deep-copied each time) cost more than the rest of the result's fields together.
        root = self.root
        out = getattr(root, "_credentials_out", None)
        if out is None:
            out = root._credentials_out = CredentialsOut()  # type: ignore[attr-defined]
        return out.to_representation(result_credentials(result.credentials))


class InputOut(serializers.Serializer):
    upload = serializers.CharField(source="upload.public_id")
    position = serializers.IntegerField()
    role = serializers.CharField()
    # Additions (issue 16): the saved reference this image came from and its version; null
    # for other inputs, or once the reference was deleted from the library.
    reference = serializers.SerializerMethodField()
    reference_version = serializers.SerializerMethodField()

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_reference(self, item):
        version = item.reference_version
        return version.reference.public_id if version else None

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_reference_version(self, item):
        version = item.reference_version
        return version.number if version else None

    # An addition: the position of the input this one is a marked-up copy of.
    markup_of = serializers.IntegerField(allow_null=True)


class ReferenceCheckOut(serializers.Serializer):
    input = serializers.IntegerField(help_text="The position of the product or logo input.")
    role = serializers.CharField()
    result = serializers.CharField(help_text="The result it was looked for in.")
    found = serializers.BooleanField()
    inliers = serializers.IntegerField(help_text="Matched features that agree on one placement.")


class FreeRetryOut(serializers.Serializer):
    offered = serializers.BooleanField()
    composition = serializers.CharField(
        allow_null=True, help_text="The free retry, once made (POST …/retry)."
    )


class ChecksOut(serializers.Serializer):
    status = serializers.ChoiceField(choices=["none", "pending", "done", "failed"])
    references = ReferenceCheckOut(many=True)
    free_retry = FreeRetryOut()


class ProgressOut(serializers.Serializer):
    stage = serializers.CharField()
    percent = serializers.IntegerField()


class ErrorOut(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class WarningOut(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    model = serializers.CharField()
    shutdown_date = serializers.DateField(allow_null=True)
    successor = serializers.CharField(allow_null=True)


class CreditsOut(serializers.Serializer):
    reserved = serializers.IntegerField()
    charged = serializers.IntegerField()
    refunded = serializers.IntegerField()


class CanvasOut(serializers.Serializer):
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    left = serializers.IntegerField(help_text="Where the source sits in the new picture.")
    top = serializers.IntegerField()


class RegionOut(serializers.Serializer):
    kind = serializers.ChoiceField(choices=RegionEdit.Kind.choices)
    feather = serializers.IntegerField()
    box = serializers.ListField(
        child=serializers.IntegerField(),
        required=False,
        help_text="An edit's crop sent to the model: left, top, right, bottom.",
    )
    canvas = CanvasOut(required=False, help_text="An expand's new picture.")
    margin = serializers.IntegerField(required=False, allow_null=True)


class CompositionOut(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    progress = serializers.SerializerMethodField()
    inputs = InputOut(many=True)
    results = ResultOut(many=True)
    text = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    credits = serializers.SerializerMethodField()
    parent = serializers.CharField(  # type: ignore[assignment]  # the contract's name
        source="parent.public_id", allow_null=True, default=None
    )
    queue_position = serializers.SerializerMethodField()
    # Additions (api-v1.md, last section): the provider's exact model name, why its provider
    # was chosen (routing.py), and warnings such as a deprecated model.
    route_reason = serializers.JSONField(read_only=True)
    warnings = serializers.SerializerMethodField()
    # The model options asked for: {"grounding": true, "thinking_level": "high"} (those given).
    model_options = serializers.JSONField(read_only=True)
    # When the retention purge deletes it (its own `retention_days` or the workspace's);
    # null: kept until deleted.
    expires_at = serializers.SerializerMethodField()
    # An addition: what a region edit or expand changes (null for other compositions).
    region = serializers.SerializerMethodField()
    # An addition: the reference check after success (are the product and logo in the
    # result?), and the free retry it may offer.
    checks = serializers.SerializerMethodField()
    free_retry_of = serializers.CharField(
        source="free_retry_of.public_id", default=None, allow_null=True
    )

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
            "provider_model",
            "route_reason",
            "warnings",
            "aspect_ratio",
            "image_size",
            "num_images",
            "model_options",
            "region",
            "inputs",
            "results",
            "text",
            "error",
            "credits",
            "parent",
            "queue_position",
            "consent",
            "checks",
            "free_retry_of",
            "created_at",
            "started_at",
            "finished_at",
            "expires_at",
        ]

    @extend_schema_field(WarningOut(many=True))
    def get_warnings(self, obj):
        # Once per model in a list (each look-up reads the catalogue), not once per row.
        seen = self.context.setdefault("_model_warnings", {})
        if obj.model not in seen:
            seen[obj.model] = lifecycle_warnings(obj.model)
        return seen[obj.model]

    @extend_schema_field(RegionOut(allow_null=True))
    def get_region(self, obj):
        try:
            region = obj.region
        except RegionEdit.DoesNotExist:
            return None
        out = {"kind": region.kind, "feather": region.feather}
        if region.kind == RegionEdit.Kind.EDIT:
            out["box"] = region.box
        else:
            out["canvas"] = region.canvas
            out["margin"] = region.margin or None
        return out

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

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_expires_at(self, obj):
        expires = obj.expires_at()
        return self.fields["created_at"].to_representation(expires) if expires else None

    @extend_schema_field(ChecksOut)
    def get_checks(self, obj):
        retry = None
        offered = False
        if obj.missed_references:  # only then can there be a retry: no query per row otherwise
            retry = (
                Composition.objects.filter(free_retry_of=obj)
                .values_list("public_id", flat=True)
                .first()
            )
            offered = retry is None and obj.offers_free_retry()
        return {
            "status": obj.checks.get("status", "none"),
            "references": obj.checks.get("references", []),
            "free_retry": {"offered": offered, "composition": retry},
        }

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_queue_position(self, obj):
        return obj.queue_position()
