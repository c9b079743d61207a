"""A real `manage.py qcluster` process picks up a composition and runs it end to end."""

import os
import subprocess
import sys
import time
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from compositions.models import Composition

from .factories import compose


def database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = quote(db["USER"] or "")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"])
    return f"postgres://{auth}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_qcluster_runs_a_composition(owner, settings_override_async, _isolated_storage):
    composition = compose(owner, num_images=2)  # committed, so enqueued to the real broker
    assert composition.status == "queued"
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "MEDIA_ROOT": str(_isolated_storage),
        "BANANASITE_WORKERS": "1",
    }
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            composition.refresh_from_db()
            if composition.is_finished:
                break
            time.sleep(0.2)  # waiting on another process, not on the clock
    finally:
        worker.terminate()
        output = worker.communicate(timeout=30)[0].decode(errors="replace")
    assert composition.status == Composition.Status.SUCCEEDED, output[-3000:]
    assert composition.attempts == 1
    results = list(composition.results.all())
    assert len(results) == 2
    for result in results:
        assert result.file.storage.exists(result.file.name)


@pytest.fixture
def settings_override_async(settings):
    settings.BANANASITE_TASKS_SYNC = False
    return settings
