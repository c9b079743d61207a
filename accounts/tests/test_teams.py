import re
from datetime import timedelta

import pytest
import time_machine
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiToken, Membership, Workspace
from accounts.services import create_api_token, create_team
from billing.models import Wallet

pytestmark = pytest.mark.django_db


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def team(owner):
    return create_team(owner=owner, name="Acme Studio")


def invite(client, email, role="member"):
    client.post(reverse("accounts:invite"), {"email": email, "role": role})
    link = re.search(r"http://testserver(/workspace/join/\S+)", mail.outbox[-1].body).group(1)
    return link


def test_creating_a_team_gives_it_a_wallet_and_makes_it_current(owner, owner_client):
    response = owner_client.post(reverse("accounts:create_team"), {"name": "Night Shift"})
    assert response.status_code == 302
    team = Workspace.objects.get(kind="team")
    owner.refresh_from_db()
    assert owner.current_workspace == team
    assert Membership.objects.get(workspace=team, user=owner).role == "owner"
    # The welcome grant is per person (personal workspace), so teams cannot mint credits.
    assert Wallet.objects.get(workspace=team).balance == 0
    owner_client.post(reverse("accounts:create_team"), {"name": "Second"})
    assert Wallet.objects.filter(workspace__kind="team", balance__gt=0).count() == 0


def verified(user):
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def test_invite_and_accept(owner, team, make_user):
    owner_client = client_for(owner)
    link = invite(owner_client, "friend@example.com")
    assert mail.outbox[-1].to == ["friend@example.com"]
    friend = verified(make_user("friend@example.com"))
    friend_client = client_for(friend)
    page = friend_client.get(link)
    assert "Join Acme Studio" in page.content.decode()
    assert friend_client.post(link).status_code == 302
    assert Membership.objects.get(workspace=team, user=friend).role == "member"
    friend.refresh_from_db()
    assert friend.current_workspace == team
    # The link works once.
    again = friend_client.post(link, follow=True)
    assert "already been used" in again.content.decode()


def test_an_unverified_address_must_be_verified_before_joining(owner, team, make_user):
    """Whoever signs up first with an invited address must prove it is theirs to take the seat."""
    link = invite(client_for(owner), "friend@example.com")
    friend = make_user("friend@example.com")
    EmailAddress.objects.create(user=friend, email=friend.email, verified=False, primary=True)
    friend_client = client_for(friend)
    page = friend_client.get(link).content.decode()
    assert "Send me a verification link" in page and "Accept and join" not in page
    refused = friend_client.post(link, follow=True)
    assert "Verify friend@example.com before joining" in refused.content.decode()
    assert not Membership.objects.filter(workspace=team, user=friend).exists()

    # The page sends allauth's verification link; opening it brings them back here.
    sent = friend_client.post(link, {"verify": "1"}, follow=True)
    assert "We sent a verification link to friend@example.com" in sent.content.decode()
    assert mail.outbox[-1].to == ["friend@example.com"]
    confirm = re.search(r"http://testserver(/accounts/confirm-email/\S+)", mail.outbox[-1].body)
    confirmed = friend_client.post(confirm.group(1))
    assert confirmed.status_code == 302 and confirmed["Location"] == link
    assert EmailAddress.objects.get(user=friend).verified
    page = friend_client.get(link).content.decode()
    assert "Accept and join" in page and "Send me a verification link" not in page
    assert friend_client.post(link).status_code == 302
    assert Membership.objects.get(workspace=team, user=friend).role == "member"


def test_verification_links_are_rate_limited_and_only_for_the_invited_address(
    owner, team, make_user
):
    link = invite(client_for(owner), "friend@example.com")
    sent_before = len(mail.outbox)
    other = client_for(make_user("other@example.com"))
    other.post(link, {"verify": "1"})
    assert len(mail.outbox) == sent_before  # not the invited address: nothing is sent
    assert not EmailAddress.objects.filter(email__iexact="friend@example.com").exists()
    friend = client_for(make_user("friend@example.com"))  # no EmailAddress row at all yet
    friend.post(link, {"verify": "1"})
    assert len(mail.outbox) == sent_before + 1
    again = friend.post(link, {"verify": "1"}, follow=True)
    assert "a moment ago" in again.content.decode()
    assert len(mail.outbox) == sent_before + 1


def test_an_invitation_is_for_its_address_and_expires(owner, team, make_user):
    link = invite(client_for(owner), "friend@example.com")
    other = client_for(make_user("other@example.com"))
    refused = other.post(link, follow=True)
    assert "This invitation is for friend@example.com" in refused.content.decode()
    friend = client_for(verified(make_user("friend@example.com")))
    with time_machine.travel(timezone.now() + timedelta(days=8)):
        late = friend.post(link, follow=True)
    assert "expired" in late.content.decode()
    assert not Membership.objects.filter(workspace=team, user__email="friend@example.com").exists()


def test_anonymous_is_told_who_invited_them_and_must_sign_in_to_accept(owner, team, client):
    link = invite(client_for(owner), "friend@example.com")
    page = client.get(link).content.decode()
    assert "Join Acme Studio" in page and "owner@example.com invited" in page
    assert f"/accounts/signup/?next={link.replace('/', '%2F')}" in page
    response = client.post(link)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert not Membership.objects.filter(workspace=team, user__email="friend@example.com").exists()


def test_members_cannot_invite_or_manage_tokens(owner, team, make_user):
    mate = make_user("mate@example.com")
    Membership.objects.create(workspace=team, user=mate, role="member")
    mate.current_workspace = team
    mate.save()
    mate_client = client_for(mate)
    response = mate_client.post(
        reverse("accounts:invite"), {"email": "x@example.com", "role": "member"}, follow=True
    )
    assert "Only the workspace&#x27;s owners and admins" in response.content.decode()
    assert len(mail.outbox) == 0
    page = mate_client.get(reverse("accounts:workspace")).content.decode()
    assert "API tokens" not in page and "Invite someone" not in page
    token = create_api_token(workspace=team, user=owner, name="t")[0]
    mate_client.post(reverse("accounts:revoke_token", args=[token.public_id]))
    token.refresh_from_db()
    assert token.revoked_at is None


def test_remove_a_member_revokes_their_tokens(owner, team, make_user):
    mate = make_user("mate@example.com")
    Membership.objects.create(workspace=team, user=mate)
    token, raw = create_api_token(workspace=team, user=mate, name="mate's")
    client_for(owner).post(reverse("accounts:remove_member"), {"email": mate.email})
    assert not Membership.objects.filter(workspace=team, user=mate).exists()
    token.refresh_from_db()
    assert token.revoked_at is not None
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api.get("/api/v1/me").status_code == 401


def test_the_owner_cannot_be_removed_and_must_transfer_before_leaving(owner, team, make_user):
    admin = make_user("admin@example.com")
    Membership.objects.create(workspace=team, user=admin, role="admin")
    admin.current_workspace = team
    admin.save()
    client_for(admin).post(reverse("accounts:remove_member"), {"email": owner.email})
    assert Membership.objects.get(workspace=team, user=owner).role == "owner"
    owner_client = client_for(owner)
    response = owner_client.post(reverse("accounts:leave"), follow=True)
    assert "Transfer ownership" in response.content.decode()
    owner_client.post(reverse("accounts:transfer"), {"email": admin.email})
    roles = dict(Membership.objects.filter(workspace=team).values_list("user__email", "role"))
    assert roles == {"owner@example.com": "admin", "admin@example.com": "owner"}
    owner_client.post(reverse("accounts:leave"))
    assert not Membership.objects.filter(workspace=team, user=owner).exists()
    owner.refresh_from_db()
    assert owner.current_workspace is None  # falls back to the personal one on the next request
    assert client_for(owner).get(reverse("compositions:history")).status_code == 200


def test_switching_workspace_changes_what_history_shows(owner, team, owner_client):
    from compositions.tests.factories import compose

    personal = Workspace.objects.get(kind="personal", memberships__user=owner)
    owner.current_workspace = personal
    owner.save()
    compose(owner, prompt="personal one")
    from billing.services import grant_credits

    grant_credits(wallet=Wallet.objects.get(workspace=team), amount=10, reason="team credits")
    owner_client.post(reverse("accounts:switch"), {"workspace": team.slug, "next": "/history/"})
    owner.refresh_from_db()
    compose(owner, prompt="team one")
    html = owner_client.get(reverse("compositions:history")).content.decode()
    assert "team one" in html and "personal one" not in html
    # Only one's own workspaces can be switched to.
    stranger_ws = Workspace.objects.create(slug="elsewhere", name="Elsewhere", kind="team")
    response = owner_client.post(reverse("accounts:switch"), {"workspace": stranger_ws.slug})
    assert response.status_code == 404


def test_teammates_share_compositions_but_quotas_are_per_member(owner, team, make_user):
    from billing.models import Plan
    from billing.services import QuotaExceeded, grant_credits
    from compositions.tests.factories import compose

    Plan.objects.filter(code="free").update(daily_images_per_member=1)
    grant_credits(wallet=Wallet.objects.get(workspace=team), amount=50, reason="team credits")
    mate = make_user("mate@example.com")
    Membership.objects.create(workspace=team, user=mate)
    mate.current_workspace = team
    mate.save()
    mine = compose(owner, prompt="by owner")
    compose(mate, prompt="by mate")
    with pytest.raises(QuotaExceeded):
        compose(mate, prompt="one too many")
    html = client_for(mate).get(reverse("compositions:history")).content.decode()
    assert "by owner" in html and "by mate" in html
    assert client_for(mate).get(mine.get_absolute_url()).status_code == 200
    assert Wallet.objects.get(workspace=team).balance == 48  # one shared wallet


def test_token_is_shown_once_and_stored_hashed(owner, owner_client):
    response = owner_client.post(
        reverse("accounts:create_token"),
        {"name": "CI", "scopes": ["compositions:read", "usage:read"], "expires_in_days": "30"},
    )
    raw = re.search(r'<code id="new-token">(bns_[^<]+)</code>', response.content.decode()).group(1)
    token = ApiToken.objects.get(name="CI")
    assert token.scopes == ["compositions:read", "usage:read"]
    assert token.expires_at > timezone.now() + timedelta(days=29)
    assert raw not in owner_client.get(reverse("accounts:workspace")).content.decode()
    assert Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/v1/me").status_code == 200
    owner_client.post(reverse("accounts:revoke_token", args=[token.public_id]))
    assert Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/v1/me").status_code == 401


def test_create_api_token_command(owner, capsys):
    from django.core.management import CommandError, call_command

    slug = owner.current_workspace.slug
    call_command("create_api_token", slug, "--name", "ops", "--scopes", "usage:read")
    raw = capsys.readouterr().out.strip()
    assert raw.startswith("bns_")
    assert Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/v1/usage").status_code == 200
    assert Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/v1/compositions").status_code == 403
    with pytest.raises(CommandError, match="Unknown scope"):
        call_command("create_api_token", slug, "--name", "x", "--scopes", "admin:all")


def test_webhook_log_and_redeliver_from_the_ui(
    owner, owner_client, settings, django_capture_on_commit_callbacks
):
    from webhooks.models import Webhook, WebhookDelivery

    settings.BANANASITE_FETCH_ALLOW_NETWORKS = ["127.0.0.1/32"]
    owner_client.post(
        reverse("webhooks:create"),
        {"url": "http://127.0.0.1:9/hook", "events": ["composition.failed"]},
    )
    hook = Webhook.objects.get()
    delivery = WebhookDelivery.objects.create(
        webhook=hook, event="composition.failed", payload={"x": 1}, status="failed", attempts=7
    )
    page = owner_client.get(reverse("accounts:workspace")).content.decode()
    assert "Recent deliveries" in page and "Redeliver" in page
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(reverse("webhooks:redeliver", args=[delivery.public_id]))
    delivery.refresh_from_db()
    assert delivery.attempts == 1  # a new round, sent at once (port 9 refuses: it will retry)
    assert delivery.status == "pending" and delivery.last_error


def test_members_are_named_by_email_and_only_this_workspaces_count(owner, team, stranger):
    owner_client = client_for(owner)
    # A stranger is not a member here: nothing to remove, and no internal id to guess.
    assert (
        owner_client.post(reverse("accounts:remove_member"), {"email": stranger.email}).status_code
        == 404
    )
    link = invite(owner_client, "Friend@Example.com")
    assert link
    owner_client.post(reverse("accounts:cancel_invitation"), {"email": "friend@example.com"})
    from accounts.models import Invitation

    assert not Invitation.objects.filter(workspace=team).exists()
