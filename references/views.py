"""The library's pages: the grid (search, filter by kind), a new reference, a reference's page
(edit, add or remove images, withdraw consent, delete). Every lookup is the current
workspace's, so another workspace's id is a 404."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from bananasite.errors import AppError, ValidationFailed
from compositions.models import Role
from compositions.options import NewImage

from . import services
from .forms import EditForm, ImagesFields, ReferenceForm
from .models import Reference, current_images
from .services import ROLE_FOR_KIND, end_of_day

PAGE_SIZE = 24


def _reference(request, public_id: str) -> Reference:
    return get_object_or_404(
        Reference.objects.visible_to(request.workspace).select_related("consent", "created_by"),
        public_id=public_id,
    )


def _new_images(request) -> list[NewImage]:
    return [NewImage(name=f.name, fileobj=f, size=f.size) for f in request.FILES.getlist("images")]


def _show_errors(form, exc: AppError) -> None:
    problems = (
        exc.errors if isinstance(exc, ValidationFailed) else [(exc.field, exc.code, exc.message)]
    )
    for field, _code, message in problems:
        form.add_error(field if field in form.fields else None, message)


@login_required
def library(request):
    query = request.GET.get("q", "")[:100].replace("\x00", "")
    kind = request.GET.get("kind", "")
    references = Reference.objects.visible_to(request.workspace).search(query)
    if kind in Reference.Kind.values:
        references = references.filter(kind=kind)
    else:
        kind = ""
    page = Paginator(references.select_related("consent"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    images = current_images(list(page))
    cards = [{"reference": r, "images": images.get(r.pk, [])} for r in page]
    return render(
        request,
        "references/library.html",
        {
            "page": page,
            "cards": cards,
            "query": query,
            "kind": kind,
            "kinds": Reference.Kind.choices,
        },
    )


@login_required
def create(request):
    form = ReferenceForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        images = _new_images(request)
        role = data["role"] or ROLE_FOR_KIND.get(data["kind"], "other")
        try:
            reference = services.create_reference(
                workspace=request.workspace,
                user=request.user,
                name=data["name"],
                kind=data["kind"],
                images=images,
                roles=[role] * len(images),
                image_notes=[data["image_note"]] * len(images),
                notes=data["notes"],
                depicts_person=data["depicts_person"],
                consent=data["consent"],
                consent_until=end_of_day(data["consent_until"]) if data["consent_until"] else None,
            )
        except AppError as exc:
            _show_errors(form, exc)
        else:
            messages.success(
                request, _("Saved “%(name)s” to the library.") % {"name": reference.name}
            )
            return redirect(reference)
    status = 400 if request.method == "POST" else 200
    if request.method == "POST" and request.FILES:
        # A browser cannot send a file input back: say so, rather than let it look kept.
        form.add_error("images", _("Nothing was saved; choose the images again."))
    return render(request, "references/create.html", {"form": form}, status=status)


@login_required
def detail(request, public_id):
    reference = _reference(request, public_id)
    edit = EditForm(
        request.POST if request.method == "POST" else None,
        initial={"name": reference.name, "notes": reference.notes},
    )
    if request.method == "POST" and edit.is_valid():
        services.update_reference(
            reference=reference, name=edit.cleaned_data["name"], notes=edit.cleaned_data["notes"]
        )
        messages.success(request, _("Saved."))
        return redirect(reference)
    return _detail_page(request, reference, edit=edit, add=ImagesFields())


def _detail_page(request, reference, *, edit, add, status=None):
    versions = list(reference.versions.select_related("created_by"))
    current = next((v for v in versions if v.number == reference.version), None)
    images = list(current.images.select_related("upload")) if current else []
    labels = dict(Role.choices)
    for image in images:
        image.role_label = labels.get(image.role, image.role)
    context = {
        "reference": reference,
        "images": images,
        "versions": versions,
        "edit": edit,
        "add": add,
        "problem": reference.unusable(),
        "used": reference.versions.filter(uses__isnull=False)
        .values("uses__composition")
        .distinct()
        .count(),
    }
    if status is None:
        status = 400 if request.method == "POST" else 200
    return render(request, "references/detail.html", context, status=status)


@login_required
@require_POST
def add_images(request, public_id):
    reference = _reference(request, public_id)
    add = ImagesFields(request.POST, request.FILES)
    if add.is_valid():
        images = _new_images(request)
        role = add.cleaned_data["role"] or ROLE_FOR_KIND.get(reference.kind, "other")
        try:
            reference = services.add_reference_images(
                reference=reference,
                user=request.user,
                images=images,
                roles=[role] * len(images),
                image_notes=[add.cleaned_data["image_note"]] * len(images),
            )
        except AppError as exc:
            _show_errors(add, exc)
        else:
            messages.success(request, _("Added. This is version %(n)d.") % {"n": reference.version})
            return redirect(reference)
    edit = EditForm(initial={"name": reference.name, "notes": reference.notes})
    return _detail_page(request, reference, edit=edit, add=add)


@login_required
@require_POST
def remove_image(request, public_id, position):
    reference = _reference(request, public_id)
    request.error_redirect = reference.get_absolute_url()
    reference = services.remove_reference_image(
        reference=reference, user=request.user, position=position
    )
    messages.success(request, _("Removed. This is version %(n)d.") % {"n": reference.version})
    return redirect(reference)


@login_required
@require_POST
def withdraw(request, public_id):
    reference = _reference(request, public_id)
    request.error_redirect = reference.get_absolute_url()
    services.withdraw_consent(reference=reference, user=request.user)
    messages.success(
        request,
        _("Consent withdrawn: “%(name)s” can no longer be used and its images were deleted.")
        % {"name": reference.name},
    )
    return redirect(reference)


@login_required
@require_POST
def delete(request, public_id):
    reference = _reference(request, public_id)
    request.error_redirect = reference.get_absolute_url()
    services.delete_reference(reference=reference)
    messages.success(request, _("Deleted “%(name)s” from the library.") % {"name": reference.name})
    return redirect("references:library")
