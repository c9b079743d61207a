"""Handing work to django-q2: always after the transaction that made it needed has committed,
so a worker never looks for a row that is not there yet (or that a rollback took back)."""

from typing import Any

from django.conf import settings
from django.db import transaction
from django_q.tasks import async_task


def enqueue_on_commit(
    func: str,
    *args: Any,
    group: str,
    task_name: str | None = None,
    cluster: str | None = None,
) -> None:
    """Queue `func(*args)` once the current transaction commits (at once outside one), on the
    main queue or another cluster's (webhooks have their own). With BANANASITE_TASKS_SYNC
    (tests, the quick start's inline mode) it runs in-process."""
    options: dict[str, Any] = {"group": group, "sync": settings.BANANASITE_TASKS_SYNC}
    if task_name:
        options["task_name"] = task_name
    if cluster:
        options["cluster"] = cluster
    if settings.Q_CLUSTER.get("orm") and not options["sync"]:
        # The ORM broker's queue is a table in this same database: the task row is written in
        # the caller's transaction, so it commits (or rolls back) with the work it is about,
        # and a submission takes SQLite's write lock once instead of twice (issue 13's
        # benchmark: under 40 concurrent submissions every extra write waits for the others).
        # A worker cannot see the row before the work is committed either.
        async_task(func, *args, **options)
        return
    transaction.on_commit(lambda: async_task(func, *args, **options))
