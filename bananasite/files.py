"""Private files in Django storage: handing them out, naming them, deleting them.

Nothing we store has a public URL. A signed, short-lived URL on S3 (django-storages), a
streamed response from file storage otherwise."""

import logging
from collections.abc import Iterable
from typing import Any, cast

from django.core.files.storage import default_storage
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase

logger = logging.getLogger(__name__)

# The image types we store, and the extension each is saved and downloaded with.
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


def extension_for(content_type: str, default: str = "png") -> str:
    return EXTENSIONS.get(content_type, default)


def serve_private_file(
    field: FieldFile,
    *,
    content_type: str,
    download_name: str | None = None,
    cache_control: str = "private, max-age=3600",
) -> HttpResponseBase:
    """The file for a caller who may see it: a signed URL on S3, else streamed from storage."""
    if getattr(default_storage, "querystring_auth", False):
        params = {"ResponseContentType": content_type}
        if download_name:
            params["ResponseContentDisposition"] = f'attachment; filename="{download_name}"'
        # django-storages' S3 storage signs the URL; `parameters` is its own argument.
        s3 = cast(Any, default_storage)
        return HttpResponseRedirect(s3.url(field.name, parameters=params))
    response = FileResponse(
        default_storage.open(field.name or "", "rb"),
        content_type=content_type,
        as_attachment=bool(download_name),
        filename=download_name or "",
    )
    response["Cache-Control"] = cache_control
    response["X-Content-Type-Options"] = "nosniff"
    return response


def delete_files(names: Iterable[str | None]) -> None:
    """Remove files from storage; a file that is already gone is not an error."""
    for name in names:
        if not name:
            continue
        try:
            default_storage.delete(name)
        except Exception:  # Storage outages must not undo the database work; log and move on.
            logger.exception("Could not delete stored file %s", name)
