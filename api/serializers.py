"""The API's request shapes (input serializers, separate from the answers) and the answers
that belong to no model. A composition's own answer is compositions.serializers."""

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from accounts.models import RETENTION_MAX_DAYS
from catalogue.models import THINKING_LEVELS
from compositions.catalog import all_models, known_models
from compositions.models import Composition, Role
from compositions.options import DEFAULTS, MATCH_INPUT
from compositions.regions import DEFAULT_FEATHER, MAX_FEATHER, MAX_MARGIN
from compositions.serializers import ErrorOut
from moderation.models import Report
from references.models import Reference
from webhooks.models import Webhook


class ProblemOut(serializers.Serializer):
    """RFC 9457 problem details, as every error is answered."""

    type = serializers.CharField()
    title = serializers.CharField(
        help_text="A short summary of the problem type `code` names, the same for every "
        "occurrence of that code; in the language of Accept-Language."
    )
    status = serializers.IntegerField()
    detail = serializers.CharField(
        help_text="What went wrong this time, for people; in the language of Accept-Language."
    )
    code = serializers.CharField(
        help_text="The stable, machine-readable problem type; never translated."
    )
    # The contract names it `errors`, like a Serializer attribute.
    errors = serializers.ListField(  # type: ignore[assignment]
        child=serializers.DictField(), required=False
    )


class QuotaOut(serializers.Serializer):
    used = serializers.IntegerField()
    limit = serializers.IntegerField()


class MeOut(serializers.Serializer):
    user = inline_serializer("MeUser", {"email": serializers.EmailField()}, allow_null=True)
    workspace = inline_serializer(
        "MeWorkspace",
        {
            "slug": serializers.CharField(),
            "name": serializers.CharField(),
            "plan": serializers.CharField(),
            "retention_days": serializers.IntegerField(
                allow_null=True,
                help_text="Days the workspace keeps compositions; null: forever.",
            ),
        },
    )
    balance = serializers.IntegerField()
    quotas = inline_serializer(
        "MeQuotas", {"daily_images": QuotaOut(), "monthly_images": QuotaOut()}
    )


class ModelOut(serializers.Serializer):
    id = serializers.CharField()
    provider = serializers.CharField()
    name = serializers.CharField()
    max_images = serializers.IntegerField()
    image_sizes = serializers.ListField(child=serializers.CharField())
    aspect_ratios = serializers.ListField(child=serializers.CharField())
    credits_per_image = serializers.DictField(child=serializers.IntegerField())
    allowed = serializers.BooleanField()
    default = serializers.BooleanField()
    # Additions (api-v1.md, last section): the catalogue's lifecycle and options.
    aliases = serializers.ListField(child=serializers.CharField())
    lifecycle = serializers.ChoiceField(choices=["preview", "ga", "deprecated", "shut_down"])
    shutdown_date = serializers.DateField(allow_null=True)
    successor = serializers.CharField(allow_null=True)
    options = serializers.DictField()
    batch_credits_per_image = serializers.DictField(child=serializers.IntegerField())
    grounding_credits_per_search = serializers.IntegerField()


class UsageDayOut(serializers.Serializer):
    date = serializers.DateField()
    images = serializers.IntegerField()
    credits = serializers.IntegerField()
    compositions = serializers.IntegerField()
    failed = serializers.IntegerField()


class UsageMemberOut(serializers.Serializer):
    email = serializers.EmailField(allow_null=True)
    compositions = serializers.IntegerField()
    failed = serializers.IntegerField()
    credits = serializers.IntegerField()
    images = serializers.IntegerField()


class UsageOut(serializers.Serializer):
    to = serializers.DateField()
    days = UsageDayOut(many=True)
    totals = inline_serializer(
        "UsageTotals",
        {
            "images": serializers.IntegerField(),
            "credits": serializers.IntegerField(),
            "compositions": serializers.IntegerField(),
            "failed": serializers.IntegerField(),
        },
    )
    members = UsageMemberOut(many=True, required=False)

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.DateField()  # a Python keyword, so declared here
        return fields


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
    """Bodies as strict as the schema: DRF quietly treats an empty form value of an optional
    field as "not sent", and turns a JSON number or boolean sent for a string into its text
    (`true` became "True"); here both are refused, as the schema says."""

    def to_internal_value(self, data):
        if isinstance(data, dict) and not hasattr(data, "getlist"):
            not_text = {
                name: [serializers.ErrorDetail(_("Not a valid string."), code="invalid")]
                for name, field in self.fields.items()
                if isinstance(field, serializers.CharField)
                and data.get(name) is not None
                and not isinstance(data[name], str)
            }
            if not_text:
                raise serializers.ValidationError(not_text)
        if hasattr(data, "getlist"):
            blank = {
                name: [serializers.ErrorDetail(_("This field may not be blank."), code="blank")]
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
    reference = serializers.CharField(
        required=False,
        max_length=40,
        help_text="A saved reference (`ref_...`, addition): its current images, in order, each "
        "with its own role unless `role` is given; the composition's inputs record the version.",
    )
    role = serializers.ChoiceField(choices=Role.choices, required=False)
    markup_of = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=14,
        help_text="This input is a marked-up copy (arrows, boxes, notes in red) of the input at "
        "that position (1-based). The model is told so; the marks are not drawn in the result. "
        "It must name another input that is not itself a mark-up (`markup_invalid`, "
        "`markup_chained`).",
    )

    def validate(self, attrs):
        if sum(bool(attrs.get(name)) for name in ("upload", "url", "reference")) != 1:
            raise serializers.ValidationError(
                _("Give each input one of an upload id, a url or a reference id."),
                code="invalid_request",
            )
        return attrs


def _model_choices() -> list[str]:
    # Aliases and shut-down models too: the service resolves an alias, and refuses a shut-down
    # model naming its successor (`model_shut_down`) rather than "not a valid choice".
    return [name for m in known_models() for name in (m.id, *m.aliases)]


def _ratio_choices() -> list[str]:
    models = all_models()
    ratios = sorted({r for m in models for r in m.aspect_ratios})
    # "Match image 1" (an addition): for the models whose catalogue entry offers it.
    return ratios + [MATCH_INPUT] * any(m.options.get("match_input_aspect") for m in models)


def _size_choices() -> list[str]:
    return sorted({s for m in all_models() for s in m.image_sizes})


class CompositionFields(StrictInput):
    """Options shared by the JSON and the multipart form of a composition request."""

    prompt = serializers.CharField(
        required=False, allow_blank=False, trim_whitespace=False, max_length=4000
    )
    preset = serializers.ChoiceField(
        choices=Composition.Preset.choices, required=False, default=DEFAULTS.preset
    )
    style = serializers.ChoiceField(  # type: ignore[assignment]  # the contract's name
        choices=Composition.Style.choices, required=False, default=DEFAULTS.style
    )
    model = serializers.ChoiceField(choices=[], required=False)
    aspect_ratio = serializers.ChoiceField(
        choices=[], required=False, default=DEFAULTS.aspect_ratio
    )
    image_size = serializers.ChoiceField(choices=[], required=False, default=DEFAULTS.image_size)
    num_images = serializers.IntegerField(
        required=False, default=DEFAULTS.num_images, min_value=1, max_value=4
    )
    parent = serializers.CharField(  # type: ignore[assignment]  # the contract's name
        required=False, allow_null=True, max_length=40
    )
    consent = StrictBooleanField(
        required=False,
        default=DEFAULTS.consent,
        help_text="The caller states they have the right to use these photos and the consent of "
        "the people in them. Without it, a preset with people (face_swap, outfit_change, "
        "combine_subjects) is held for a moderator's review.",
    )
    priority = serializers.ChoiceField(
        choices=Composition.Priority.choices,
        required=False,
        default=DEFAULTS.priority,
        help_text="`batch` runs through the provider's batch tier (the Gemini API's Batch Mode) "
        "at its lower price, within a day; models without one refuse it (`batch_unavailable`).",
    )
    # Model options (api-v1.md, last section): checked against the model's catalogue entry in
    # compositions.options, so a model without them refuses them (`unsupported_option`).
    grounding = StrictBooleanField(
        required=False,
        default=False,
        help_text="Google Search grounding, for models that offer it (`options.grounding` in "
        "GET /models); priced per search: one search is held, the searches made are charged.",
    )
    thinking_level = serializers.ChoiceField(
        choices=THINKING_LEVELS,
        required=False,
        help_text="One of the model's `options.thinking_levels` (GET /models).",
    )
    retention_days = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=RETENTION_MAX_DAYS,
        help_text="Keep this composition (results, inputs) for at most this many days, fewer "
        "than the workspace's retention (`workspace.retention_days` in GET /me); longer is "
        "refused (`retention_too_long`). The composition's `expires_at` says when it goes.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Models, ratios and sizes are settings, so the choices are read per request.
        self.fields["model"].choices = _model_choices()
        self.fields["aspect_ratio"].choices = _ratio_choices()
        self.fields["image_size"].choices = _size_choices()


class EditIn(StrictInput):
    """A region edit (an addition): only the mask's region of `source` changes."""

    source = serializers.CharField(  # type: ignore[assignment]  # the contract's name
        max_length=40, help_text="A result (`res_…`) or upload (`up_…`) id of this workspace."
    )
    mask = serializers.CharField(
        max_length=40,
        help_text="An upload id: a PNG of the source's size whose white (or, with "
        "transparency, opaque) pixels mark the region to change.",
    )
    feather = serializers.IntegerField(
        required=False,
        default=DEFAULT_FEATHER,
        min_value=0,
        max_value=MAX_FEATHER,
        help_text="Pixels over which the edit fades in, inside the region's edge.",
    )


class ExpandIn(StrictInput):
    """An expand (an addition): a bigger picture around `source`, to a ratio or by a margin."""

    source = serializers.CharField(  # type: ignore[assignment]  # the contract's name
        max_length=40, help_text="A result (`res_…`) or upload (`up_…`) id of this workspace."
    )
    aspect_ratio = serializers.ChoiceField(choices=[], required=False)
    margin = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_MARGIN,
        help_text="Pixels to add on every side (instead of `aspect_ratio`).",
    )
    feather = serializers.IntegerField(
        required=False, default=DEFAULT_FEATHER, min_value=0, max_value=MAX_FEATHER
    )


class CompositionIn(CompositionFields):
    """JSON: the images are `inputs`, each an upload id or a URL, in order."""

    # `many=True` makes a ListSerializer, which takes the lengths (the stubs do not know).
    # At least two, except with `edit` or `expand` (the source is image 1): checked below.
    inputs = InputIn(  # type: ignore[call-arg]
        many=True, required=False, max_length=14
    )
    edit = EditIn(required=False)
    expand = ExpandIn(required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["expand"].fields["aspect_ratio"].choices = _ratio_choices()

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if attrs.get("edit") and attrs.get("expand"):
            raise serializers.ValidationError(
                {"expand": [serializers.ErrorDetail("Send `edit` or `expand`, not both.")]}
            )
        inputs = attrs.get("inputs")
        if (
            not (attrs.get("edit") or attrs.get("expand"))
            and inputs is not None
            and len(inputs) < 2
        ):
            raise serializers.ValidationError(
                {
                    "inputs": [
                        serializers.ErrorDetail(
                            "Ensure this field has at least 2 elements.", code="min_length"
                        )
                    ]
                }
            )
        return attrs


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
    style = serializers.ChoiceField(  # type: ignore[assignment]  # the contract's name
        choices=Composition.Style.choices, required=False
    )


class UploadIn(StrictInput):
    file = serializers.FileField(required=False)
    url = serializers.URLField(required=False, max_length=2048)

    def validate(self, attrs):
        if bool(attrs.get("file")) == bool(attrs.get("url")):
            raise serializers.ValidationError(
                _("Send either a file (multipart) or a url (JSON)."), code="invalid_request"
            )
        return attrs


class VerifyIn(StrictInput):
    image = serializers.FileField(help_text="The image whose Content Credentials to check.")


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


class ReferenceIn(StrictInput):
    """multipart/form-data: a new saved reference (addition)."""

    name = serializers.CharField(max_length=120)
    kind = serializers.ChoiceField(choices=Reference.Kind.choices)
    images = serializers.ListField(child=serializers.FileField(), min_length=1, max_length=14)
    roles = serializers.ListField(
        child=serializers.ChoiceField(choices=Role.choices),
        required=False,
        max_length=14,
        help_text="Each image's role, in order; left out, the kind's (a product's images are "
        "`product`, a logo's `logo`...).",
    )
    notes = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    depicts_person = StrictBooleanField(
        required=False,
        default=False,
        help_text="The images show a real person: `consent` and `consent_until` are required.",
    )
    consent = StrictBooleanField(
        required=False,
        default=False,
        help_text="The caller attests that the person shown agreed to their images being used "
        "in this workspace; recorded with who attested and when.",
    )
    consent_until = serializers.DateField(
        required=False,
        help_text="The last day (UTC) the consent holds; after it the reference is refused "
        "(`reference_consent_expired`) and its images are deleted from storage.",
    )


class ReferenceImageOut(serializers.Serializer):
    position = serializers.IntegerField()
    upload = serializers.CharField(source="upload.public_id")
    role = serializers.CharField()
    note = serializers.CharField()
    width = serializers.IntegerField(source="upload.width")
    height = serializers.IntegerField(source="upload.height")


class ConsentOut(serializers.Serializer):
    attested_by = serializers.EmailField(source="attested_by_email", allow_blank=True)
    attested_at = serializers.DateTimeField()
    workspace = serializers.CharField(source="workspace.slug")
    valid_until = serializers.DateTimeField()
    withdrawn_at = serializers.DateTimeField(allow_null=True)


class ReferenceOut(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=Reference.Kind.choices)
    notes = serializers.CharField()
    depicts_person = serializers.BooleanField()
    version = serializers.IntegerField()
    images = serializers.SerializerMethodField()
    consent = serializers.SerializerMethodField()
    usable = serializers.SerializerMethodField()
    unusable_reason = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def _images(self, obj):
        known = self.context.get("images")
        if known is not None:
            return known.get(obj.pk, [])
        return list(obj.current_version().images.select_related("upload"))

    @extend_schema_field(ReferenceImageOut(many=True))
    def get_images(self, obj):
        if obj.purged_at is not None:
            return []  # deleted from storage when the consent ended
        return ReferenceImageOut(self._images(obj), many=True).data

    @extend_schema_field(ConsentOut(allow_null=True))
    def get_consent(self, obj):
        consent = getattr(obj, "consent", None) if obj.depicts_person else None
        return ConsentOut(consent).data if consent else None

    def get_usable(self, obj) -> bool:
        return obj.unusable() is None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_unusable_reason(self, obj):
        problem = obj.unusable()
        return problem[0] if problem else None


class EstimateOut(serializers.Serializer):
    credits = serializers.IntegerField()
    allowed = serializers.BooleanField()
    reasons = ErrorOut(many=True)
    # The prompt linter's warnings (an image named but missing, a photo the prompt never
    # mentions, a preset's placeholder left, over the model's reference limits); never refusals.
    warnings = ErrorOut(many=True)
