"""Favourites, collections and share links: each change in one place, scoped to a workspace."""

import secrets
from datetime import UTC, date, datetime, time, timedelta

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User, Workspace, hash_token
from bananasite.errors import AppError, InvalidState
from compositions.models import Composition, Result

from .models import Collection, CollectionItem, Favourite, ShareLink

SHARE_PREFIX = "shr_"
COLLECTION_NAME_MAX = 80


def toggle_favourite(*, user: User, composition: Composition) -> bool:
    """Star or unstar a composition for this person; returns whether it is now a favourite."""
    deleted, _rows = Favourite.objects.filter(user=user, composition=composition).delete()
    if deleted:
        return False
    Favourite.objects.get_or_create(user=user, composition=composition)
    return True


def create_collection(*, workspace: Workspace, user: User | None, name: str) -> Collection:
    name = " ".join(name.split())
    if not name:
        raise AppError(_("Give the collection a name."), field="name")
    if len(name) > COLLECTION_NAME_MAX:
        raise AppError(
            _("A collection's name has at most %(collection_name_max)s characters.")
            % {"collection_name_max": COLLECTION_NAME_MAX},
            field="name",
        )
    try:
        with transaction.atomic():
            return Collection.objects.create(workspace=workspace, name=name, created_by=user)
    except IntegrityError:
        raise InvalidState(
            _("This workspace already has a collection called “%(name)s”.") % {"name": name}
        ) from None


def add_to_collection(*, collection: Collection, composition: Composition) -> bool:
    """False if it was already there. Both must belong to the same workspace."""
    if collection.workspace_id != composition.workspace_id:
        raise InvalidState(_("That collection belongs to another workspace."))
    _item, created = CollectionItem.objects.get_or_create(
        collection=collection, composition=composition
    )
    return created


def remove_from_collection(*, collection: Collection, composition: Composition) -> None:
    CollectionItem.objects.filter(collection=collection, composition=composition).delete()


def delete_collection(*, collection: Collection) -> None:
    collection.delete()  # its items and share links go with it


def _expiry(expires_on: date | None) -> datetime | None:
    """A link that expires on a date works until the end of that day (UTC)."""
    if expires_on is None:
        return None
    if expires_on < timezone.now().date():
        raise AppError(_("The expiry date is in the past."), field="expires_on")
    return datetime.combine(expires_on + timedelta(days=1), time.min, tzinfo=UTC)


def create_share_link(
    *,
    workspace: Workspace,
    user: User | None,
    result: Result | None = None,
    collection: Collection | None = None,
    show_prompt: bool = False,
    expires_on: date | None = None,
) -> tuple[ShareLink, str]:
    """A new link to one result or one collection of this workspace; returns it and its secret
    (shown once: only the hash is kept)."""
    if (result is None) == (collection is None):
        raise AppError(_("Share either one result or one collection."))
    if result is not None and result.composition.workspace_id != workspace.pk:
        raise InvalidState(_("That result belongs to another workspace."))
    if collection is not None and collection.workspace_id != workspace.pk:
        raise InvalidState(_("That collection belongs to another workspace."))
    if result is not None and result.removed_at is not None:
        raise InvalidState(_("A removed result cannot be shared."))
    raw = SHARE_PREFIX + secrets.token_urlsafe(32)
    link = ShareLink.objects.create(
        workspace=workspace,
        created_by=user,
        result=result,
        collection=collection,
        show_prompt=show_prompt,
        expires_at=_expiry(expires_on),
        token_hash=hash_token(raw),
        prefix=raw[:10],
    )
    return link, raw


def revoke_share_link(*, link: ShareLink) -> None:
    """From this moment every request with the link is refused."""
    ShareLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    link.refresh_from_db()


class ShareExpired(Exception):
    """The link existed and has expired (410), as opposed to unknown or revoked (404)."""


def open_share(raw: str) -> ShareLink | None:
    """The live link for a secret, or None (unknown or revoked: the same answer, nothing to
    enumerate). Raises ShareExpired for a link past its date."""
    if not raw.startswith(SHARE_PREFIX) or len(raw) > 100:
        return None
    link = (
        ShareLink.objects.select_related("collection", "result__composition")
        .filter(token_hash=hash_token(raw), revoked_at__isnull=True)
        .first()
    )
    if link is None:
        return None
    if link.is_expired:
        raise ShareExpired
    return link


def shared_results(link: ShareLink) -> QuerySet[Result]:
    """What the link shows: visible results (not removed by a moderator) of compositions of the
    link's workspace. A deleted composition's results are gone with it."""
    results = Result.objects.filter(composition__workspace_id=link.workspace_id).select_related(
        "composition"
    )
    if link.result_id:
        return results.filter(pk=link.result_id)
    return results.filter(composition__collection_items__collection=link.collection).order_by(
        "-composition__created_at", "composition_id", "position"
    )
