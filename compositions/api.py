"""REST API v1 (see shared/design/api-v1.md): every queryset is scoped to request.workspace."""

import io
from datetime import date, timedelta

from django.db.models import Count, Q, Sum
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers as s
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from bananasite.api import HasScope, IsWorkspaceAdmin, NewestFirstCursorPagination, idempotent
from bananasite.errors import AppError, ValidationFailed
from bananasite.fetch import fetch_image
from billing.services import open_wallet, quotas_for
from billing.usage import usage_by_day

from . import services
from .catalog import all_models, default_model
from .models import Composition, Result, Upload, Webhook
from .serializers import (
    CompositionFormIn,
    CompositionIn,
    CompositionOut,
    EstimateOut,
    ReportIn,
    ReportOut,
    UploadIn,
    UploadOut,
    VariationIn,
    WebhookCreatedOut,
    WebhookIn,
    WebhookOut,
)
from .views import _serve


class ProblemOut(s.Serializer):
    """RFC 9457 problem details, as every error is answered."""

    type = s.CharField()
    title = s.CharField()
    status = s.IntegerField()
    detail = s.CharField()
    code = s.CharField()
    errors = s.ListField(child=s.DictField(), required=False)


def _problem(description):
    return OpenApiResponse(response=ProblemOut, description=description)


PROBLEM = "application/problem+json"


class QuotaOut(s.Serializer):
    used = s.IntegerField()
    limit = s.IntegerField()


class MeOut(s.Serializer):
    user = inline_serializer("MeUser", {"email": s.EmailField()}, allow_null=True)
    workspace = inline_serializer(
        "MeWorkspace", {"slug": s.CharField(), "name": s.CharField(), "plan": s.CharField()}
    )
    balance = s.IntegerField()
    quotas = inline_serializer(
        "MeQuotas", {"daily_images": QuotaOut(), "monthly_images": QuotaOut()}
    )


class ModelOut(s.Serializer):
    id = s.CharField()
    provider = s.CharField()
    name = s.CharField()
    max_images = s.IntegerField()
    image_sizes = s.ListField(child=s.CharField())
    aspect_ratios = s.ListField(child=s.CharField())
    credits_per_image = s.DictField(child=s.IntegerField())
    allowed = s.BooleanField()
    default = s.BooleanField()


class UsageDayOut(s.Serializer):
    date = s.DateField()
    images = s.IntegerField()
    credits = s.IntegerField()
    compositions = s.IntegerField()
    failed = s.IntegerField()


class UsageMemberOut(s.Serializer):
    email = s.EmailField(allow_null=True)
    compositions = s.IntegerField()
    failed = s.IntegerField()
    credits = s.IntegerField()
    images = s.IntegerField()


class UsageOut(s.Serializer):
    to = s.DateField()
    days = UsageDayOut(many=True)
    totals = inline_serializer(
        "UsageTotals",
        {
            "images": s.IntegerField(),
            "credits": s.IntegerField(),
            "compositions": s.IntegerField(),
            "failed": s.IntegerField(),
        },
    )
    members = UsageMemberOut(many=True, required=False)

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = s.DateField()  # a Python keyword, so declared here
        return fields


ERRORS = {
    (400, PROBLEM): _problem("Invalid request"),
    (401, PROBLEM): _problem("Missing, bad, revoked or expired token"),
    (403, PROBLEM): _problem("Role, scope or plan forbids it"),
    (404, PROBLEM): _problem("Absent, or not this workspace's"),
    (429, PROBLEM): _problem("Rate limited or over quota (see Retry-After)"),
}
WRITE_ERRORS = {
    **ERRORS,
    (402, PROBLEM): _problem("Not enough credits"),
    (409, PROBLEM): _problem("Idempotency key in flight, or invalid state"),
    (413, PROBLEM): _problem("Too large"),
    (415, PROBLEM): _problem("Unsupported image type"),
    (422, PROBLEM): _problem("Idempotency key reused with another body"),
}


class WorkspaceAPIView(APIView):
    permission_classes = [HasScope]

    @property
    def workspace(self):
        return self.request.workspace

    def compositions(self):
        return (
            Composition.objects.visible_to(self.workspace)
            .select_related("parent")
            .prefetch_related("inputs__upload", "results")
        )

    def out(self, composition, status=200):
        return Response(
            CompositionOut(composition, context={"request": self.request}).data, status=status
        )


@extend_schema(responses={200: MeOut, **ERRORS})
class MeView(WorkspaceAPIView):
    def get(self, request):
        wallet = open_wallet(workspace=self.workspace)
        quotas = quotas_for(wallet=wallet, user=request.user)
        return Response(
            {
                "user": {"email": request.user.email},
                "workspace": {
                    "slug": self.workspace.slug,
                    "name": self.workspace.name,
                    "plan": wallet.plan.code,
                },
                "balance": wallet.balance,
                "quotas": {
                    "daily_images": {"used": quotas.daily_used, "limit": quotas.daily_limit},
                    "monthly_images": {"used": quotas.monthly_used, "limit": quotas.monthly_limit},
                },
            }
        )


@extend_schema(responses={200: ModelOut(many=True), **ERRORS})
class ModelsView(WorkspaceAPIView):
    def get(self, request):
        plan = open_wallet(workspace=self.workspace).plan
        return Response(
            [
                {
                    "id": m.id,
                    "provider": m.provider,
                    "name": m.name,
                    "max_images": m.max_images,
                    "image_sizes": list(m.image_sizes),
                    "aspect_ratios": list(m.aspect_ratios),
                    "credits_per_image": m.credits_per_image,
                    "allowed": plan.allows_model(m.id),
                    "default": m.id == default_model().id,
                }
                for m in all_models()
            ]
        )


def _new_image_from_url(url: str, label: str) -> services.NewImage:
    data = fetch_image(url)
    return services.NewImage(name=label, fileobj=io.BytesIO(data), size=len(data))


class UploadsView(WorkspaceAPIView):
    parser_classes = [MultiPartParser, JSONParser]
    required_scopes = {"POST": "uploads:write"}

    @extend_schema(request=UploadIn, responses={201: UploadOut, **WRITE_ERRORS})
    @idempotent
    def post(self, request):
        data = UploadIn(data=request.data)
        data.is_valid(raise_exception=True)
        if data.validated_data.get("file"):
            f = data.validated_data["file"]
            image = services.NewImage(name=f.name, fileobj=f, size=f.size)
        else:
            image = _new_image_from_url(data.validated_data["url"], "url")
        upload = services.create_upload(workspace=self.workspace, user=request.user, image=image)
        return Response(UploadOut(upload).data, status=201)


class UploadDetailView(WorkspaceAPIView):
    required_scopes = {"GET": "compositions:read", "DELETE": "uploads:write"}

    def get_object(self, upload_id):
        return get_object_or_404(Upload, public_id=upload_id, workspace=self.workspace)

    @extend_schema(responses={200: UploadOut, **ERRORS})
    def get(self, request, upload_id):
        return Response(UploadOut(self.get_object(upload_id)).data)

    @extend_schema(responses={204: None, **ERRORS, (409, PROBLEM): _problem("Still an input")})
    def delete(self, request, upload_id):
        services.delete_upload(upload=self.get_object(upload_id))
        return Response(status=204)


def _options_and_images(view, request, data) -> tuple[services.CompositionOptions, list]:
    """The composition request's options, and its images in order (uploads, URLs or files)."""
    workspace = view.workspace
    images, roles = [], []
    for index, item in enumerate(data.get("inputs") or [], start=1):
        if item.get("upload"):
            # Held and rejected uploads are found too: the service holds or refuses them.
            upload = Upload.objects.filter(public_id=item["upload"], workspace=workspace).first()
            if upload is None:
                raise ValidationFailed(
                    [("inputs", "not_found", f"Input {index}: there is no such upload here.")]
                )
            images.append(upload)
        else:
            images.append(_new_image_from_url(item["url"], f"image {index}"))
        roles.append(item.get("role", ""))
    for f in data.get("images") or []:
        images.append(services.NewImage(name=f.name, fileobj=f, size=f.size))
    roles += list(data.get("roles") or [])
    options = services.CompositionOptions(
        prompt=data.get("prompt") or "",
        preset=data.get("preset") or "none",
        style=data.get("style") or "natural",
        model=data.get("model") or default_model().id,
        aspect_ratio=data.get("aspect_ratio") or "1:1",
        image_size=data.get("image_size") or "1K",
        num_images=data.get("num_images") or 1,
        roles=roles,
        consent=bool(data.get("consent")),
    )
    return options, images


def _composition_input(request):
    """The request's fields, validated by the serializer for its body type."""
    data = _request_data(request)
    serializer = (CompositionFormIn if hasattr(data, "getlist") else CompositionIn)(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


COMPOSITION_BODY = {"application/json": CompositionIn, "multipart/form-data": CompositionFormIn}


def _request_data(request):
    """JSON as is; multipart with its repeated fields (`images`, `roles`) as lists."""
    if hasattr(request.data, "getlist"):
        from django.http import QueryDict

        if not request.data:
            # A form body with no fields at all is malformed (or a part without headers).
            raise ValidationFailed([("body", "invalid_request", "The form body has no fields.")])
        if "inputs" in request.data:
            raise ValidationFailed(
                [
                    (
                        "inputs",
                        "invalid_request",
                        "In a multipart form, send the photos as repeated `images` files; "
                        "`inputs` belongs in a JSON body.",
                    )
                ]
            )
        data = QueryDict(mutable=True)
        for key in request.data:
            data.setlist(key, request.data.getlist(key))  # files and plain values alike
        return data
    return request.data


class CompositionsView(WorkspaceAPIView):
    parser_classes = [JSONParser, MultiPartParser]
    pagination_class = NewestFirstCursorPagination
    required_scopes = {"GET": "compositions:read", "POST": "compositions:write"}

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=Composition.Status.values),
            OpenApiParameter("created_after", OpenApiTypes.DATETIME),
            OpenApiParameter("created_before", OpenApiTypes.DATETIME),
            OpenApiParameter("cursor", str),
            OpenApiParameter("limit", int, description="1 to 100; default 20"),
        ],
        operation_id="compositions_list",
        responses={200: CompositionOut(many=True), **ERRORS},
    )
    def get(self, request):
        queryset = self.compositions()
        params = request.query_params
        if "status" in params:
            if params["status"] not in Composition.Status.values:
                raise ValidationFailed([("status", "invalid_request", "Unknown status.")])
            queryset = queryset.filter(status=params["status"])
        for name, lookup in (
            ("created_after", "created_at__gt"),
            ("created_before", "created_at__lt"),
        ):
            if name in params:
                moment = parse_datetime(params[name]) or (
                    parse_date(params[name]) and f"{params[name]}T00:00:00Z"
                )
                if not moment:
                    raise ValidationFailed([(name, "invalid_request", "Use an ISO 8601 time.")])
                queryset = queryset.filter(**{lookup: moment})
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, request, view=self)
        data = CompositionOut(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)

    @extend_schema(request=COMPOSITION_BODY, responses={202: CompositionOut, **WRITE_ERRORS})
    @idempotent
    def post(self, request):
        data = _composition_input(request)
        options, images = _options_and_images(self, request, data)
        parent = None
        if data.get("parent"):
            parent = self.compositions().filter(public_id=data["parent"]).first()
            if parent is None:
                raise ValidationFailed([("parent", "not_found", "There is no such composition.")])
        composition = services.create_composition(
            workspace=self.workspace,
            user=request.user,
            options=options,
            images=images,
            parent=parent,
            origin=Composition.Origin.REFINEMENT if parent else Composition.Origin.NEW,
        )
        return self.out(composition, status=202)


class CompositionDetailView(WorkspaceAPIView):
    required_scopes = {"GET": "compositions:read", "DELETE": "compositions:write"}

    @extend_schema(responses={200: CompositionOut, **ERRORS})
    def get(self, request, composition_id):
        return self.out(get_object_or_404(self.compositions(), public_id=composition_id))

    @extend_schema(responses={204: None, **ERRORS})
    def delete(self, request, composition_id):
        composition = get_object_or_404(self.compositions(), public_id=composition_id)
        services.delete_composition(composition=composition)
        return Response(status=204)


class CancelView(WorkspaceAPIView):
    required_scopes = {"POST": "compositions:write"}

    @extend_schema(request=None, responses={200: CompositionOut, **WRITE_ERRORS})
    @idempotent
    def post(self, request, composition_id):
        composition = get_object_or_404(self.compositions(), public_id=composition_id)
        services.cancel_composition(composition=composition)
        return self.out(get_object_or_404(self.compositions(), pk=composition.pk))


class VariationsView(WorkspaceAPIView):
    required_scopes = {"POST": "compositions:write"}

    @extend_schema(request=VariationIn, responses={202: CompositionOut, **WRITE_ERRORS})
    @idempotent
    def post(self, request, composition_id):
        source = get_object_or_404(self.compositions(), public_id=composition_id)
        overrides = VariationIn(data=request.data)
        overrides.is_valid(raise_exception=True)
        composition = services.create_variation(
            source=source, user=request.user, **overrides.validated_data
        )
        return self.out(composition, status=202)


class EstimateView(WorkspaceAPIView):
    parser_classes = [JSONParser, MultiPartParser]
    required_scopes = {"POST": "compositions:read"}

    @extend_schema(request=COMPOSITION_BODY, responses={200: EstimateOut, **ERRORS})
    def post(self, request):
        data = _composition_input(request)
        count = len(data.get("inputs") or []) + len(data.get("images") or [])
        options = services.CompositionOptions(
            prompt=data.get("prompt") or "",
            preset=data.get("preset") or "none",
            style=data.get("style") or "natural",
            model=data.get("model") or default_model().id,
            aspect_ratio=data.get("aspect_ratio") or "1:1",
            image_size=data.get("image_size") or "1K",
            num_images=data.get("num_images") or 1,
        )
        estimate = services.estimate_composition(
            workspace=self.workspace, user=request.user, options=options, count=count
        )
        return Response(estimate)


class ResultFileView(WorkspaceAPIView):
    required_scopes = {"GET": "compositions:read"}

    @extend_schema(
        parameters=[
            OpenApiParameter("variant", str, OpenApiParameter.PATH, enum=["file", "thumbnail"])
        ],
        responses={
            (200, "image/png"): OpenApiTypes.BINARY,
            (200, "image/jpeg"): OpenApiTypes.BINARY,
            (200, "image/webp"): OpenApiTypes.BINARY,
            302: None,
            **ERRORS,
        },
    )
    def get(self, request, result_id, variant):
        result = get_object_or_404(
            Result, public_id=result_id, composition__workspace=self.workspace
        )
        if variant == "thumbnail":
            return _serve(result.thumbnail, content_type="image/webp")
        return _serve(result.file, content_type=result.content_type)


class ReportsView(WorkspaceAPIView):
    required_scopes = {"POST": "reports:write"}

    @extend_schema(request=ReportIn, responses={201: ReportOut, **WRITE_ERRORS})
    @idempotent
    def post(self, request):
        incoming = ReportIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        report = services.create_report(
            reporter=request.user, workspace=self.workspace, **incoming.validated_data
        )
        return Response(ReportOut(report).data, status=201)


class UsageView(WorkspaceAPIView):
    required_scopes = {"GET": "usage:read"}

    @extend_schema(
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE),
            OpenApiParameter("to", OpenApiTypes.DATE),
        ],
        responses={200: UsageOut, **ERRORS},
    )
    def get(self, request):
        today = timezone.now().date()
        try:
            end = _date_param(request, "to", today)
            start = _date_param(request, "from", end - timedelta(days=29))
        except ValueError as exc:
            raise ValidationFailed([(str(exc), "invalid_request", "Use YYYY-MM-DD.")]) from None
        # At most a year per call (the answer says which days it covers); `from` after `to`
        # is simply an empty range.
        start = max(start, end - timedelta(days=365))
        days = usage_by_day(workspace=self.workspace, start=start, end=end) if start <= end else []
        rows = [
            {
                "date": d.date.isoformat(),
                "images": d.images,
                "credits": d.credits,
                "compositions": d.compositions,
                "failed": d.failed,
            }
            for d in days
        ]
        totals = {
            k: sum(r[k] for r in rows) for k in ("images", "credits", "compositions", "failed")
        }
        body = {"from": start.isoformat(), "to": end.isoformat(), "days": rows, "totals": totals}
        if IsWorkspaceAdmin().has_permission(request, self):
            body["members"] = _member_totals(self.workspace, start, end)
        return Response(body)


def _date_param(request, name, default) -> date:
    if name not in request.query_params:
        return default
    raw = request.query_params[name]
    parsed = parse_date(raw) if len(raw) == 10 else None
    if parsed is None:
        raise ValueError(name)
    return parsed


def _member_totals(workspace, start, end):
    """Per member. Compositions and results are counted in separate queries: grouping both in
    one would join them and count a composition once per result."""
    in_range = {"created_at__date__gte": start, "created_at__date__lte": end}
    rows = (
        Composition.objects.filter(workspace=workspace, **in_range)
        .values("created_by__email")
        .annotate(
            compositions=Count("id"),
            failed=Count("id", filter=Q(status="failed")),
            credits=Sum("credits_charged"),
        )
        .order_by("created_by__email")
    )
    images = dict(
        Result.objects.filter(composition__workspace=workspace, **in_range)
        .values("composition__created_by__email")
        .annotate(n=Count("id"))
        .values_list("composition__created_by__email", "n")
    )
    return [
        {
            "email": r["created_by__email"],
            "compositions": r["compositions"],
            "failed": r["failed"],
            "credits": r["credits"] or 0,
            "images": images.get(r["created_by__email"], 0),
        }
        for r in rows
    ]


class WebhooksView(WorkspaceAPIView):
    permission_classes = [HasScope, IsWorkspaceAdmin]

    @extend_schema(responses={200: WebhookOut(many=True), **ERRORS})
    def get(self, request):
        return Response(
            WebhookOut(Webhook.objects.filter(workspace=self.workspace), many=True).data
        )

    @extend_schema(request=WebhookIn, responses={201: WebhookCreatedOut, **WRITE_ERRORS})
    @idempotent
    def post(self, request):
        from .webhooks import create_webhook

        incoming = WebhookIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        hook = create_webhook(workspace=self.workspace, **incoming.validated_data)
        return Response(WebhookCreatedOut(hook).data, status=201)


class WebhookDetailView(WorkspaceAPIView):
    permission_classes = [HasScope, IsWorkspaceAdmin]

    @extend_schema(responses={204: None, **ERRORS})
    def delete(self, request, webhook_id):
        get_object_or_404(Webhook, public_id=webhook_id, workspace=self.workspace).delete()
        return Response(status=204)


def not_found(request, *args, **kwargs):
    """Anything under /api/v1/ that matches no endpoint: problem+json, never an HTML page."""
    from bananasite.api import problem

    response = problem(404, "not_found", "There is no such API endpoint.")
    response.accepted_renderer = __import__("rest_framework.renderers").renderers.JSONRenderer()
    response.accepted_media_type = "application/problem+json"
    response.renderer_context = {}
    return response.render()


__all__ = ["AppError"]
