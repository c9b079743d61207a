import re

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.urls import reverse

from accounts.models import Membership, User, Workspace
from accounts.services import current_workspace_for

pytestmark = pytest.mark.django_db


def test_sign_up_creates_a_personal_workspace_and_signs_in(client):
    response = client.post(
        reverse("account_signup"),
        {
            "email": "New.Person@Example.com",
            "password1": "a-long pass 9",
            "password2": "a-long pass 9",
        },
    )
    assert response.status_code == 302
    user = User.objects.get()
    assert user.email == "new.person@example.com"
    membership = Membership.objects.get(user=user)
    assert membership.role == "owner" and membership.workspace.kind == "personal"
    assert user.current_workspace == membership.workspace
    assert client.get(reverse("compositions:compose")).status_code == 200


def test_sign_up_with_a_taken_email_is_refused(client, owner):
    response = client.post(
        reverse("account_signup"),
        {"email": "OWNER@example.com", "password1": "a-long pass 9", "password2": "a-long pass 9"},
    )
    assert response.status_code == 200
    assert User.objects.count() == 1


def test_log_in_and_log_out(client, owner):
    response = client.post(
        reverse("account_login"), {"login": owner.email, "password": "correct horse battery"}
    )
    assert response.status_code == 302
    assert client.get(reverse("compositions:history")).status_code == 200
    client.post(reverse("account_logout"))
    assert client.get(reverse("compositions:history")).status_code == 302


def test_wrong_password_is_refused(client, owner):
    response = client.post(reverse("account_login"), {"login": owner.email, "password": "nope"})
    assert response.status_code == 200
    assert "not correct" in response.content.decode()


def test_password_reset_by_email(client, owner):
    client.post(reverse("account_reset_password"), {"email": owner.email})
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^\s]+/password/reset/key/[^\s]+", mail.outbox[0].body).group(0)
    path = link.split("testserver", 1)[1]
    form_page = client.get(path, follow=True)
    post_url = form_page.redirect_chain[-1][0] if form_page.redirect_chain else path
    response = client.post(
        post_url, {"password1": "brand new pass 7", "password2": "brand new pass 7"}
    )
    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.check_password("brand new pass 7")


def test_mandatory_email_verification_can_be_switched_on(client, settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    client.post(
        reverse("account_signup"),
        {"email": "v@example.com", "password1": "a-long pass 9", "password2": "a-long pass 9"},
    )
    assert len(mail.outbox) == 1 and "confirm" in mail.outbox[0].body.lower()
    response = client.get(reverse("compositions:compose"))
    assert response.status_code == 302  # not signed in until the address is confirmed


def test_current_workspace_falls_back_to_personal_when_membership_ends(owner):
    team = Workspace.objects.create(slug="team-x", name="Team X", kind="team")
    membership = Membership.objects.create(workspace=team, user=owner)
    owner.current_workspace = team
    owner.save()
    assert current_workspace_for(user=owner) == team
    membership.delete()
    assert current_workspace_for(user=owner).kind == "personal"


def test_create_user_command(capsys):
    call_command("create_user", "ops@example.com", "--password", "pw-123456", "--team", "acme")
    out = capsys.readouterr().out
    user = User.objects.get(email="ops@example.com")
    assert user.check_password("pw-123456")
    assert "personal workspace" in out and "acme" in out
    assert Membership.objects.get(user=user, workspace__slug="acme").role == "member"
    assert user.emailaddress_set.get().verified
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_user", "OPS@example.com")
    with pytest.raises(CommandError, match="not an email"):
        call_command("create_user", "nonsense")
