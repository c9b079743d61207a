"""Readiness: does each service the site needs answer, within a short deadline?"""

import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout

import redis
from django.conf import settings
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import connection
from django_q.models import OrmQ

logger = logging.getLogger(__name__)


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_broker() -> None:
    """Redis when REDIS_URL is set, else django-q2's ORM broker: its queue table."""
    if settings.REDIS_URL:
        timeout = settings.BANANASITE_READY_TIMEOUT
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=timeout, socket_timeout=timeout
        )
        try:
            client.ping()
        finally:
            client.close()
    else:
        list(OrmQ.objects.order_by().values_list("id", flat=True)[:1])


def check_storage() -> None:
    """The top of the bucket or media directory can be listed (one request on S3). A media
    directory not made yet is made, as the first upload would: a fresh install is ready."""
    if isinstance(default_storage, FileSystemStorage):
        os.makedirs(default_storage.location, exist_ok=True)
    default_storage.listdir("")


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "broker": check_broker,
    "storage": check_storage,
}


def _run(name: str) -> None:
    try:
        CHECKS[name]()
    finally:
        # A thread of its own has a connection of its own: close it, or every probe leaves one.
        connection.close()


def failed_checks() -> list[str]:
    """The names of the checks that failed or did not answer in time; empty when all is well.
    The checks run side by side, so the whole probe takes at most one timeout."""
    timeout = settings.BANANASITE_READY_TIMEOUT
    pool = ThreadPoolExecutor(max_workers=len(CHECKS), thread_name_prefix="readyz")
    futures = {name: pool.submit(_run, name) for name in CHECKS}
    deadline = time.monotonic() + timeout
    failed = []
    try:
        for name, future in futures.items():
            try:
                future.result(timeout=max(0.0, deadline - time.monotonic()))
            except FuturesTimeout:
                logger.warning("readyz: %s did not answer within %ss", name, timeout)
                failed.append(name)
            except Exception as exc:
                # Logged for the operator; the answer names only the check.
                logger.warning("readyz: %s failed: %s", name, type(exc).__name__)
                failed.append(name)
    finally:
        # Never wait for a hung check: its thread ends when its driver gives up.
        pool.shutdown(wait=False, cancel_futures=True)
    return failed
