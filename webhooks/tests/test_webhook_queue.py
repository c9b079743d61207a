"""Webhook deliveries run on a queue (and a cluster) of their own, so a slow endpoint cannot
delay compositions; a workspace registers a limited number of endpoints."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django_q.brokers import get_broker
from django_q.models import Schedule

from api.tests.api_clients import token_client
from api.tests.test_api import assert_problem
from bananasite.errors import AppError
from webhooks.models import Webhook, WebhookDelivery
from webhooks.services import create_webhook, emit
from webhooks.tasks import deliver_due

EVENT = "composition.succeeded"


class Receiver(BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self):
        Receiver.received.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver(settings):
    Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    settings.BANANASITE_FETCH_ALLOW_NETWORKS = ["127.0.0.1/32"]
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def queues():
    """The sizes of the main queue and the webhook queue, as a function."""
    main, hooks = get_broker(), get_broker("webhooks")

    def sizes():
        return main.queue_size(), hooks.queue_size()

    before = sizes()
    yield lambda: tuple(after - start for after, start in zip(sizes(), before, strict=True))
    hooks.purge_queue()  # the Redis broker lives outside the test's transaction


# --- How many endpoints -----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_workspace_may_register_only_so_many_webhooks(owner, stranger, receiver, settings):
    settings.BANANASITE_WEBHOOK_LIMIT = 2
    for n in range(2):
        create_webhook(workspace=owner.current_workspace, url=f"{receiver}/{n}", events=[EVENT])
    with pytest.raises(AppError) as refused:
        create_webhook(workspace=owner.current_workspace, url=f"{receiver}/3", events=[EVENT])
    assert refused.value.field == "url"
    assert "at most 2 webhook endpoints" in refused.value.message
    assert Webhook.objects.filter(workspace=owner.current_workspace).count() == 2
    # Another workspace counts its own.
    create_webhook(workspace=stranger.current_workspace, url=f"{receiver}/s", events=[EVENT])
    # Removing one makes room again.
    Webhook.objects.filter(workspace=owner.current_workspace).first().delete()
    create_webhook(workspace=owner.current_workspace, url=f"{receiver}/4", events=[EVENT])


@pytest.mark.django_db
def test_the_limit_is_ten_by_default_and_the_api_says_why(owner, receiver):
    for n in range(10):
        create_webhook(workspace=owner.current_workspace, url=f"{receiver}/{n}", events=[EVENT])
    refused = token_client(owner).post(
        "/api/v1/webhooks", {"url": f"{receiver}/11", "events": [EVENT]}, format="json"
    )
    assert_problem(refused, 400, "invalid_request")
    assert "at most 10" in refused.json()["detail"]


# --- The queue of their own -------------------------------------------------------------------


@pytest.mark.django_db
def test_deliveries_go_to_the_webhook_queue_and_never_the_compositions_queue(
    owner, receiver, settings, queues, django_capture_on_commit_callbacks
):
    create_webhook(workspace=owner.current_workspace, url=f"{receiver}/h", events=[EVENT])
    settings.BANANASITE_TASKS_SYNC = False
    with django_capture_on_commit_callbacks(execute=True):
        emit(workspace_id=owner.current_workspace.pk, event=EVENT, data=lambda: {"id": "x"})
    assert queues() == (0, 1)
    assert deliver_due() == 1  # the retry sweep queues there too
    assert queues() == (0, 2)
    assert Receiver.received == []  # nothing was sent in this process


@pytest.mark.django_db
def test_inline_tasks_still_deliver_at_once(
    owner, receiver, queues, django_capture_on_commit_callbacks
):
    create_webhook(workspace=owner.current_workspace, url=f"{receiver}/h", events=[EVENT])
    with django_capture_on_commit_callbacks(execute=True):
        emit(workspace_id=owner.current_workspace.pk, event=EVENT, data=lambda: {"id": "x"})
    assert len(Receiver.received) == 1 and queues() == (0, 0)
    assert WebhookDelivery.objects.get().status == "succeeded"


@pytest.mark.django_db
def test_the_retry_sweep_is_scheduled_on_the_webhook_cluster():
    schedule = Schedule.objects.get(func="webhooks.tasks.deliver_due")
    assert schedule.cluster == "webhooks"


@pytest.mark.worker
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_webhook_cluster_delivers(owner, receiver, settings, start_worker):
    """`Q_CLUSTER_NAME=webhooks manage.py qcluster` serves the queue: what operators run."""
    create_webhook(workspace=owner.current_workspace, url=f"{receiver}/h", events=[EVENT])
    settings.BANANASITE_TASKS_SYNC = False
    worker = start_worker(
        {"Q_CLUSTER_NAME": "webhooks", "BANANASITE_FETCH_ALLOW_NETWORKS": "127.0.0.1/32"}
    )
    emit(workspace_id=owner.current_workspace.pk, event=EVENT, data=lambda: {"id": "x"})
    end = time.monotonic() + 60
    while time.monotonic() < end and not Receiver.received:
        time.sleep(0.2)  # waiting on another process, not on the clock
    assert len(Receiver.received) == 1, worker.log()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "succeeded" and delivery.attempts == 1
