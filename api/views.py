"""REST API v1 (see shared/design/api-v1.md): every queryset is scoped to request.workspace.

Views are thin: they read the request with an input serializer, call one service of the app
that owns the noun, and answer with an output serializer."""

import io
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

from django.conf import settings
from django.http import QueryDict
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Workspace
from bananasite.errors import ValidationFailed
from bananasite.fetch import fetch_image
from bananasite.files import serve_private_file
from billing.services import open_wallet, quotas_for
from billing.usage import member_totals, usage_by_day
from compositions import services
from compositions.catalog import all_models, default_model
from compositions.credentials import verify_image
from compositions.lifecycle import cancel_composition
from compositions.models import Composition, Result, Upload
from compositions.options import CompositionOptions, NamedReference, NewImage
from compositions.serializers import CompositionOut, UploadOut, VerificationOut
from moderation.services import create_report
from references.models import Reference, current_images
from references.services import ROLE_FOR_KIND, create_reference, delete_reference, end_of_day
from webhooks.models import Webhook
from webhooks.services import create_webhook, delete_webhook

from .auth import ANY_SCOPE, HasScope, IsWorkspaceAdmin
from .idempotency import idempotent
from .pagination import NewestFirstCursorPagination
from .schema import ERRORS, PROBLEM, WRITE_ERRORS, problem_response
from .serializers import (
    CompositionFormIn,
    CompositionIn,
    EstimateOut,
    MeOut,
    ModelOut,
    ReferenceIn,
    ReferenceOut,
    ReportIn,
    ReportOut,
    UploadIn,
    UsageOut,
    VariationIn,
    VerifyIn,
    WebhookCreatedOut,
    WebhookIn,
    WebhookOut,
)


class WorkspaceAPIView(APIView):
    permission_classes = [HasScope]
    # The scope a token needs, per method; a method not listed here refuses every token.
    required_scopes: dict[str, str] = {}

    @property
    def workspace(self):
        return self.request.workspace

    def compositions(self):
        return (
            Composition.objects.visible_to(self.workspace)
            .with_queue_position()
            .select_related("parent", "workspace", "region", "free_retry_of")
            .with_inputs_and_results()
        )

    def out(self, composition, status=200):
        return Response(
            CompositionOut(composition, context={"request": self.request}).data, status=status
        )


@extend_schema(responses={200: MeOut, **ERRORS})
class MeView(WorkspaceAPIView):
    required_scopes = {"GET": ANY_SCOPE}

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
                    "retention_days": self.workspace.retention_days,
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
    required_scopes = {"GET": ANY_SCOPE}

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
                    "aliases": list(m.aliases),
                    "lifecycle": m.lifecycle,
                    "shutdown_date": m.shutdown_date,
                    "successor": m.successor,
                    "options": m.options,
                    "batch_credits_per_image": {
                        size: m.batch_credits_per_image(size) for size in m.credits_per_image
                    },
                    "grounding_credits_per_search": m.grounding_credits_per_search,
                }
                for m in all_models()
            ]
        )


def _new_image_from_url(url: str, label: str, *, deadline: float | None = None) -> NewImage:
    data = fetch_image(url, deadline=deadline)
    return NewImage(name=label, fileobj=io.BytesIO(data), size=len(data))


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
            image = NewImage(name=f.name, fileobj=f, size=f.size)
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

    @extend_schema(
        responses={204: None, **ERRORS, (409, PROBLEM): problem_response("Still an input")}
    )
    def delete(self, request, upload_id):
        services.delete_upload(upload=self.get_object(upload_id))
        return Response(status=204)


def _options_and_images(
    workspace: Workspace, data: dict
) -> tuple[CompositionOptions, list[Upload | NewImage | NamedReference]]:
    """The composition request's options, and its images in order (uploads, URLs, saved
    references or files); the service resolves references (and refuses unknown ones)."""
    inputs = data.get("inputs") or []
    # One query for the uploads; held and rejected ones are found too (the service holds or
    # refuses them).
    uploads = {
        u.public_id: u
        for u in Upload.objects.filter(
            public_id__in=[i["upload"] for i in inputs if i.get("upload")], workspace=workspace
        )
    }
    for index, item in enumerate(inputs, start=1):
        if item.get("upload") and item["upload"] not in uploads:
            raise ValidationFailed(
                [
                    (
                        "inputs",
                        "not_found",
                        _("Input %(index)s: there is no such upload here.") % {"index": index},
                    )
                ]
            )
    # URL inputs are fetched side by side and share one deadline, so a request with many slow
    # URLs holds its thread for BANANASITE_FETCH_TIMEOUT at most, not that once per URL.
    deadline = time.monotonic() + settings.BANANASITE_FETCH_TIMEOUT
    urls = [(index, item["url"]) for index, item in enumerate(inputs, start=1) if item.get("url")]
    with ThreadPoolExecutor(max_workers=max(1, min(4, len(urls)))) as pool:
        fetched = dict(
            zip(
                [index for index, _url in urls],
                pool.map(
                    lambda pair: _new_image_from_url(
                        pair[1], f"image {pair[0]}", deadline=deadline
                    ),
                    urls,
                ),
                strict=True,
            )
        )
    images: list[Upload | NewImage | NamedReference] = [
        uploads[item["upload"]]
        if item.get("upload")
        else NamedReference(public_id=item["reference"], role=item.get("role", ""))
        if item.get("reference")
        else fetched[index]
        for index, item in enumerate(inputs, start=1)
    ]
    roles: list[str] = [item.get("role", "") for item in inputs]
    markup_of: list[int | None] = [item.get("markup_of") for item in inputs]
    for f in data.get("images") or []:
        images.append(NewImage(name=f.name, fileobj=f, size=f.size))
    roles += list(data.get("roles") or [])
    return CompositionOptions.from_data(data, roles=roles, markup_of=markup_of), images


def _workspace_upload(workspace: Workspace, public_id: str, field: str) -> Upload:
    upload = Upload.objects.filter(public_id=public_id, workspace=workspace).first()
    if upload is None:
        raise ValidationFailed([(field, "not_found", "There is no such upload here.")])
    return upload


def _region_source(workspace: Workspace, public_id: str, field: str) -> Result | Upload:
    """The image a region edit or expand changes: a result or an upload of this workspace."""
    if public_id.startswith("res_"):
        result = (
            Result.objects.select_related("composition__workspace")
            .filter(public_id=public_id, composition__workspace=workspace)
            .first()
        )
        if result is not None:
            return result
    elif public_id.startswith("up_"):
        upload = Upload.objects.filter(public_id=public_id, workspace=workspace).first()
        if upload is not None:
            return upload
    raise ValidationFailed([(field, "not_found", "There is no such result or upload here.")])


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
        if not request.data:
            # A form body with no fields at all is malformed (or a part without headers).
            raise ValidationFailed([("body", "invalid_request", _("The form body has no fields."))])
        if "inputs" in request.data:
            raise ValidationFailed(
                [
                    (
                        "inputs",
                        "invalid_request",
                        _(
                            "In a multipart form, send the photos as repeated `images` files; "
                            "`inputs` belongs in a JSON body."
                        ),
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
                raise ValidationFailed([("status", "invalid_request", _("Unknown status."))])
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
                    raise ValidationFailed([(name, "invalid_request", _("Use an ISO 8601 time."))])
                queryset = queryset.filter(**{lookup: moment})
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, request, view=self)
        data = CompositionOut(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)

    @extend_schema(request=COMPOSITION_BODY, responses={202: CompositionOut, **WRITE_ERRORS})
    @idempotent
    def post(self, request):
        data = _composition_input(request)
        options, images = _options_and_images(self.workspace, data)
        parent = None
        if data.get("parent"):
            parent = self.compositions().filter(public_id=data["parent"]).first()
            if parent is None:
                raise ValidationFailed(
                    [("parent", "not_found", _("There is no such composition."))]
                )
        if data.get("edit"):
            edit = data["edit"]
            composition = services.create_region_edit(
                source=_region_source(self.workspace, edit["source"], "edit.source"),
                mask=_workspace_upload(self.workspace, edit["mask"], "edit.mask"),
                user=request.user,
                options=options,
                feather=edit["feather"],
                extra_images=images,
                parent=parent,
            )
            return self.out(composition, status=202)
        if data.get("expand"):
            expand = data["expand"]
            composition = services.create_expand(
                source=_region_source(self.workspace, expand["source"], "expand.source"),
                user=request.user,
                options=options,
                aspect_ratio=expand.get("aspect_ratio", ""),
                margin=expand.get("margin", 0),
                feather=expand["feather"],
                extra_images=images,
                parent=parent,
            )
            return self.out(composition, status=202)
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
        cancel_composition(composition=composition)
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


def _input_count(workspace: Workspace, data: dict) -> int:
    """How many images the request makes: a saved reference counts its current images (an
    unknown one counts one; the submit names it)."""
    inputs = data.get("inputs") or []
    references = list(
        Reference.objects.visible_to(workspace).filter(
            public_id__in=[i["reference"] for i in inputs if i.get("reference")]
        )
    )
    images = current_images(references)
    sizes = {r.public_id: len(images[r.pk]) for r in references}
    return sum(sizes.get(i.get("reference"), 1) for i in inputs) + len(data.get("images") or [])


class FreeRetryView(WorkspaceAPIView):
    required_scopes = {"POST": "compositions:write"}

    @extend_schema(
        request=None,
        responses={202: CompositionOut, **WRITE_ERRORS},
        description="The one retry at no charge of a composition whose reference check did not "
        "find a product or logo in a result (`checks.free_retry.offered`). 409 "
        "`free_retry_not_offered` or `free_retry_used` otherwise.",
    )
    @idempotent
    def post(self, request, composition_id):
        source = get_object_or_404(self.compositions(), public_id=composition_id)
        composition = services.create_free_retry(source=source, user=request.user)
        return self.out(composition, status=202)


class EstimateView(WorkspaceAPIView):
    parser_classes = [JSONParser, MultiPartParser]
    required_scopes = {"POST": "compositions:read"}

    @extend_schema(request=COMPOSITION_BODY, responses={200: EstimateOut, **ERRORS})
    def post(self, request):
        data = _composition_input(request)
        inputs = data.get("inputs") or []
        count = _input_count(self.workspace, data)
        # Each photo's role as sent (JSON inputs, or the form's `roles` in order), for the
        # prompt linter; an empty role takes the preset's default. A saved reference stands
        # for several photos with roles of their own: then the preset's defaults.
        roles = (
            []
            if any(item.get("reference") for item in inputs)
            else [item.get("role", "") for item in inputs] or list(data.get("roles") or [])
        )
        options = CompositionOptions.from_data(data)
        estimate = services.estimate_composition(
            workspace=self.workspace, user=request.user, options=options, count=count, roles=roles
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
            return serve_private_file(result.thumbnail, content_type="image/webp")
        return serve_private_file(result.file, content_type=result.content_type)


class VerifyView(WorkspaceAPIView):
    """Check any image's Content Credentials: valid, tampered or none. Nothing is stored."""

    parser_classes = [MultiPartParser]
    required_scopes = {"POST": ANY_SCOPE}

    @extend_schema(
        request={"multipart/form-data": VerifyIn}, responses={200: VerificationOut, **WRITE_ERRORS}
    )
    def post(self, request):
        data = VerifyIn(data=request.data)
        data.is_valid(raise_exception=True)
        image = data.validated_data["image"]
        found = verify_image(image, label=image.name, size=image.size)
        return Response(VerificationOut(found).data)


class ReportsView(WorkspaceAPIView):
    required_scopes = {"POST": "reports:write"}

    @extend_schema(request=ReportIn, responses={201: ReportOut, **WRITE_ERRORS})
    @idempotent
    def post(self, request):
        incoming = ReportIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        report = create_report(
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
            raise ValidationFailed([(str(exc), "invalid_request", _("Use YYYY-MM-DD."))]) from None
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
            body["members"] = member_totals(workspace=self.workspace, start=start, end=end)
        return Response(body)


def _date_param(request, name, default) -> date:
    if name not in request.query_params:
        return default
    raw = request.query_params[name]
    parsed = parse_date(raw) if len(raw) == 10 else None
    if parsed is None:
        raise ValueError(name)
    return parsed


class WebhooksView(WorkspaceAPIView):
    permission_classes = [HasScope, IsWorkspaceAdmin]
    # Reading them too: the list shows where the workspace's compositions are sent.
    required_scopes = {"GET": "webhooks:write", "POST": "webhooks:write"}

    @extend_schema(responses={200: WebhookOut(many=True), **ERRORS})
    def get(self, request):
        return Response(
            WebhookOut(Webhook.objects.filter(workspace=self.workspace), many=True).data
        )

    @extend_schema(request=WebhookIn, responses={201: WebhookCreatedOut, **WRITE_ERRORS})
    @idempotent
    def post(self, request):
        incoming = WebhookIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        hook = create_webhook(workspace=self.workspace, **incoming.validated_data)
        return Response(WebhookCreatedOut(hook).data, status=201)


class WebhookDetailView(WorkspaceAPIView):
    permission_classes = [HasScope, IsWorkspaceAdmin]
    required_scopes = {"DELETE": "webhooks:write"}

    @extend_schema(responses={204: None, **ERRORS})
    def delete(self, request, webhook_id):
        delete_webhook(
            webhook=get_object_or_404(Webhook, public_id=webhook_id, workspace=self.workspace)
        )
        return Response(status=204)


class ReferencesView(WorkspaceAPIView):
    """The workspace's saved references (addition): a new one, and the list, newest first."""

    parser_classes = [MultiPartParser]
    pagination_class = NewestFirstCursorPagination
    required_scopes = {"GET": "compositions:read", "POST": "uploads:write"}

    @extend_schema(
        parameters=[
            OpenApiParameter("kind", str, enum=Reference.Kind.values),
            OpenApiParameter("q", str, description="Words in the name or notes"),
            OpenApiParameter("cursor", str),
            OpenApiParameter("limit", int, description="1 to 100; default 20"),
        ],
        operation_id="references_list",
        responses={200: ReferenceOut(many=True), **ERRORS},
    )
    def get(self, request):
        queryset = Reference.objects.visible_to(self.workspace).select_related("consent__workspace")
        params = request.query_params
        if "kind" in params:
            if params["kind"] not in Reference.Kind.values:
                raise ValidationFailed([("kind", "unsupported_option", "Unknown kind.")])
            queryset = queryset.filter(kind=params["kind"])
        if params.get("q"):
            # NUL cannot be in a PostgreSQL string: a search for it finds nothing, not a 500.
            queryset = queryset.search(params["q"][:100].replace("\x00", ""))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, request, view=self) or []
        context = {"images": current_images(page)}
        return paginator.get_paginated_response(ReferenceOut(page, many=True, context=context).data)

    @extend_schema(
        request={"multipart/form-data": ReferenceIn},
        responses={201: ReferenceOut, **WRITE_ERRORS},
    )
    @idempotent
    def post(self, request):
        incoming = ReferenceIn(data=_request_data(request))
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        images = [NewImage(name=f.name, fileobj=f, size=f.size) for f in data["images"]]
        roles = list(data.get("roles") or [])
        roles += [ROLE_FOR_KIND[Reference.Kind(data["kind"])]] * (len(images) - len(roles))
        reference = create_reference(
            workspace=self.workspace,
            user=request.user,
            name=data["name"],
            kind=data["kind"],
            images=images,
            roles=roles,
            notes=data.get("notes", ""),
            depicts_person=data["depicts_person"],
            consent=data["consent"],
            consent_until=end_of_day(data["consent_until"]) if data.get("consent_until") else None,
        )
        return Response(ReferenceOut(reference).data, status=201)


class ReferenceDetailView(WorkspaceAPIView):
    required_scopes = {"GET": "compositions:read", "DELETE": "uploads:write"}

    def get_object(self, reference_id):
        return get_object_or_404(
            Reference.objects.visible_to(self.workspace).select_related("consent__workspace"),
            public_id=reference_id,
        )

    @extend_schema(responses={200: ReferenceOut, **ERRORS})
    def get(self, request, reference_id):
        return Response(ReferenceOut(self.get_object(reference_id)).data)

    @extend_schema(responses={204: None, **ERRORS})
    def delete(self, request, reference_id):
        delete_reference(reference=self.get_object(reference_id))
        return Response(status=204)
