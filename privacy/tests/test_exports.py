"""A workspace's export: one ZIP with JSON and files, built in the background, downloaded
once within its window, then gone from storage."""

import io
import json
import zipfile
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone, translation
from django_q.models import Schedule

from accounts.models import Membership
from billing.models import LedgerEntry, Wallet
from compositions.tasks import run_composition
from compositions.tests.factories import compose
from privacy.models import Export
from privacy.services import build_export, purge_exports, request_export

pytestmark = pytest.mark.django_db


@pytest.fixture
def made(owner):
    composition = compose(owner)
    run_composition(composition.public_id)
    composition.refresh_from_db()
    assert composition.status == "succeeded"
    return composition


@pytest.fixture
def ask(django_capture_on_commit_callbacks):
    """Request the export from the workspace page; the task runs once the request commits."""

    def request(client):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(reverse("privacy:request_export"))
        assert response.status_code == 302
        return Export.objects.get()

    return request


def download(client, export):
    return client.get(reverse("privacy:download_export", args=[export.public_id]))


def body_of(response) -> bytes:
    # The test client closes the response (as a server does) once the body is read.
    return b"".join(response.streaming_content)


def test_the_export_holds_compositions_ledger_and_files(owner_client, owner, made, ask):
    export = ask(owner_client)
    assert export.status == "ready" and export.bytes > 0
    assert export.expires_at == export.ready_at + timedelta(hours=24)
    assert default_storage.exists(export.file.name)
    [message] = mail.outbox
    assert message.to == [owner.email] and "/workspace/" in message.body

    page = owner_client.get(reverse("accounts:workspace")).content.decode()
    assert reverse("privacy:download_export", args=[export.public_id]) in page

    response = download(owner_client, export)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert "attachment" in response["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(body_of(response)))
    names = set(archive.namelist())
    assert {"workspace.json", "compositions.json", "uploads.json", "ledger.json"} <= names

    [composition] = json.loads(archive.read("compositions.json"))
    assert composition["id"] == made.public_id and composition["prompt"] == made.prompt
    [result] = composition["results"]
    stored = made.results.get()
    assert archive.read(result["file"]) == stored.file.open("rb").read()
    uploads = json.loads(archive.read("uploads.json"))
    assert {u["id"] for u in uploads} == {i.upload.public_id for i in made.inputs.all()}
    for upload in uploads:
        assert archive.read(upload["file"])[:8] == b"\x89PNG\r\n\x1a\n"

    ledger = json.loads(archive.read("ledger.json"))
    assert ledger["balance"] == Wallet.objects.get(workspace=owner.current_workspace).balance == 49
    assert sum(e["amount"] for e in ledger["entries"]) == ledger["balance"]
    assert len(ledger["entries"]) == LedgerEntry.objects.count()
    assert {e["composition"] for e in ledger["entries"]} >= {made.public_id}


def test_it_downloads_once_then_is_gone_from_storage(owner_client, made, ask):
    export = ask(owner_client)
    name = export.file.name
    body_of(download(owner_client, export))
    assert not default_storage.exists(name)
    export.refresh_from_db()
    assert export.status == "downloaded" and export.file.name == ""
    assert download(owner_client, export).status_code == 404


def test_an_expired_link_is_gone_and_the_purge_removes_the_file(owner_client, made, ask):
    export = ask(owner_client)
    name = export.file.name
    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        assert download(owner_client, export).status_code == 404
        assert purge_exports() == 1
    assert not default_storage.exists(name)
    export.refresh_from_db()
    assert export.status == "expired"


def test_a_stranger_gets_404_and_a_member_cannot_export(
    owner_client, owner, stranger_client, stranger, made, make_user, client, ask
):
    export = ask(owner_client)
    assert download(stranger_client, export).status_code == 404
    export.refresh_from_db()
    assert export.status == "ready"  # the stranger did not use up the one download

    mate = make_user("mate@example.com")
    Membership.objects.create(workspace=owner.current_workspace, user=mate)
    mate.current_workspace = owner.current_workspace
    mate.save()
    client.force_login(mate)
    assert download(client, export).status_code == 302  # refused, with a message
    client.post(reverse("privacy:request_export"))
    assert Export.objects.count() == 1
    export.refresh_from_db()
    assert export.status == "ready"


def test_only_one_export_is_built_at_a_time(owner):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("privacy.services.enqueue_on_commit", lambda *a, **k: None)
        first = request_export(user=owner, workspace=owner.current_workspace)
        from bananasite.errors import InvalidState

        with pytest.raises(InvalidState) as refused:
            request_export(user=owner, workspace=owner.current_workspace)
    assert refused.value.code == "export_in_progress"
    assert build_export(export_id=first.pk) == "ready"
    assert build_export(export_id=first.pk) == "not pending"  # a second delivery is harmless


def test_the_export_purge_is_scheduled():
    assert Schedule.objects.filter(func="privacy.tasks.purge_exports").exists()


def test_a_head_request_does_not_take_the_one_download(owner_client, made, ask):
    export = ask(owner_client)
    url = reverse("privacy:download_export", args=[export.public_id])
    assert owner_client.head(url).status_code == 405
    export.refresh_from_db()
    assert export.status == "ready"
    assert body_of(download(owner_client, export))  # the person still gets it


def test_an_export_asked_for_in_german_is_announced_in_german(owner_client, owner, made, ask):
    """The mail is sent by a task without a request: the export keeps the language it was
    asked in, and the mail is written in it."""
    owner_client.defaults["HTTP_ACCEPT_LANGUAGE"] = "de"
    export = ask(owner_client)
    assert export.language == "de"
    [message] = mail.outbox
    assert message.subject == "Ihr bananasite-Export ist fertig"
    assert message.body.startswith(f"Der Export von {owner.current_workspace.name} ist fertig.")
    assert "/workspace/" in message.body


def test_the_mail_is_in_the_export_language_not_the_worker_one(owner, made):
    """Blank (an export from before languages were kept) means the site's English."""
    workspace = owner.current_workspace
    spanish = request_export(user=owner, workspace=workspace, language="es")
    with translation.override("de"):
        build_export(export_id=spanish.pk)
    Export.objects.filter(pk=spanish.pk).update(status="downloaded")
    unknown = request_export(user=owner, workspace=workspace)
    with translation.override("de"):
        build_export(export_id=unknown.pk)
    assert [m.subject for m in mail.outbox] == [
        "Tu exportación de bananasite está lista",
        "Your bananasite export is ready",
    ]
