from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from bananasite.ids import PublicId


def export_path(instance, filename):
    return f"ws/{instance.workspace.public_id}/exports/{instance.public_id}/{filename}"


class Export(models.Model):
    """A workspace's data as one ZIP (JSON and files), built in the background, downloadable
    once within BANANASITE_EXPORT_HOURS; after the download or the expiry the file is gone."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting to be built")
        BUILDING = "building", _("Being built")
        READY = "ready", _("Ready to download")
        DOWNLOADED = "downloaded", _("Downloaded")
        EXPIRED = "expired", _("Expired")
        FAILED = "failed", _("Failed")

    UNFINISHED = ("pending", "building")

    public_id = models.CharField(
        max_length=32, unique=True, default=PublicId("exp"), editable=False
    )
    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.CASCADE, related_name="exports"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=12, choices=Status, default=Status.PENDING)
    file = models.FileField(upload_to=export_path, max_length=300, blank=True)
    bytes = models.PositiveBigIntegerField(default=0)
    # The workspace page, for the mail that says the export is ready (tasks have no request).
    page_url = models.URLField(max_length=500, blank=True)
    # The language the export was asked for in (a code of LANGUAGES), for that same mail; blank
    # means the site's default.
    language = models.CharField(max_length=16, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    downloaded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["workspace", "-created_at"], name="export_ws_recent")]

    def __str__(self):
        return self.public_id

    @property
    def download_name(self) -> str:
        return f"bananasite-{self.workspace.slug}-{self.created_at:%Y-%m-%d}.zip"
