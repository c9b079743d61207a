"""A real `manage.py qcluster` process picks up a composition and runs it end to end."""

import time

import pytest

from compositions.models import Composition

from .factories import compose


@pytest.mark.worker
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_real_qcluster_runs_a_composition(owner, worker):
    composition = compose(owner, num_images=2)  # committed, so enqueued to the real broker
    assert composition.status == "queued"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        composition.refresh_from_db()
        if composition.is_finished:
            break
        time.sleep(0.2)  # waiting on another process, not on the clock
    assert composition.status == Composition.Status.SUCCEEDED, worker.log()
    assert composition.attempts == 1
    results = list(composition.results.all())
    assert len(results) == 2
    for result in results:
        assert result.file.storage.exists(result.file.name)
