from dataclasses import replace

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.http import urlencode
from django.utils.translation import gettext, gettext_lazy, ngettext
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from bananasite.errors import AppError, ValidationFailed, problem_body
from bananasite.files import serve_private_file
from billing.services import open_wallet, quotas_for
from billing.usage import composition_lines, composition_reserves
from moderation.models import Report
from references.models import Reference, current_images

from . import insight, services, usage_lines
from .catalog import all_models, default_model, get_model
from .credentials import result_credentials, verify_image
from .forms import ComposeForm, RegionForm
from .lifecycle import cancel_composition
from .models import Composition, Result, Role, Upload
from .options import CompositionOptions, NamedReference, NewImage, lifecycle_warnings
from .presets import (
    OFFLINE_UNSUPPORTED,
    PEOPLE_PRESETS,
    PLACEHOLDERS,
    PRESET_FIELDS,
    SCAFFOLDS,
    default_roles,
    example_path,
)
from .regions import DEFAULT_FEATHER

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
            "name": m.name,
            "limits": m.reference_limits,
            # Model options: credits per search when it offers grounding, its thinking levels
            "grounding": m.grounding_credits_per_search if m.options.get("grounding") else None,
            "thinking_levels": m.options.get("thinking_levels") or [],
        }
        for m in all_models()
    }


HELD_TEXT = gettext_lazy(
    "Held for a short review by our moderators; it starts as soon as it is approved. "
    "Its credits are on hold, not charged."
)


def _waiting_text(position: int | None, status: str = "") -> str:
    if status == Composition.Status.HELD:
        return str(HELD_TEXT)
    if position is None:
        return ""
    if position == 1:
        return _("Next in line: it starts as soon as a slot is free.")
    return _("Number %(position)d in this workspace's queue.") % {"position": position}


def home(request):
    if request.user.is_authenticated:
        return redirect("compositions:compose")
    return render(request, "home.html")


def _upload_json(upload: Upload) -> dict:
    return {
        "id": upload.public_id,
        "name": upload.original_name,
        "thumb": reverse("compositions:upload_file", args=[upload.public_id, "thumb"]),
        "bytes": upload.bytes,
        "width": upload.width,
        "height": upload.height,
        "held": upload.status == Upload.Status.HELD,
    }


def _positions(values: list[str]) -> list[int | None]:
    """The composer's `markup_of` fields: the position of the photo each one marks up, or
    None (an empty field, or anything that is not a position)."""
    return [int(v) if v.isascii() and v.isdigit() and 0 < int(v) <= 99 else None for v in values]


def _chosen_uploads(request, roles: list[str]) -> tuple[list[tuple[Upload, str, str]], list[str]]:
    """The uploads a composer form refers to, in its order, each with the role chosen beside
    it and the saved reference it was picked from, if any (paired before any is left out, so
    a missing one does not shift the others' roles); and the ids not found here."""
    raw = request.POST.getlist("uploads")
    refs = request.POST.getlist("references")
    pairs = [
        (i, roles[n] if n < len(roles) else "", refs[n] if n < len(refs) else "")
        for n, i in enumerate(raw)
        if i
    ]
    found = {
        u.public_id: u
        for u in Upload.objects.filter(
            public_id__in=[i for i, _role, _ref in pairs], workspace=request.workspace
        )
    }
    return [(found[i], role, ref) for i, role, ref in pairs if i in found], [
        i for i, _role, _ref in pairs if i not in found
    ]


# The most saved references the composer lists; the library page searches them all.
LIBRARY_IN_COMPOSER = 60


def _library_for_js(workspace) -> list[dict]:
    """The saved references the composer's "From library" offers: the usable ones, most
    recently changed first, each with its current images and their roles."""
    references = [
        r
        for r in Reference.objects.visible_to(workspace)
        .filter(purged_at__isnull=True)
        .select_related("consent")[:LIBRARY_IN_COMPOSER]
        if r.unusable() is None
    ]
    images = current_images(references)
    return [
        {
            "id": r.public_id,
            "name": r.name,
            "kind": r.get_kind_display(),
            "version": r.version,
            "images": [
                {**_upload_json(i.upload), "role": i.role, "note": i.note}
                for i in images.get(r.pk, [])
            ],
        }
        for r in references
        if images.get(r.pk)
    ]


def _presets_for_js() -> dict:
    return {
        str(value): {
            "label": str(label),
            "scaffold": SCAFFOLDS.get(Composition.Preset(value), ""),
            "inputs": PRESET_FIELDS.get(Composition.Preset(value)),
            "example": static(example_path(value)) if value != Composition.Preset.NONE else "",
            "offline_unsupported": value in OFFLINE_UNSUPPORTED,
            # The roles the server gives photos left on "Auto", for 1 to 14 photos.
            "default_roles": [default_roles(value, n) for n in range(15)],
        }
        for value, label in Composition.Preset.choices
    }


def _recent_results(workspace, limit: int = 8) -> list[Result]:
    return list(
        Result.objects.filter(composition__workspace=workspace)
        .select_related("composition")
        .order_by("-created_at", "-id")[:limit]
    )


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

    chosen: list[Upload | NamedReference] = []
    roles = request.POST.getlist("roles")
    # The uploads' roles follow the source's (empty) role when there is a source.
    upload_roles = roles[1:] if source else roles
    chosen_pairs: list[tuple[Upload, str, str]] = []
    if request.method == "POST":
        form = ComposeForm(request.POST, request.FILES)
        chosen_pairs, gone = _chosen_uploads(request, upload_roles)
        # An image picked from the library names its reference, so the composition records
        # the version (and a reference whose consent ended is refused).
        chosen = [
            NamedReference(public_id=ref, upload=upload.public_id, role=role) if ref else upload
            for upload, role, ref in chosen_pairs
        ]
        if gone:
            form.add_error(
                "images",
                ngettext(
                    "%(count)d of the photos you chose is no longer here (deleted in another "
                    "tab?); add it again.",
                    "%(count)d of the photos you chose are no longer here (deleted in another "
                    "tab?); add them again.",
                    len(gone),
                )
                % {"count": len(gone)},
            )
        if form.is_valid():
            data = form.cleaned_data
            options = CompositionOptions.from_data(
                data,
                roles=roles,
                markup_of=_positions(request.POST.getlist("markup_of")),
                require_consent=True,
            )
            new_images = [
                NewImage(name=f.name, fileobj=f, size=f.size)
                for f in request.FILES.getlist("images")
            ]
            images: list[Upload | NewImage | NamedReference] = [*chosen, *new_images]
            try:
                if source:
                    composition = services.create_refinement(
                        source=source, user=request.user, options=options, new_images=images
                    )
                else:
                    composition = services.create_composition(
                        workspace=request.workspace,
                        user=request.user,
                        options=options,
                        images=images,
                    )
            except ValidationFailed as exc:
                for field, _code, message in exc.errors:
                    form.add_error(field if field in form.fields else None, message)
            except AppError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                # `composed`: the composition page clears the composer's saved draft, now that
                # the server has it (a refusal, a lost session or a dropped line keeps it).
                return redirect(f"{composition.get_absolute_url()}?composed=1")
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
    offline = not settings.BANANASITE_PROVIDERS
    if offline:  # the local compositor only shows these presets' photos side by side
        form.fields["preset"].choices = [
            (v, f"{label} (needs AI)" if v in OFFLINE_UNSUPPORTED else label)
            for v, label in Composition.Preset.choices
        ]
    wallet = open_wallet(workspace=request.workspace)
    quotas = quotas_for(wallet=wallet, user=request.user)
    state = {
        "workspace": request.workspace.public_id,
        "submitted": request.method == "POST",
        "chosen": [
            {**_upload_json(u), "role": role, "reference": ref} for u, role, ref in chosen_pairs
        ],
        "library": _library_for_js(request.workspace),
        # The mark-up links sent, by position (the composer turns them back into its items).
        "chosen_markup": _positions(request.POST.getlist("markup_of")),
        "balance": wallet.balance,
        "daily_left": max(0, quotas.daily_limit - quotas.daily_used),
        "daily_limit": quotas.daily_limit,
        "monthly_left": max(0, quotas.monthly_limit - quotas.monthly_used),
        "min_images": settings.BANANASITE_MIN_INPUT_IMAGES,
        "max_images": settings.BANANASITE_MAX_INPUT_IMAGES,
        "max_prompt": settings.BANANASITE_MAX_PROMPT_CHARS,
        "max_upload_bytes": settings.BANANASITE_MAX_UPLOAD_BYTES,
        "offline": offline,
        "presets": _presets_for_js(),
        "placeholders": PLACEHOLDERS,
        "roles": dict(Role.choices),
        "urls": {
            "upload": reverse("compositions:compose_upload"),
            "from_result": reverse("compositions:compose_upload_from_result"),
            "delete": reverse("compositions:compose_upload_delete", args=["up_ID"]),
            "upload_image": reverse("compositions:upload_file", args=["up_ID", "image"]),
            # Where a card sends someone whose session ended: back here, to the kept draft.
            "sign_in": reverse(settings.LOGIN_URL)
            + "?"
            + urlencode({"next": request.get_full_path()}),
        },
    }
    context = {
        "form": form,
        "wallet": wallet,
        "option_fields": [
            form[n] for n in ("style", "model", "aspect_ratio", "image_size", "num_images")
        ],
        "source": source,
        "scaffolds": {str(k): v for k, v in SCAFFOLDS.items()},
        "models_js": _models_for_js(wallet.plan),
        "composer_state": state,
        "offline": offline,
        "recent_results": _recent_results(request.workspace),
        "max_upload_mb": settings.BANANASITE_MAX_UPLOAD_BYTES // (1024 * 1024),
        "max_prompt": settings.BANANASITE_MAX_PROMPT_CHARS,
        "roles": Role.choices,
        "people_presets": sorted(PEOPLE_PRESETS),
        "people_preset_labels": [Composition.Preset(p).label for p in sorted(PEOPLE_PRESETS)],
    }
    return render(request, "compositions/compose.html", context, status=status)


def _json_error(exc: AppError) -> JsonResponse:
    """problem+json, like the API, whose `detail` the composer shows on the photo's card;
    `error` repeats it for older pages still open in a tab."""
    status = getattr(exc, "status", 400)
    body = problem_body(status, exc.code, exc.message)
    return JsonResponse(
        {**body, "error": exc.message}, status=status, content_type="application/problem+json"
    )


@login_required
@require_POST
def compose_upload(request):
    """One photo, stored the moment the composer picks it (session and CSRF, like the form);
    the same checks and moderation as every upload (services.create_upload)."""
    f = request.FILES.get("file")
    if f is None:
        return _json_error(AppError(_("Choose a photo to upload."), code="file_missing"))
    image = NewImage(name=f.name, fileobj=f, size=f.size)
    try:
        upload = services.create_upload(workspace=request.workspace, user=request.user, image=image)
    except AppError as exc:
        return _json_error(exc)
    return JsonResponse(_upload_json(upload), status=201)


@login_required
@require_POST
def compose_upload_from_result(request):
    """An earlier result of this workspace copied into a new upload (dragged from the strip)."""
    result = get_object_or_404(
        Result.objects.select_related("composition"),
        public_id=request.POST.get("result", ""),
        composition__workspace=request.workspace,
    )
    upload = services.upload_from_result(result=result, user=request.user)
    upload.save()
    return JsonResponse(_upload_json(upload), status=201)


@login_required
@require_POST
def compose_upload_delete(request, public_id):
    """A photo taken out of the composer before it was used: its files go too."""
    upload = get_object_or_404(Upload, public_id=public_id, workspace=request.workspace)
    try:
        services.delete_upload(upload=upload)
    except AppError as exc:
        return _json_error(exc)  # an input of a composition stays
    return JsonResponse({}, status=200)


def _result_url(result: Result, variant: str) -> str:
    return reverse("compositions:result_file", args=[result.public_id, variant])


def _upload_url(upload: Upload, variant: str) -> str:
    return reverse("compositions:upload_file", args=[upload.public_id, variant])


@login_required
def detail(request, public_id):
    composition = get_object_or_404(
        _compositions(request).select_related("parent", "created_by"), public_id=public_id
    )
    inputs = list(composition.inputs.select_related("upload"))
    results = list(composition.results.all())
    children = insight.children(composition)
    lineage = insight.ancestors(composition)
    parent_results = list(composition.parent.results.all()) if composition.parent else []
    for r in parent_results:
        r.composition = composition.parent  # no query per result
    compare = insight.compare_choices(
        composition,
        results=results,
        inputs=inputs,
        parent_results=parent_results,
        children=children,
        result_url=_result_url,
        upload_url=_upload_url,
    )
    # The first result against the first other picture (an input, a parent's result...).
    right = None
    if len(compare) > 1:
        right = compare[len(results)] if 0 < len(results) < len(compare) else compare[1]
    context = {
        "composition": composition,
        "report_reasons": Report.Reason.choices,
        "waiting": _waiting_text(composition.queue_position(), composition.status),
        "eta": insight.eta_for(composition, now=timezone.now()).text(composition.status),
        "global_position": insight.global_queue_position(composition),
        "inputs": inputs,
        "results": results,
        "credentials": [(r, result_credentials(r.credentials)) for r in results],
        "children": children,
        "lineage": lineage,
        "compare": compare,
        "compare_right": right,
        "removals": insight.removals([composition.pk]).get(composition.pk, []),
        **_action_costs(composition),
        "warnings": lifecycle_warnings(composition.model),
        "reference_checks": _reference_lines(composition, inputs, results),
        "free_retry": (
            Composition.objects.filter(free_retry_of=composition).first()
            if composition.missed_references
            else None
        ),
        "route_candidates": sorted(
            (composition.route_reason or {}).get("candidates", {}).items(),
            key=lambda item: item[1].get("score", 0),
        ),
    }
    return render(request, "compositions/detail.html", context)


def _reference_lines(composition: Composition, inputs, results) -> list[dict]:
    """The reference check's findings as sentences ("Logo from image 2: found in result 1")."""
    roles = {item.position: item.get_role_display() for item in inputs}
    positions = {result.public_id: result.position for result in results}
    lines = []
    for check in composition.checks.get("references", []):
        values = {
            "role": roles.get(check["input"], check["role"]),
            "input": check["input"],
            "result": positions.get(check["result"], "?"),
        }
        if check["found"]:
            text = _("%(role)s from image %(input)s: found in result %(result)s.") % values
        else:
            text = _("%(role)s from image %(input)s: not found in result %(result)s.") % values
        lines.append({"found": check["found"], "text": text})
    return lines


@login_required
def verify(request):
    """Anyone signed in can check an image's Content Credentials; nothing is stored."""
    found, error, name = None, "", ""
    if request.method == "POST":
        image = request.FILES.get("image")
        if image is None:
            error = _("Choose an image to check.")
        else:
            name = image.name
            try:
                found = verify_image(image, label=image.name, size=image.size)
            except ValidationFailed as exc:
                error = exc.message
    context = {"found": found, "error": error, "name": name}
    return render(request, "compositions/verify.html", context, status=400 if error else 200)


def _action_costs(composition: Composition) -> dict:
    """What Variations (the same options again, priority and model options included) and Use
    as input (one image at the same model and size, standard priority, no search) would hold,
    shown on their buttons; priced by the same rule as the hold."""
    model = get_model(composition.model)
    if model is None:
        return {"variation_cost": None, "use_cost": None}
    again = CompositionOptions.of(composition)
    use = replace(again, num_images=1, priority=Composition.Priority.STANDARD, grounding=False)
    return {
        "variation_cost": services.price_composition(model, again),
        "use_cost": services.price_composition(model, use),
    }


def progress_payload(composition: Composition) -> dict:
    started = composition.started_at or composition.created_at
    ended = composition.finished_at or timezone.now()
    position = composition.queue_position()
    eta = insight.eta_for(composition, now=timezone.now())
    return {
        "queue_position": position,
        "global_queue_position": insight.global_queue_position(composition),
        "eta_seconds": eta.remaining,
        "typical_seconds": eta.typical,
        "eta": eta.text(composition.status),
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
    messages.success(request, _("Canceled. Nothing more will be made for this composition."))
    return redirect(composition)


@login_required
@require_POST
def delete(request, public_id):
    composition = get_object_or_404(_compositions(request), public_id=public_id)
    services.delete_composition(composition=composition)
    messages.success(request, _("Deleted the composition and its images."))
    return redirect("compositions:history")


@login_required
@require_POST
def free_retry(request, public_id):
    source = get_object_or_404(_compositions(request), public_id=public_id)
    request.error_redirect = source.get_absolute_url()  # a refusal is said on the source's page
    composition = services.create_free_retry(source=source, user=request.user)
    messages.success(request, _("Retrying at no charge."))
    return redirect(composition)


@login_required
@require_POST
def variations(request, public_id):
    source = get_object_or_404(_compositions(request), public_id=public_id)
    request.error_redirect = source.get_absolute_url()  # a refusal is said on the source's page
    return redirect(services.create_variation(source=source, user=request.user))


def _region_source(composition: Composition, source_id: str) -> tuple[Result | Upload, str]:
    """The picture of this composition to edit (a result or an input) and its URL; 404 else."""
    if source_id.startswith("res_"):
        result = get_object_or_404(composition.results.all(), public_id=source_id)
        result.composition = composition
        return result, _result_url(result, "image")
    item = get_object_or_404(
        composition.inputs.select_related("upload"), upload__public_id=source_id
    )
    return item.upload, _upload_url(item.upload, "image")


def _form_field(form, exc: AppError) -> str | None:
    name = (exc.field or "").split(".")[-1]
    # A mask's problem is said above the form: the painter replaces the mask's own fields.
    name = {"expand": "aspect_ratio", "images": "extra", "mask": ""}.get(name, name)
    return name if name in form.fields else None


# The file name static/js/painter.js gives the mask it uploads.
PAINTED_MASK_NAME = "mask.png"


def _submit_region(request, composition: Composition, source, data: dict) -> Composition:
    """The region edit or expand the form asks for. The mask's upload (the painter's, or a file
    chosen without JavaScript) is removed once the edit is made or refused."""
    options = CompositionOptions(
        prompt=data.get("prompt") or "",
        model=composition.model,
        style=composition.style,
        image_size=data["image_size"],
        num_images=1,
    )
    extra = [
        i.upload
        for i in composition.inputs.select_related("upload")
        if i.upload.public_id in set(data.get("extra") or [])
    ]
    if data["mode"] == "expand":
        return services.create_expand(
            source=source,
            user=request.user,
            options=options,
            aspect_ratio=data.get("aspect_ratio") or "",
            margin=data.get("margin") or 0,
            feather=data["feather"],
            extra_images=list(extra),
            parent=composition,
        )
    if data.get("mask"):
        mask = Upload.objects.filter(public_id=data["mask"], workspace=request.workspace).first()
        if mask is None:
            raise ValidationFailed([("mask", "not_found", gettext("Paint the region again."))])
        # The painter's upload exists only to carry the mask; any other upload named here
        # (an input, a library image) belongs to something else and is left alone.
        painted = mask.original_name == PAINTED_MASK_NAME and mask.uploaded_by_id == request.user.pk
    elif data.get("mask_file"):
        f = data["mask_file"]
        mask = services.create_upload(
            workspace=request.workspace,
            user=request.user,
            image=NewImage(name=f.name, fileobj=f, size=f.size),
        )
        painted = True
    else:
        raise ValidationFailed(
            [("mask", "mask_empty", gettext("Paint the region to change on the picture first."))]
        )
    try:
        return services.create_region_edit(
            source=source,
            mask=mask,
            user=request.user,
            options=options,
            feather=data["feather"],
            extra_images=list(extra),
            parent=composition,
        )
    finally:
        # Made or refused, the mask upload has done its work: a region edit keeps its own
        # copy of the mask (RegionEdit.mask), so the upload would only wait for the purge.
        if painted and not mask.uses.exists() and not mask.reference_images.exists():
            services.delete_upload(upload=mask)


@login_required
def region(request, public_id, source_id):
    """Paint a region of a result or an input and say what should change there, or expand the
    picture to a new aspect ratio or by a margin: a new composition, whose parent is this one."""
    composition = get_object_or_404(_compositions(request), public_id=public_id)
    source, source_url = _region_source(composition, source_id)
    model = get_model(composition.model) or default_model()
    others = [
        (i.upload.public_id, gettext("Image %(n)s") % {"n": i.position})
        for i in composition.inputs.select_related("upload")
        if i.upload.public_id != source_id
    ]
    form = RegionForm(
        request.POST or None,
        request.FILES or None,
        ratios=model.aspect_ratios,
        sizes=model.image_sizes,
        extra=others,
        initial={
            "mode": "expand" if request.GET.get("mode") == "expand" else "edit",
            "image_size": composition.image_size,
            "feather": DEFAULT_FEATHER,
        },
    )
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                made = _submit_region(request, composition, source, form.cleaned_data)
            except AppError as exc:
                form.add_error(_form_field(form, exc), exc.message)
            else:
                # `edited`: the new composition's page forgets the region the painter kept
                # for this picture (a refusal keeps it, to paint again without starting over).
                return redirect(f"{made.get_absolute_url()}?edited={source.public_id}")
    context = {
        "composition": composition,
        "source": source,
        "source_url": source_url,
        "is_result": isinstance(source, Result),
        "form": form,
        "cost": _action_costs(composition)["use_cost"],
        "upload_url": reverse("compositions:compose_upload"),
        "painter_text": {
            "shapes": gettext("Shapes painted: %s. Undo with Ctrl+Z."),
            "undone": gettext("Undone."),
            "cleared": gettext("Cleared."),
            "paint_first": gettext("Paint the region to change on the picture first."),
            "sending": gettext("Sending the region…"),
            "send_failed": gettext("The region could not be sent; please try again."),
            "starting": gettext("Starting…"),
            "kept": gettext("Your painted region is kept: change it or run again."),
        },
    }
    return render(request, "compositions/region.html", context, status=status)


def _history_filters(request) -> tuple[dict, list[str]]:
    """The history's filters, read from the URL (so a filtered page can be shared and the back
    button works); anything not understood is ignored, and said."""
    get = request.GET
    filters = {
        "q": get.get("q", "").strip()[:200],
        "status": get.get("status", ""),
        "model": get.get("model", ""),
        "preset": get.get("preset", ""),
        "from": get.get("from", ""),
        "to": get.get("to", ""),
        "fav": get.get("fav", "") == "1",
        "collection": get.get("collection", ""),
    }
    problems = []
    if filters["status"] not in {"", "running", *Composition.Status.values}:
        filters["status"] = ""
    if filters["preset"] not in {"", *Composition.Preset.values}:
        filters["preset"] = ""
    if filters["model"] not in {"", *(m.id for m in all_models())}:
        filters["model"] = ""
    for key, label in (("from", _("From")), ("to", _("To"))):
        if filters[key] and not _date(filters[key]):
            problems.append(
                _("“%(label)s” is not a date (YYYY-MM-DD); it was left out.") % {"label": label}
            )
            filters[key] = ""
    return filters, problems


def _date(value: str):
    try:
        return parse_date(value)
    except ValueError:
        return None


@login_required
def history(request):
    filters, problems = _history_filters(request)
    queryset = _compositions(request).with_inputs_and_results()
    status = filters["status"]
    if status == "running":
        queryset = queryset.filter(status__in=Composition.UNFINISHED)
    elif status:
        queryset = queryset.filter(status=status)
    if filters["q"]:
        queryset = queryset.filter(prompt__icontains=filters["q"])
    if filters["model"]:
        queryset = queryset.filter(model=filters["model"])
    if filters["preset"]:
        queryset = queryset.filter(preset=filters["preset"])
    if filters["from"]:
        queryset = queryset.filter(created_at__date__gte=_date(filters["from"]))
    if filters["to"]:
        queryset = queryset.filter(created_at__date__lte=_date(filters["to"]))
    # Favourites and collections are the sharing app's (it sits above this one): they are
    # reached through the relation names it gives them, not imported.
    if filters["fav"]:
        queryset = queryset.filter(favourites__user=request.user)
    if filters["collection"]:
        queryset = queryset.filter(
            collection_items__collection__public_id=filters["collection"],
            collection_items__collection__workspace=request.workspace,
        )
    page = Paginator(queryset, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = list(page.object_list)
    removed = insight.removals([c.pk for c in page.object_list])
    for composition in page.object_list:
        composition.removal_notes = removed.get(composition.pk, [])
    statuses = [("", _("All")), ("running", _("In progress")), ("succeeded", _("Succeeded"))]
    statuses += [("failed", _("Failed")), ("canceled", _("Canceled"))]
    active = any(v for k, v in filters.items() if k != "status") or bool(status)
    return render(
        request,
        "compositions/history.html",
        {
            "page": page,
            "status": status,
            "filters": statuses,
            "f": filters,
            "problems": problems,
            "active": active,
            "models": [(m.id, m.name) for m in all_models()],
            "presets": Composition.Preset.choices,
        },
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


CSV_BATCH = 200


@login_required
@require_GET
def usage_csv(request):
    """Every composition of the current workspace, one line each, as the usage page shows
    them: streamed in batches, so a long ledger never sits in memory."""
    wallet = open_wallet(workspace=request.workspace)
    reserves = composition_reserves(wallet)

    def batches():
        last = None
        while True:
            page = reserves.order_by("-id")
            if last is not None:
                page = page.filter(id__lt=last)
            rows = list(page[:CSV_BATCH])
            if not rows:
                return
            last = rows[-1].id
            yield composition_lines(wallet, rows)

    response = StreamingHttpResponse(
        usage_lines.csv_rows(batches(), workspace=request.workspace),
        content_type="text/csv; charset=utf-8",
    )
    name = f"bananasite-usage-{request.workspace.slug}-{timezone.now():%Y-%m-%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response
