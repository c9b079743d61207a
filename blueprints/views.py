"""The Templates pages: list, detail with versions, save a composition as one, edit (a new
version), run once (a form built from its fields and slots), run in bulk from a CSV, and a bulk
run's page with its rows, retries, cancel and ZIP. Every lookup is scoped to the workspace."""

import csv
import io

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from bananasite.errors import AppError, ValidationFailed
from compositions.catalog import all_models
from compositions.models import Composition, Role
from compositions.options import NewImage
from compositions.services import create_upload, delete_upload

from . import services
from .archive import archive_response
from .models import Batch, BatchRow, Template

MAX_CSV_BYTES = 5 * 1024 * 1024
EXTRA_FIELD_ROWS = 2


def _templates(request):
    return Template.objects.visible_to(request.workspace)


def _batches(request):
    return Batch.objects.filter(workspace=request.workspace).select_related("version__template")


@login_required
@require_GET
def template_list(request):
    templates = _templates(request).with_latest()
    return render(request, "blueprints/list.html", {"templates": templates})


def _form_context(definition: dict, *, name: str, errors: list | None = None) -> dict:
    fields = list(definition.get("fields") or [])
    fields += [{"name": "", "label": "", "required": True}] * EXTRA_FIELD_ROWS
    slots = []
    for slot in definition.get("slots") or []:
        fixed = slot.get("fixed") or {}
        slots.append({**slot, "fixed_value": next(iter(fixed.values()), "")})
    options = definition.get("options") or {}
    model = next((m for m in all_models() if m.id == options.get("model")), None)
    return {
        "name": name,
        "prompt": definition.get("prompt", ""),
        "fields": fields,
        "slots": slots,
        "options": options,
        "roles": Role.choices,
        "ratios": model.aspect_ratios if model else [],
        "sizes": model.image_sizes if model else [],
        "errors": errors or [],
    }


def _definition_from_post(request, base: dict) -> dict:
    """The edited definition: the form's prompt, fields, slots and options over `base`."""
    post = request.POST
    fields = []
    raw = post.get("field_count", "")
    count = int(raw) if raw.isascii() and raw.isdigit() else 0
    for index in range(min(count, services.MAX_FIELDS + EXTRA_FIELD_ROWS)):
        field_name = post.get(f"field-{index}-name", "").strip()
        if field_name:
            fields.append(
                {
                    "name": field_name,
                    "label": post.get(f"field-{index}-label", ""),
                    "required": post.get(f"field-{index}-required") == "on",
                }
            )
    slots = []
    for index, slot in enumerate(base.get("slots") or []):
        fixed_value = post.get(f"slot-{index}-fixed", "").strip()
        fixed = None
        if post.get(f"slot-{index}-mode") == "fixed":
            fixed = services.input_from_cell(fixed_value) or {"upload": ""}
        slots.append(
            {
                "role": post.get(f"slot-{index}-role", slot.get("role", "")),
                "label": post.get(f"slot-{index}-label", ""),
                "required": post.get(f"slot-{index}-required") == "on",
                "fixed": fixed,
            }
        )
    options = dict(base.get("options") or {})
    for key in ("aspect_ratio", "image_size"):
        if post.get(key):
            options[key] = post[key]
    if post.get("num_images", "").isdigit():
        options["num_images"] = int(post["num_images"])
    return {"prompt": post.get("prompt", ""), "fields": fields, "slots": slots, "options": options}


def _error_lines(exc: AppError) -> list[str]:
    return [message for _f, _c, message in exc.errors] if exc.errors else [exc.message]


@login_required
def save_composition(request, composition_id):
    """Save a composition as a template: its photos become slots (asked each time, or kept)."""
    composition = get_object_or_404(
        Composition.objects.visible_to(request.workspace), public_id=composition_id
    )
    base = services.definition_of(composition)
    for slot in base["slots"]:
        slot["fixed"] = {"upload": slot.pop("upload").public_id}
        slot["mode"] = "ask"
    if request.method == "POST":
        name = request.POST.get("name", "")
        definition = _definition_from_post(request, base)
        try:
            template = services.create_template(
                workspace=request.workspace, user=request.user, name=name, definition=definition
            )
        except AppError as exc:
            context = _form_context(definition, name=name, errors=_error_lines(exc))
        else:
            messages.success(request, _("Saved the template “%s”.") % template.name)
            return redirect(template)
    else:
        context = _form_context(base, name=composition.prompt[:60])
        for slot in context["slots"]:
            slot["fixed"] = None  # offered as "this photo", asked each time by default
    context.update({"composition": composition, "action": request.path, "is_new": True})
    return render(request, "blueprints/edit.html", context)


@login_required
def template_edit(request, template_id):
    template = get_object_or_404(_templates(request), public_id=template_id)
    latest = template.latest
    base = {
        "prompt": latest.prompt,
        "fields": latest.fields,
        "slots": latest.slots,
        "options": latest.options,
    }
    if request.method == "POST":
        name = request.POST.get("name", "")
        definition = _definition_from_post(request, base)
        try:
            version = services.revise_template(
                template=template, user=request.user, name=name, definition=definition
            )
        except AppError as exc:
            context = _form_context(definition, name=name, errors=_error_lines(exc))
        else:
            messages.success(request, _("Saved version %d.") % version.number)
            return redirect(template)
    else:
        context = _form_context(base, name=template.name)
    context.update({"template": template, "action": request.path, "is_new": False})
    return render(request, "blueprints/edit.html", context)


@login_required
@require_GET
def template_detail(request, template_id):
    template = get_object_or_404(_templates(request), public_id=template_id)
    versions = list(template.versions.all())
    return render(
        request,
        "blueprints/detail.html",
        {
            "template": template,
            "latest": versions[0],
            "versions": versions,
            "columns": services.csv_header(versions[0]),
            "batches": _batches(request).filter(version__template=template)[:10],
        },
    )


@login_required
def template_run(request, template_id):
    """A form from the template's fields and the slots that ask; a photo per slot."""
    template = get_object_or_404(_templates(request), public_id=template_id)
    version = template.latest
    errors: list[str] = []
    values: dict[str, str] = {}
    if request.method == "POST":
        values = {f["name"]: request.POST.get(f"field-{f['name']}", "") for f in version.fields}
        made = []
        try:
            inputs = []
            for position, _slot in version.asked_slots:
                photo = request.FILES.get(f"image-{position}")
                if photo is None:
                    inputs.append(None)
                    continue
                upload = create_upload(
                    workspace=request.workspace,
                    user=request.user,
                    image=NewImage(name=photo.name, fileobj=photo, size=photo.size),
                )
                made.append(upload)
                inputs.append({"upload": upload.public_id})
            while inputs and inputs[-1] is None:
                inputs.pop()
            composition = services.run_template(
                version=version,
                workspace=request.workspace,
                user=request.user,
                values=values,
                inputs=inputs,
            )
        except AppError as exc:
            for upload in made:
                if not upload.uses.exists():
                    delete_upload(upload=upload)
            errors = _error_lines(exc)
        else:
            return redirect(composition)
    return render(
        request,
        "blueprints/run.html",
        {
            "template": template,
            "version": version,
            "asked": [
                {"position": p, **s, "role_label": Role(s["role"]).label if s["role"] else ""}
                for p, s in version.asked_slots
            ],
            "values": values,
            "errors": errors,
        },
    )


@login_required
@require_GET
def csv_sample(request, template_id):
    """A CSV with this template's columns, to fill in."""
    template = get_object_or_404(_templates(request), public_id=template_id)
    buffer = io.StringIO()
    csv.writer(buffer).writerow(services.csv_header(template.latest))
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{template.public_id}.csv"'
    return response


@login_required
def batch_new(request, template_id):
    """Upload a CSV: every row checked and the whole batch's credits reserved, or the bad rows
    listed with nothing reserved."""
    template = get_object_or_404(_templates(request), public_id=template_id)
    version = template.latest
    errors: list[str] = []
    if request.method == "POST":
        upload = request.FILES.get("file")
        try:
            if upload is None:
                raise ValidationFailed([("file", "invalid_csv", _("Choose a CSV file."))])
            if upload.size > MAX_CSV_BYTES:
                raise ValidationFailed([("file", "invalid_csv", _("The CSV file is over 5 MB."))])
            try:
                text = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                raise ValidationFailed(
                    [("file", "invalid_csv", _("Save the CSV file as UTF-8."))]
                ) from None
            rows = services.rows_from_csv(version=version, text=text)
            batch = services.create_batch(
                version=version, workspace=request.workspace, user=request.user, rows=rows
            )
        except AppError as exc:
            # The summary, then each row's problem (a lone error is its own summary).
            details = [m for _f, _c, m in exc.errors]
            errors = [exc.message] + ([] if details == [exc.message] else details)
        else:
            messages.success(
                request,
                _("Started %(rows)d rows; %(credits)d credits are held for them.")
                % {"rows": batch.rows.count(), "credits": batch.credits_reserved},
            )
            return redirect(batch)
    return render(
        request,
        "blueprints/bulk.html",
        {
            "template": template,
            "version": version,
            "columns": services.csv_header(version),
            "errors": errors,
        },
    )


@login_required
@require_GET
def batch_detail(request, batch_id):
    batch = get_object_or_404(_batches(request), public_id=batch_id)
    services.finish_batch_if_done(batch=batch)
    batch.refresh_from_db()
    rows = list(batch.rows.select_related("composition").prefetch_related("composition__results"))
    for row in rows:
        row.shown_values = [value for value in row.values.values() if value]
        results = list(row.composition.results.all()) if row.composition else []
        row.thumbnail = (
            reverse("compositions:result_file", args=[results[0].public_id, "thumb"])
            if results
            else None
        )
    return render(
        request,
        "blueprints/batch.html",
        {"batch": batch, "rows": rows, "counts": batch.counts(), "version": batch.version},
    )


@login_required
@require_POST
def batch_cancel(request, batch_id):
    batch = get_object_or_404(_batches(request), public_id=batch_id)
    request.error_redirect = batch.get_absolute_url()
    services.cancel_batch(batch=batch)
    messages.success(request, _("Canceled the rest of this bulk run; their credits went back."))
    return redirect(batch)


@login_required
@require_POST
def row_retry(request, batch_id, number):
    batch = get_object_or_404(_batches(request), public_id=batch_id)
    row = get_object_or_404(
        BatchRow.objects.select_related("composition"), batch=batch, number=number
    )
    request.error_redirect = batch.get_absolute_url()
    services.retry_row(row=row, user=request.user)
    messages.success(request, _("Row %d runs again.") % number)
    return redirect(batch)


@login_required
@require_GET
def batch_archive(request, batch_id) -> StreamingHttpResponse:
    return archive_response(get_object_or_404(_batches(request), public_id=batch_id))
