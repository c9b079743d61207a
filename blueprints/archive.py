"""A bulk run's results as one ZIP, streamed: each image is read from storage in chunks while
the archive is sent (zipstream-ng writes the ZIP as it goes, with sizes known up front so the
download shows its progress), never the whole archive in memory."""

import csv
import io
from collections.abc import Iterator

from django.http import StreamingHttpResponse
from zipstream import ZIP_STORED, ZipStream

from compositions.models import Result
from compositions.usage_lines import spreadsheet_safe

from .models import Batch
from .services import archive_entries

CHUNK = 64 * 1024
MANIFEST_HEADER = ["row", "composition", "status", "file", "error"]


def _file_chunks(result: Result) -> Iterator[bytes]:
    with result.file.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            yield chunk


def file_name(row_number: int, result: Result) -> str:
    return f"row-{row_number:04d}-{result.position}.{result.extension}"


def build_archive(batch: Batch) -> ZipStream:
    """The archive, ready to stream: the images (stored, they are compressed already), then
    `manifest.csv` (a line per image, or per row without one)."""
    archive = ZipStream(compress_type=ZIP_STORED, sized=True)
    manifest = io.StringIO()
    writer = csv.writer(manifest)
    writer.writerow(MANIFEST_HEADER)
    for row, result in archive_entries(batch):
        name = ""
        if result is not None:
            name = file_name(row.number, result)
            archive.add(_file_chunks(result), name, size=result.bytes)
        writer.writerow(
            [
                row.number,
                row.composition.public_id if row.composition else "",
                row.outcome,
                name,
                spreadsheet_safe(row.error),
            ]
        )
    archive.add(manifest.getvalue().encode(), "manifest.csv")
    return archive


def archive_response(batch: Batch) -> StreamingHttpResponse:
    archive = build_archive(batch)
    response = StreamingHttpResponse(archive, content_type="application/zip")
    response["Content-Length"] = str(len(archive))
    response["Content-Disposition"] = f'attachment; filename="bananasite-{batch.public_id}.zip"'
    return response
