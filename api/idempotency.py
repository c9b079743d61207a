"""`Idempotency-Key` on POST: the same key and body within 24 hours replays the first answer.

Only an answer that created or changed something (2xx) is kept. A refusal is not replayed: it
may be temporary (402 until a top-up, 429 until the quota resets) and it created nothing, so
the client retries with the same key and gets a fresh answer."""

import hashlib
import json
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from rest_framework.response import Response

from .models import IdempotencyKey
from .problems import problem

IDEMPOTENCY_HOURS = 24
# A claimed key whose request has not answered after this long belongs to a request that died
# (a killed worker, a lost connection to the database): the key can be used again. Longer
# than any request may run (gunicorn's default --timeout, 30 s, kills a worker long before),
# because a request still at work when its claim lapses could be run twice.
IDEMPOTENCY_PENDING_SECONDS = 120


def stale(now: datetime | None = None) -> Q:
    """Records that no longer hold their key: an answer past its 24 hours, a claim whose
    request died, and a refusal (kept by older code, never replayed)."""
    now = now or timezone.now()
    return (
        Q(created_at__lt=now - timedelta(hours=IDEMPOTENCY_HOURS))
        | Q(
            response_status__isnull=True,
            created_at__lt=now - timedelta(seconds=IDEMPOTENCY_PENDING_SECONDS),
        )
        | Q(response_status__gte=300)
    )


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
        # Forget this key if its answer has expired, or if the request that claimed it never
        # finished (its process was killed) and will not come back.
        IdempotencyKey.objects.filter(stale(), workspace=workspace, key=key).delete()
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
            return replay
        try:
            response = handler(view, request, *args, **kwargs)
        except Exception as exc:
            response = view.handle_exception(exc)
        if 200 <= response.status_code < 300:
            # By primary key: if this request outlived its claim and another took the key
            # over, that one's record is left alone.
            IdempotencyKey.objects.filter(pk=record.pk).update(
                response_status=response.status_code, response_body=response.data
            )
        else:
            record.delete()  # nothing was created: the client may retry with the same key
        return response

    wrapper.__name__ = handler.__name__
    wrapper.__doc__ = handler.__doc__
    return wrapper
