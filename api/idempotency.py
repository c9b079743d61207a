"""`Idempotency-Key` on POST: the same key and body within 24 hours replays the first answer."""

import hashlib
import json
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.response import Response

from .models import IdempotencyKey
from .problems import problem

IDEMPOTENCY_HOURS = 24


def request_fingerprint(request) -> str:
    """What makes two requests "the same": method, path, fields and the files' contents."""
    digest = hashlib.sha256(f"{request.method} {request.path}".encode())
    data = request.data
    fields = {}
    for key in sorted(data.keys()) if hasattr(data, "keys") else []:
        values = data.getlist(key) if hasattr(data, "getlist") else [data[key]]
        fields[key] = [v for v in values if not hasattr(v, "read")]
    digest.update(json.dumps(fields, sort_keys=True, default=str).encode())
    for key in sorted(request.FILES.keys()):
        for upload in request.FILES.getlist(key):
            for chunk in upload.chunks():
                digest.update(chunk)
            upload.seek(0)
    return digest.hexdigest()


def idempotent(handler):
    """Honour `Idempotency-Key` on a POST: replay, 409 while in flight, 422 for another body."""

    def wrapper(view, request, *args, **kwargs):
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return handler(view, request, *args, **kwargs)
        if not 1 <= len(key) <= 255 or not all(32 <= ord(ch) < 127 for ch in key):
            return problem(
                400,
                "invalid_request",
                "Idempotency-Key must be 1 to 255 printable ASCII characters.",
            )
        workspace = request.workspace
        fingerprint = request_fingerprint(request)
        IdempotencyKey.objects.filter(
            workspace=workspace,
            key=key,
            created_at__lt=timezone.now() - timedelta(hours=IDEMPOTENCY_HOURS),
        ).delete()
        try:
            with transaction.atomic():
                record = IdempotencyKey.objects.create(
                    workspace=workspace, key=key, fingerprint=fingerprint
                )
        except IntegrityError:
            existing = IdempotencyKey.objects.filter(workspace=workspace, key=key).first()
            if existing is None:
                return problem(409, "idempotency_in_progress", "Retry this request.")
            if existing.fingerprint != fingerprint:
                return problem(
                    422,
                    "idempotency_key_reused",
                    "This Idempotency-Key was used with a different request.",
                )
            if existing.response_status is None:
                return problem(
                    409,
                    "idempotency_in_progress",
                    "A request with this Idempotency-Key is still being processed.",
                )
            replay = Response(existing.response_body, status=existing.response_status)
            replay["Idempotent-Replayed"] = "true"
            if existing.response_status >= 400:
                replay.content_type = "application/problem+json"
            return replay
        try:
            response = handler(view, request, *args, **kwargs)
        except Exception as exc:
            response = view.handle_exception(exc)
        if response.status_code >= 500:
            record.delete()  # let the client retry with the same key
        else:
            IdempotencyKey.objects.filter(pk=record.pk).update(
                response_status=response.status_code, response_body=response.data
            )
        return response

    wrapper.__name__ = handler.__name__
    wrapper.__doc__ = handler.__doc__
    return wrapper
