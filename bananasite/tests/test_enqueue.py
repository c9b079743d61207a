"""Enqueueing after the work commits: with the ORM broker the task row is part of the same
transaction; with Redis it is sent once the transaction has committed."""

import pytest
from django.db import transaction
from django_q.conf import Conf
from django_q.models import OrmQ

from bananasite.tasks import enqueue_on_commit

pytestmark = pytest.mark.django_db


@pytest.fixture
def orm_broker(settings):
    if not Conf.ORM:  # django-q2 chose its broker at start: here Redis (REDIS_URL)
        pytest.skip("the ORM broker is not this run's broker")
    settings.BANANASITE_TASKS_SYNC = False
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "orm": "default"}
    settings.Q_CLUSTER.pop("redis", None)


def test_orm_broker_task_row_commits_with_the_work(orm_broker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        enqueue_on_commit("bananasite.tests.test_enqueue.noop", 1, group="test")
        # Written inside the transaction, no callback left to run after the commit.
        assert OrmQ.objects.count() == 1
    assert callbacks == []
    assert OrmQ.objects.count() == 1


def test_orm_broker_task_row_rolls_back_with_the_work(orm_broker):
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue_on_commit("bananasite.tests.test_enqueue.noop", 1, group="test")
        raise RuntimeError("the submission failed")
    assert OrmQ.objects.count() == 0


def test_redis_broker_sends_only_after_commit(settings, monkeypatch):
    settings.BANANASITE_TASKS_SYNC = False
    settings.Q_CLUSTER = {k: v for k, v in settings.Q_CLUSTER.items() if k != "orm"}
    sent = []
    monkeypatch.setattr("bananasite.tasks.async_task", lambda *a, **kw: sent.append(a))
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue_on_commit("bananasite.tests.test_enqueue.noop", 1, group="test")
        raise RuntimeError("rolled back")
    assert sent == []


def noop(value):
    return value
