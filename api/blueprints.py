"""REST API v1 for templates (`tpl_`) and their bulk runs (`bat_`): the views and their request
shapes. Every queryset is scoped to request.workspace; templates use the compositions scopes."""

from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response

from bananasite.errors import ValidationFailed
from blueprints import services
from blueprints.archive import archive_response
from blueprints.models import Batch, Template
from blueprints.serializers import (
    BatchOut,
    BatchRowOut,
    TemplateDetailOut,
    TemplateOut,
    batch_data,
)
from compositions.models import Composition
from compositions.serializers import CompositionOut

from .idempotency import idempotent
from .pagination import NewestFirstCursorPagination
from .schema import ERRORS, WRITE_ERRORS
from .serializers import StrictBooleanField, StrictInput
from .views import WorkspaceAPIView

CSV_LIMIT = 5 * 1024 * 1024


class StrictText(serializers.CharField):
    """Text inside an object or list: a JSON number or boolean is refused, not turned into
    text (StrictInput does the same for a body's own string fields)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class FieldIn(StrictInput):
    name = serializers.CharField(max_length=40)
    label = serializers.CharField(max_length=80, required=False, allow_blank=True)  # type: ignore[assignment]  # the contract's name
    required = StrictBooleanField(required=False, default=True)  # type: ignore[assignment]  # the contract's name


class SlotIn(StrictInput):
    role = serializers.CharField(max_length=40, required=False, allow_blank=True)
    label = serializers.CharField(max_length=80, required=False, allow_blank=True)  # type: ignore[assignment]  # the contract's name
    required = StrictBooleanField(required=False, default=True)  # type: ignore[assignment]  # the contract's name
    fixed = serializers.DictField(
        child=StrictText(max_length=2048), required=False, allow_null=True
    )


class TemplateIn(StrictInput):
    """Either `from_composition` (its prompt, options and a slot per photo, asked each time) or
    the full definition; given with `from_composition`, `prompt`, `fields`, `slots` and
    `options` replace what the composition gives."""

    name = serializers.CharField(max_length=120)
    from_composition = serializers.CharField(max_length=40, required=False)
    prompt = serializers.CharField(max_length=4000, required=False, trim_whitespace=False)
    fields = FieldIn(many=True, required=False, max_length=20)  # type: ignore[assignment,call-arg]
    slots = SlotIn(many=True, required=False, min_length=1, max_length=14)  # type: ignore[call-arg]
    options = serializers.DictField(required=False)


class RunIn(StrictInput):
    fields = serializers.DictField(  # type: ignore[assignment]
        child=StrictText(allow_blank=True, max_length=500), required=False
    )
    inputs = serializers.ListField(
        child=serializers.DictField(child=StrictText(max_length=2048), allow_null=True),
        required=False,
        max_length=14,
        help_text="The photos of the slots that ask (`fixed` null), in order: each "
        '{"upload": "up_…"}, {"result": "res_…"} or {"url": "https://…"}; null leaves an '
        "optional one out.",
    )


class BatchIn(StrictInput):
    template = serializers.CharField(max_length=40)
    rows = RunIn(many=True, min_length=1)  # type: ignore[call-arg]


class BatchFormIn(StrictInput):
    template = serializers.CharField(max_length=40)
    file = serializers.FileField(help_text="CSV: a column per field and `image_N` per photo.")


def _definition(workspace, data) -> dict:
    definition: dict = {}
    if data.get("from_composition"):
        source = (
            Composition.objects.visible_to(workspace)
            .filter(public_id=data["from_composition"])
            .first()
        )
        if source is None:
            raise ValidationFailed(
                [("from_composition", "not_found", "There is no such composition.")]
            )
        definition = services.definition_of(source)
        for slot in definition["slots"]:
            slot.pop("upload")
    for key in ("prompt", "fields", "slots", "options"):
        if key in data:
            definition[key] = data[key]
    if "prompt" not in definition or "slots" not in definition:
        raise ValidationFailed(
            [
                (
                    "from_composition",
                    "invalid_request",
                    "Give `from_composition`, or the template's `prompt` and `slots`.",
                )
            ]
        )
    return definition


class TemplatesView(WorkspaceAPIView):
    parser_classes = [JSONParser]
    pagination_class = NewestFirstCursorPagination
    required_scopes = {"GET": "compositions:read", "POST": "compositions:write"}

    @extend_schema(
        parameters=[OpenApiParameter("cursor", str), OpenApiParameter("limit", int)],
        operation_id="templates_list",
        responses={200: TemplateOut(many=True), **ERRORS},
    )
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            Template.objects.visible_to(self.workspace).with_latest(), request, view=self
        )
        return paginator.get_paginated_response(TemplateOut(page, many=True).data)

    @extend_schema(request=TemplateIn, responses={201: TemplateOut, **WRITE_ERRORS})
    @idempotent
    def post(self, request):
        incoming = TemplateIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        template = services.create_template(
            workspace=self.workspace,
            user=request.user,
            name=data["name"],
            definition=_definition(self.workspace, data),
        )
        return Response(TemplateOut(template).data, status=201)


class TemplateDetailView(WorkspaceAPIView):
    required_scopes = {"GET": "compositions:read"}

    @extend_schema(responses={200: TemplateDetailOut, **ERRORS})
    def get(self, request, template_id):
        template = get_object_or_404(
            Template.objects.visible_to(self.workspace).prefetch_related("versions"),
            public_id=template_id,
        )
        return Response(TemplateDetailOut(template).data)


class TemplateRunsView(WorkspaceAPIView):
    parser_classes = [JSONParser]
    required_scopes = {"POST": "compositions:write"}

    @extend_schema(request=RunIn, responses={202: CompositionOut, **WRITE_ERRORS})
    @idempotent
    def post(self, request, template_id):
        template = get_object_or_404(
            Template.objects.visible_to(self.workspace), public_id=template_id
        )
        incoming = RunIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        composition = services.run_template(
            version=template.latest,
            workspace=self.workspace,
            user=request.user,
            values=incoming.validated_data.get("fields") or {},
            inputs=incoming.validated_data.get("inputs") or [],
        )
        return self.out(self.compositions().get(pk=composition.pk), status=202)


def _template_for(workspace, template_id: str) -> Template:
    template = Template.objects.visible_to(workspace).filter(public_id=template_id).first()
    if template is None:
        raise ValidationFailed([("template", "not_found", "There is no such template.")])
    return template


class BatchesView(WorkspaceAPIView):
    parser_classes = [JSONParser, MultiPartParser]
    required_scopes = {"POST": "compositions:write"}

    @extend_schema(
        request={"application/json": BatchIn, "multipart/form-data": BatchFormIn},
        responses={202: BatchOut, **WRITE_ERRORS},
    )
    @idempotent
    def post(self, request):
        if hasattr(request.data, "getlist"):
            incoming = BatchFormIn(data=request.data)
            incoming.is_valid(raise_exception=True)
            template = _template_for(self.workspace, incoming.validated_data["template"])
            upload = incoming.validated_data["file"]
            if upload.size > CSV_LIMIT:
                raise ValidationFailed([("file", "invalid_csv", "The CSV file is over 5 MB.")])
            try:
                text = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                raise ValidationFailed(
                    [("file", "invalid_csv", "Save the CSV file as UTF-8.")]
                ) from None
            version = template.latest
            rows = services.rows_from_csv(version=version, text=text)
        else:
            incoming = BatchIn(data=request.data)
            incoming.is_valid(raise_exception=True)
            template = _template_for(self.workspace, incoming.validated_data["template"])
            version = template.latest
            rows = incoming.validated_data["rows"]
        batch = services.create_batch(
            version=version, workspace=self.workspace, user=request.user, rows=rows
        )
        return Response(batch_data(batch), status=202)


def _batch(workspace, batch_id: str) -> Batch:
    return get_object_or_404(
        Batch.objects.filter(workspace=workspace).select_related("version__template"),
        public_id=batch_id,
    )


class BatchDetailView(WorkspaceAPIView):
    required_scopes = {"GET": "compositions:read"}

    @extend_schema(responses={200: BatchOut, **ERRORS})
    def get(self, request, batch_id):
        batch = _batch(self.workspace, batch_id)
        services.finish_batch_if_done(batch=batch)
        return Response(batch_data(batch))


class RowPagination(CursorPagination):
    ordering = ("number",)
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 100

    get_page_size = NewestFirstCursorPagination.get_page_size
    get_paginated_response = NewestFirstCursorPagination.get_paginated_response
    get_paginated_response_schema = NewestFirstCursorPagination.get_paginated_response_schema


class BatchRowsView(WorkspaceAPIView):
    pagination_class = RowPagination
    required_scopes = {"GET": "compositions:read"}

    @extend_schema(
        parameters=[OpenApiParameter("cursor", str), OpenApiParameter("limit", int)],
        responses={200: BatchRowOut(many=True), **ERRORS},
    )
    def get(self, request, batch_id):
        batch = _batch(self.workspace, batch_id)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            batch.rows.select_related("composition"), request, view=self
        )
        return paginator.get_paginated_response(BatchRowOut(page, many=True).data)


class BatchCancelView(WorkspaceAPIView):
    required_scopes = {"POST": "compositions:write"}

    @extend_schema(request=None, responses={200: BatchOut, **WRITE_ERRORS})
    @idempotent
    def post(self, request, batch_id):
        batch = services.cancel_batch(batch=_batch(self.workspace, batch_id))
        return Response(batch_data(batch))


class BatchArchiveView(WorkspaceAPIView):
    required_scopes = {"GET": "compositions:read"}

    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY, **ERRORS})
    def get(self, request, batch_id) -> StreamingHttpResponse:
        return archive_response(_batch(self.workspace, batch_id))
