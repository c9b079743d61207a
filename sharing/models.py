"""Favourites (per person), collections (per workspace) and share links (per workspace).

Compositions know nothing of this app: the history page filters through the relation names
set here (`favourites`, `collection_items`), which are ORM lookups, not imports."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from bananasite.ids import PublicId


class Favourite(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="favourites"
    )
    composition = models.ForeignKey(
        "compositions.Composition", on_delete=models.CASCADE, related_name="favourites"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "composition"], name="favourite_once")
        ]

    def __str__(self):
        return f"{self.user_id} ★ {self.composition_id}"


class Collection(models.Model):
    public_id = models.CharField(
        max_length=32, unique=True, default=PublicId("col"), editable=False
    )
    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.CASCADE, related_name="collections"
    )
    name = models.CharField(max_length=80)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="collection_name_once")
        ]

    def __str__(self):
        return self.name


class CollectionItem(models.Model):
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="items")
    # CASCADE: a deleted composition leaves every collection (and so every shared page) at once.
    composition = models.ForeignKey(
        "compositions.Composition", on_delete=models.CASCADE, related_name="collection_items"
    )
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-added_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["collection", "composition"], name="collection_item_once"
            )
        ]

    def __str__(self):
        return f"{self.collection_id}: {self.composition_id}"


class ShareLinkQuerySet(models.QuerySet["ShareLink"]):
    def live(self):
        return self.filter(revoked_at__isnull=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
        )


class ShareLink(models.Model):
    """A link that shows one result or one collection to anyone who has it.

    The secret is shown once; only its SHA-256 is kept (as API tokens: 43 random characters,
    nothing to brute-force). Revoking sets `revoked_at`; every page and image request looks the
    link up again, so revocation is immediate."""

    public_id = models.CharField(
        max_length=32, unique=True, default=PublicId("shr"), editable=False
    )
    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.CASCADE, related_name="share_links"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    # One of the two. CASCADE: a deleted composition (its results) or collection ends its links.
    result = models.ForeignKey(
        "compositions.Result",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="share_links",
    )
    collection = models.ForeignKey(
        Collection, null=True, blank=True, on_delete=models.CASCADE, related_name="share_links"
    )
    show_prompt = models.BooleanField(
        default=False, help_text="Whether the shared page shows the prompts."
    )
    token_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=16, help_text="The first characters, to recognise it.")
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ShareLinkQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(result__isnull=False, collection__isnull=True)
                | Q(result__isnull=True, collection__isnull=False),
                name="share_link_one_target",
            )
        ]

    def __str__(self):
        return f"{self.prefix}… ({self.public_id})"

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_live(self) -> bool:
        return self.revoked_at is None and not self.is_expired

    @property
    def what(self) -> str:
        if self.result_id:
            return _("Result %(public_id)s") % {"public_id": self.result.public_id}  # type: ignore[union-attr]
        return _("Collection “%(collection)s”") % {"collection": self.collection}
