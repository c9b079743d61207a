"""Deleting an account: the personal workspace and teams owned alone go with every file; a
team with other members passes to the member chosen, or nothing happens; money rows stay."""

import pytest
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.urls import reverse

from accounts.models import ApiToken, Membership, Workspace
from accounts.services import create_api_token, create_team, switch_workspace
from api.models import IdempotencyKey
from billing.models import LedgerEntry, Wallet
from billing.services import ledger_sum
from compositions.models import Composition, Upload
from compositions.tasks import run_composition
from compositions.tests.factories import compose
from moderation.services import remove_content
from webhooks.models import Webhook

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"
User = get_user_model()


def files_of(workspace):
    names = []
    for upload in Upload.all_objects.filter(workspace=workspace):
        names += [upload.file.name, upload.thumbnail.name]
    for composition in Composition.objects.filter(workspace=workspace):
        for result in composition.results.all():
            names += [result.file.name, result.thumbnail.name]
    return [n for n in names if n]


def delete(client, **data):
    return client.post(reverse("privacy:delete_account"), {"password": PASSWORD, **data})


@pytest.fixture
def with_work(owner):
    done = compose(owner)
    run_composition(done.public_id)
    compose(owner)  # still queued: deleting cancels it and gives its hold back
    return owner.current_workspace


def test_the_page_asks_for_the_password(owner_client):
    page = owner_client.get(reverse("privacy:delete_account"))
    assert page.status_code == 200
    assert b'name="password"' in page.content and b"Delete my account" in page.content


def test_a_wrong_password_deletes_nothing(owner_client, owner, with_work):
    response = delete(owner_client, password="wrong")
    assert response.status_code == 400
    assert b"not your password" in response.content
    assert User.objects.filter(pk=owner.pk).exists()
    assert Composition.objects.filter(workspace=with_work).count() == 2


def test_the_personal_workspace_goes_with_its_files_and_the_ledger_stays(
    owner_client, owner, with_work, django_capture_on_commit_callbacks
):
    names = files_of(with_work)
    assert names and all(default_storage.exists(n) for n in names)
    create_api_token(workspace=with_work, user=owner, name="ci")
    Webhook.objects.create(
        workspace=with_work, url="https://hooks.example.com/x", events=["composition.failed"]
    )
    IdempotencyKey.objects.create(workspace=with_work, key="k1", fingerprint="f")
    refs = set(Composition.objects.values_list("public_id", flat=True))
    entries = LedgerEntry.objects.count()

    with django_capture_on_commit_callbacks(execute=True):
        response = delete(owner_client)
    assert response.status_code == 302

    assert not User.objects.filter(pk=owner.pk).exists()
    assert not Membership.objects.exists()
    assert Composition.objects.count() == 0 and Upload.all_objects.count() == 0
    # Every other app's rows of the workspace go too, hidden relations included.
    assert not ApiToken.objects.exists() and not Webhook.objects.exists()
    assert not IdempotencyKey.objects.exists()
    assert not any(default_storage.exists(n) for n in names)
    closed = Workspace.objects.get(pk=with_work.pk)
    assert closed.closed_at is not None and "owner" not in closed.name + closed.slug
    # Money rows survive, anonymised: the cancel's release was added, nothing removed.
    wallet = Wallet.objects.get(workspace=closed)
    assert LedgerEntry.objects.count() == entries + 1
    assert (
        set(
            LedgerEntry.objects.exclude(composition_ref="").values_list(
                "composition_ref", flat=True
            )
        )
        == refs
    )
    assert not LedgerEntry.objects.filter(created_by__isnull=False).exists()
    assert wallet.balance == ledger_sum(wallet) == 49
    # Signed out, and the session no longer opens anything.
    assert owner_client.get(reverse("accounts:workspace")).status_code == 302


def test_a_team_with_members_is_refused_by_name_until_an_owner_is_chosen(
    owner_client, owner, make_user
):
    team = create_team(owner=owner, name="Studio North")
    mate = make_user("mate@example.com")
    Membership.objects.create(workspace=team, user=mate)

    page = owner_client.get(reverse("privacy:delete_account")).content.decode()
    assert "New owner of Studio North" in page and "mate@example.com" in page

    refused = delete(owner_client)
    assert refused.status_code == 400
    assert "Studio North" in refused.content.decode()
    assert User.objects.filter(pk=owner.pk).exists()
    assert Membership.objects.get(workspace=team, user=owner).role == "owner"

    response = delete(owner_client, **{f"owner_{team.public_id}": "mate@example.com"})
    assert response.status_code == 302
    assert not User.objects.filter(pk=owner.pk).exists()
    assert Membership.objects.get(workspace=team, user=mate).role == "owner"
    assert Workspace.objects.get(pk=team.pk).closed_at is None


def test_a_stranger_cannot_be_named_the_new_owner(owner_client, owner, make_user, stranger):
    team = create_team(owner=owner, name="Studio North")
    Membership.objects.create(workspace=team, user=make_user("mate@example.com"))
    response = delete(owner_client, **{f"owner_{team.public_id}": stranger.email})
    assert response.status_code == 400
    assert User.objects.filter(pk=owner.pk).exists()
    assert not Membership.objects.filter(workspace=team, user=stranger).exists()


def test_a_team_owned_alone_is_deleted_with_the_account(
    owner_client, owner, django_capture_on_commit_callbacks
):
    team = create_team(owner=owner, name="Solo")
    LedgerEntry.objects.none()  # the team starts without credits; give it some to spend
    from billing.services import grant_credits

    grant_credits(wallet=Wallet.objects.get(workspace=team), amount=10, reason="test")
    switch_workspace(user=owner, workspace=team)
    composition = compose(owner)
    run_composition(composition.public_id)
    names = files_of(team)
    with django_capture_on_commit_callbacks(execute=True):
        assert delete(owner_client).status_code == 302
    assert Workspace.objects.get(pk=team.pk).closed_at is not None
    assert not Composition.objects.filter(workspace=team).exists()
    assert not any(default_storage.exists(n) for n in names)


def test_memberships_of_other_teams_go_and_their_compositions_stay(
    owner, make_user, client, django_capture_on_commit_callbacks
):
    member = make_user("member@example.com")
    team = owner.current_workspace  # the owner's personal workspace stands in for a team
    Workspace.objects.filter(pk=team.pk).update(kind="team")
    Membership.objects.create(workspace=team, user=member)
    switch_workspace(user=member, workspace=team)
    made = compose(member)
    client.force_login(member)
    with django_capture_on_commit_callbacks(execute=True):
        assert delete(client).status_code == 302
    assert not Membership.objects.filter(user_id=member.pk).exists()
    made.refresh_from_db()
    assert made.created_by is None and made.inputs.count() == 2


def test_a_moderator_with_an_audit_history_is_refused(owner, make_user, client):
    moderator = make_user("mod@example.com")
    composition = compose(owner)
    run_composition(composition.public_id)
    remove_content(target=composition.results.get(), actor=moderator, reason="spam")
    client.force_login(moderator)
    response = delete(client)
    assert response.status_code == 400
    assert b"audit log" in response.content
    assert User.objects.filter(pk=moderator.pk).exists()


def test_the_closed_wallet_gets_no_monthly_grant(owner, with_work, client):
    from datetime import UTC, datetime

    from billing.services import grant_monthly_credits

    client.force_login(owner)
    delete(client)
    assert grant_monthly_credits(now=datetime(2030, 1, 5, tzinfo=UTC)) == 0


def test_an_account_with_a_saved_reference_is_deleted_with_its_images(
    owner_client, owner, django_capture_on_commit_callbacks
):
    from compositions.options import NewImage
    from conftest import SAMPLES
    from references.models import Reference
    from references.services import create_reference

    workspace = owner.current_workspace
    with (SAMPLES / "coffee.png").open("rb") as fh:
        create_reference(
            workspace=workspace,
            user=owner,
            name="Blue mug",
            kind="product",
            images=[NewImage(name="coffee.png", fileobj=fh, size=None)],
        )
    names = [n for u in Upload.all_objects.filter(workspace=workspace) for n in (u.file.name,)]
    with django_capture_on_commit_callbacks(execute=True):
        response = delete(owner_client)
    assert response.status_code == 302, response.content[:500]
    assert not User.objects.filter(pk=owner.pk).exists()
    assert not Reference.objects.filter(workspace=workspace).exists()
    assert not any(default_storage.exists(n) for n in names)
