from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AnonymousUser
from django.db.models import Count
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from bananasite.errors import AppError
from bananasite.files import serve_private_file
from compositions.models import Composition, Result

from . import services
from .forms import CollectForm, ShareForm
from .models import Collection, ShareLink


def _back(request, fallback: str):
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return redirect(target)
    return redirect(fallback)


def _composition(request, public_id: str) -> Composition:
    return get_object_or_404(Composition.objects.visible_to(request.workspace), public_id=public_id)


def _collection(request, public_id: str) -> Collection:
    return get_object_or_404(Collection, public_id=public_id, workspace=request.workspace)


@login_required
@require_POST
def favourite(request, public_id):
    composition = _composition(request, public_id)
    starred = services.toggle_favourite(user=request.user, composition=composition)
    messages.success(
        request, _("Added to your favourites.") if starred else _("Removed from favourites.")
    )
    return _back(request, composition.get_absolute_url())


@login_required
@require_POST
def collect(request, public_id):
    composition = _composition(request, public_id)
    request.error_redirect = composition.get_absolute_url()
    form = CollectForm(request.POST)
    form.is_valid()
    data = form.cleaned_data
    if data.get("new_name"):
        collection = services.create_collection(
            workspace=request.workspace, user=request.user, name=data["new_name"]
        )
    elif data.get("collection"):
        collection = _collection(request, data["collection"])
    else:
        raise AppError(_("Choose a collection or name a new one."))
    if services.add_to_collection(collection=collection, composition=composition):
        messages.success(request, _("Added to “%(name)s”.") % {"name": collection.name})
    else:
        messages.info(request, _("Already in “%(name)s”.") % {"name": collection.name})
    return _back(request, composition.get_absolute_url())


@login_required
@require_POST
def uncollect(request, collection_id, public_id):
    collection = _collection(request, collection_id)
    composition = _composition(request, public_id)
    services.remove_from_collection(collection=collection, composition=composition)
    messages.success(request, _("Removed from “%(name)s”.") % {"name": collection.name})
    return _back(request, composition.get_absolute_url())


@login_required
def collections(request):
    """The workspace's collections and share links, with a form to start a collection."""
    error = ""
    if request.method == "POST":
        try:
            collection = services.create_collection(
                workspace=request.workspace, user=request.user, name=request.POST.get("name", "")
            )
        except AppError as exc:
            error = exc.message
        else:
            messages.success(request, _("Created “%(name)s”.") % {"name": collection.name})
            return redirect("sharing:collections")
    context = {
        # Counted in the list's own query, not one query per collection.
        "collections": request.workspace.collections.annotate(item_count=Count("items")),
        "links": ShareLink.objects.filter(workspace=request.workspace).select_related(
            "collection", "result__composition", "created_by"
        )[:100],
        "error": error,
        "name": request.POST.get("name", ""),
    }
    return render(request, "sharing/collections.html", context, status=400 if error else 200)


@login_required
@require_POST
def delete_collection(request, collection_id):
    collection = _collection(request, collection_id)
    services.delete_collection(collection=collection)
    messages.success(
        request,
        _("Deleted the collection “%(name)s”; its links stop working.") % {"name": collection.name},
    )
    return redirect("sharing:collections")


@login_required
@require_POST
def share(request):
    form = ShareForm(request.POST)
    back = request.POST.get("next", "") or reverse("sharing:collections")
    if not url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
        back = reverse("sharing:collections")
    request.error_redirect = back
    if not form.is_valid():
        raise AppError("; ".join(str(e) for errors in form.errors.values() for e in errors))
    data = form.cleaned_data
    result = collection = None
    if data["result"]:
        result = get_object_or_404(
            Result.objects.select_related("composition"),
            public_id=data["result"],
            composition__workspace=request.workspace,
        )
    elif data["collection"]:
        collection = _collection(request, data["collection"])
    link, raw = services.create_share_link(
        workspace=request.workspace,
        user=request.user,
        result=result,
        collection=collection,
        show_prompt=data["show_prompt"],
        expires_on=data["expires_on"],
    )
    url = request.build_absolute_uri(reverse("sharing:public", args=[raw]))
    # Rendered, not redirected: the secret is shown this once and stored nowhere.
    return render(request, "sharing/created.html", {"link": link, "url": url, "back": back})


@login_required
@require_POST
def revoke(request, link_id):
    link = get_object_or_404(ShareLink, public_id=link_id, workspace=request.workspace)
    services.revoke_share_link(link=link)
    messages.success(
        request, _("Revoked the link to %(what)s. It stopped working now.") % {"what": link.what}
    )
    return redirect("sharing:collections")


def _open(token: str) -> tuple[ShareLink | None, bool]:
    try:
        return services.open_share(token), False
    except services.ShareExpired:
        return None, True


def _no_index(response):
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"  # the secret is in the URL
    response["Cache-Control"] = "no-store"
    return response


@never_cache
@require_GET
def public(request, token):
    link, expired = _open(token)
    # The header shows no signed-in navigation here, even to a signed-in visitor.
    anonymous = {"user": AnonymousUser(), "current_workspace": None}
    if expired:
        response = render(request, "sharing/gone.html", anonymous, status=410)
        return _no_index(response)
    if link is None:
        raise Http404(_("No such link."))
    results = list(services.shared_results(link))
    context = {
        **anonymous,
        "link": link,
        "token": token,
        "results": results,
        "title": link.collection.name if link.collection else _("A shared image"),
    }
    return _no_index(render(request, "sharing/public.html", context))


@require_GET
def public_file(request, token, result_id, variant):
    """An image of a shared page: the link is checked again on every request."""
    link, _expired = _open(token)
    if link is None:
        raise Http404(_("No such link."))
    result = get_object_or_404(services.shared_results(link), public_id=result_id)
    if variant == "thumb":
        response = serve_private_file(
            result.thumbnail, content_type="image/webp", cache_control="no-store"
        )
    else:
        response = serve_private_file(
            result.file, content_type=result.content_type, cache_control="no-store"
        )
    return _no_index(response)
