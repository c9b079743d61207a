"""The sharing section of other apps' pages (favourite, collections, share links), so the
composition pages need not import this app (as webhooks does for the workspace page)."""

from django import template

from ..models import Collection, Favourite

register = template.Library()


@register.inclusion_tag("sharing/_panel.html", takes_context=True)
def sharing_panel(context, composition, results):
    request = context["request"]
    in_collections = list(
        Collection.objects.filter(items__composition=composition).order_by("name")
    )
    return {
        "request": request,
        "csrf_token": context.get("csrf_token"),
        "composition": composition,
        "results": results,
        "starred": Favourite.objects.filter(user=request.user, composition=composition).exists(),
        "in_collections": in_collections,
        "other_collections": Collection.objects.filter(workspace_id=composition.workspace_id)
        .exclude(pk__in=[c.pk for c in in_collections])
        .order_by("name"),
    }


@register.simple_tag
def workspace_collections(workspace):
    return (
        list(Collection.objects.filter(workspace=workspace).order_by("name")) if workspace else []
    )


@register.simple_tag
def favourite_ids(user, compositions):
    """The ids of these compositions this person starred (one query for a page of history)."""
    return set(
        Favourite.objects.filter(user=user, composition__in=list(compositions)).values_list(
            "composition_id", flat=True
        )
    )


@register.filter
def contains(collection, item):
    return item in collection
