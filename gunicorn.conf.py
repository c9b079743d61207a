"""gunicorn's settings for bananasite (`gunicorn -c gunicorn.conf.py bananasite.wsgi`).

Threads, not only processes: a request spends most of its time waiting on the database, the
broker and storage, and threads share one process's memory. Workers default to the core count
(at least 2, so one busy process never holds every request) and 4 threads each; the
environment overrides both (GUNICORN_WORKERS, GUNICORN_THREADS; docs/deployment.md sizes them).
"""

import os

from prometheus_client import multiprocess

_cores = os.cpu_count() or 1

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS") or max(2, _cores))
threads = int(os.environ.get("GUNICORN_THREADS") or 4)
# Under 120 s: an Idempotency-Key whose request died is released after 120 s (deployment.md).
timeout = int(os.environ.get("GUNICORN_TIMEOUT") or 60)
graceful_timeout = 20
keepalive = 5
# Heartbeat files in memory, not on a disk that may stall (gunicorn's own advice for containers).
_shm = "/dev/shm"  # noqa: S108 (gunicorn writes only its own heartbeat files there)
worker_tmp_dir = _shm if os.path.isdir(_shm) else None
# Recycle workers now and then so a slow leak cannot grow without bound; jitter keeps them
# from restarting together.
max_requests = 2000
max_requests_jitter = 200
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"


def child_exit(server, worker):
    """A worker that ended leaves its live gauges behind in PROMETHEUS_MULTIPROC_DIR; tell
    prometheus-client so /metrics stops summing them (its multiprocess mode's rule)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
