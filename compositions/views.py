from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from bananasite.errors import AppError, ValidationFailed
from bananasite.files import serve_private_file
from billing.services import open_wallet
from moderation.models import Report

from . import services
from .catalog import all_models
from .forms import ComposeForm
from .lifecycle import cancel_composition
from .models import Composition, Result, Role, Upload
from .options import CompositionOptions, NewImage, lifecycle_warnings
from .presets import PEOPLE_PRESETS, SCAFFOLDS

HISTORY_PAGE_SIZE = 12


def _compositions(request):
    return Composition.objects.visible_to(request.workspace)


def _models_for_js(plan):
    return {
        m.id: {
            "max_images": m.max_images,
            "image_sizes": [s for s in m.image_sizes if plan.allows_size(s)],
            "ratios": m.aspect_ratios,
            "prices": m.credits_per_image,
            "allowed": plan.allows_model(m.id),
        }
        for m in all_models()
    }


HELD_TEXT = (
    "Held for a short review by our moderators; it starts as soon as it is approved. "
    "Its credits are on hold, not charged."
)


def _waiting_text(position: int | None, status: str = "") -> str:
    if status == Composition.Status.HELD:
        return HELD_TEXT
    if position is None:
        return ""
    if position == 1:
        return "Next in line: it starts as soon as a slot is free."
    return f"Number {position} in this workspace's queue."


def home(request):
    if request.user.is_authenticated:
        return redirect("compositions:compose")
    return render(request, "home.html")


@login_required
def compose(request):
    source = None
    source_id = request.POST.get("from") or request.GET.get("from")
    if source_id:
        source = get_object_or_404(
            Result.objects.select_related("composition"),
            public_id=source_id,
            composition__workspace=request.workspace,
        )

    if request.method == "POST":
        form = ComposeForm(request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data
            options = CompositionOptions.from_data(
                data, roles=request.POST.getlist("roles"), require_consent=True
            )
            new_images = [
                NewImage(name=f.name, fileobj=f, size=f.size)
                for f in request.FILES.getlist("images")
            ]
            try:
                if source:
                    composition = services.create_refinement(
                        source=source, user=request.user, options=options, new_images=new_images
                    )
                else:
                    composition = services.create_composition(
                        workspace=request.workspace,
                        user=request.user,
                        options=options,
                        images=new_images,
                    )
            except ValidationFailed as exc:
                for field, _code, message in exc.errors:
                    form.add_error(field if field in form.fields else None, message)
            except AppError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                return redirect(composition)
        status = 400
    else:
        initial = {}
        if source:
            parent = source.composition
            initial = {
                "prompt": parent.prompt,
                "preset": parent.preset,
                "style": parent.style,
                "model": parent.model,
                "aspect_ratio": parent.aspect_ratio,
                "image_size": parent.image_size,
            }
        form = ComposeForm(initial=initial)
        status = 200
    wallet = open_wallet(workspace=request.workspace)
    context = {
        "form": form,
        "wallet": wallet,
        "option_fields": [
            form[n] for n in ("style", "model", "aspect_ratio", "image_size", "num_images")
        ],
        "source": source,
        "scaffolds": {str(k): v for k, v in SCAFFOLDS.items()},
        "models_js": _models_for_js(wallet.plan),
        "max_upload_mb": settings.BANANASITE_MAX_UPLOAD_BYTES // (1024 * 1024),
        "max_prompt": settings.BANANASITE_MAX_PROMPT_CHARS,
        "roles": Role.choices,
        "people_presets": sorted(PEOPLE_PRESETS),
        "people_preset_labels": [Composition.Preset(p).label for p in sorted(PEOPLE_PRESETS)],
    }
    return render(request, "compositions/compose.html", context, status=status)


@login_required
def detail(request, public_id):
    composition = get_object_or_404(
        _compositions(request).select_related("parent", "created_by"), public_id=public_id
    )
    context = {
        "composition": composition,
        "report_reasons": Report.Reason.choices,
        "waiting": _waiting_text(composition.queue_position(), composition.status),
        "inputs": composition.inputs.select_related("upload"),
        "results": composition.results.all(),
        "children": composition.children.all()[:10],
        "warnings": lifecycle_warnings(composition.model),
        "route_candidates": sorted(
            (composition.route_reason or {}).get("candidates", {}).items(),
            key=lambda item: item[1].get("score", 0),
        ),
    }
    return render(request, "compositions/detail.html", context)


def progress_payload(composition: Composition) -> dict:
    started = composition.started_at or composition.created_at
    ended = composition.finished_at or timezone.now()
    position = composition.queue_position()
    return {
        "queue_position": position,
        "waiting": _waiting_text(position, composition.status),
        "id": composition.public_id,
        "status": composition.status,
        "stage": composition.stage_label,
        "credits": {
            "reserved": composition.credits_held,
            "charged": composition.credits_charged,
            "refunded": composition.credits_refunded,
        },
        "percent": composition.progress,
        "elapsed_seconds": max(0, int((ended - started).total_seconds())),
        "finished": composition.is_finished,
        "error": composition.error_message or None,
    }


@never_cache
@login_required
@require_GET
def progress(request, public_id):
    composition = get_object_or_404(_compositions(request), public_id=public_id)
    return JsonResponse(progress_payload(composition))


@login_required
@require_POST
def cancel(request, public_id):
    composition = get_object_or_404(_compositions(request), public_id=public_id)
    request.error_redirect = composition.get_absolute_url()  # "already finished" is said there
    cancel_composition(composition=composition)
    messages.success(request, "Canceled. Nothing more will be made for this composition.")
    return redirect(composition)


@login_required
@require_POST
def delete(request, public_id):
    composition = get_object_or_404(_compositions(request), public_id=public_id)
    services.delete_composition(composition=composition)
    messages.success(request, "Deleted the composition and its images.")
    return redirect("compositions:history")


@login_required
@require_POST
def variations(request, public_id):
    source = get_object_or_404(_compositions(request), public_id=public_id)
    request.error_redirect = source.get_absolute_url()  # a refusal is said on the source's page
    return redirect(services.create_variation(source=source, user=request.user))


@login_required
def history(request):
    status = request.GET.get("status", "")
    queryset = _compositions(request).prefetch_related("results", "inputs__upload")
    if status == "running":
        queryset = queryset.filter(status__in=Composition.UNFINISHED)
    elif status in Composition.Status.values:
        queryset = queryset.filter(status=status)
    else:
        status = ""
    page = Paginator(queryset, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    filters = [("", "All"), ("running", "In progress"), ("succeeded", "Succeeded")]
    filters += [("failed", "Failed"), ("canceled", "Canceled")]
    return render(
        request,
        "compositions/history.html",
        {"page": page, "status": status, "filters": filters},
    )


@login_required
@require_GET
def result_file(request, public_id, variant):
    result = get_object_or_404(
        Result.objects.select_related("composition"),
        public_id=public_id,
        composition__workspace=request.workspace,
    )
    if variant == "thumb":
        return serve_private_file(result.thumbnail, content_type="image/webp")
    download = result.download_name if variant == "download" else None
    return serve_private_file(result.file, content_type=result.content_type, download_name=download)


@login_required
@require_GET
def upload_file(request, public_id, variant):
    upload = get_object_or_404(Upload, public_id=public_id, workspace=request.workspace)
    if variant == "thumb":
        return serve_private_file(upload.thumbnail, content_type="image/webp")
    return serve_private_file(upload.file, content_type=upload.content_type)
