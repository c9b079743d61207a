"""Two-factor sign-in (allauth.mfa): signing in with an authenticator app's code and with a
recovery code, setting it up through the pages, a team that requires it, staff who must use it.

Codes are computed here (conftest.totp_code, RFC 6238), at times fixed with time-machine."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.middleware import SETUP_NEXT
from accounts.models import Membership, User
from accounts.services import create_api_token, create_team, set_mfa_requirement
from conftest import give_totp, totp_code
from moderation.apps import MODERATORS_GROUP

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"
NOON = datetime(2026, 12, 3, 12, 0, 10, tzinfo=UTC)


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def start_sign_in(client, user):
    """The first step: email and password. Returns the response (a redirect)."""
    return client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})


def signed_in_as(client) -> int | None:
    raw = client.session.get("_auth_user_id")
    return int(raw) if raw else None


@pytest.fixture
def member(make_user):
    return make_user("member@example.com")


@pytest.fixture
def team(owner, member):
    team = create_team(owner=owner, name="Acme Studio")
    Membership.objects.create(workspace=team, user=member, role=Membership.Role.MEMBER)
    member.current_workspace = team
    member.save(update_fields=["current_workspace"])
    return team


@pytest.fixture
def strict_team(team, owner):
    give_totp(owner)
    set_mfa_requirement(actor=owner, workspace=team, required=True)
    return team


# --- Signing in ---------------------------------------------------------------------------------


def test_a_password_alone_does_not_sign_in_someone_with_an_authenticator(client, owner):
    give_totp(owner)
    response = start_sign_in(client, owner)
    assert response.status_code == 302 and response["Location"] == reverse("mfa_authenticate")
    assert signed_in_as(client) is None
    assert client.get(reverse("compositions:compose")).status_code == 302  # to sign-in


def test_sign_in_with_the_code_of_the_authenticator_app(client, owner):
    secret = give_totp(owner)
    with time_machine.travel(NOON, tick=False):
        start_sign_in(client, owner)
        page = client.get(reverse("mfa_authenticate")).content.decode()
        assert "Enter the 6-digit code" in page
        assert "Use a passkey" not in page  # they have none
        response = client.post(reverse("mfa_authenticate"), {"code": totp_code(secret)})
    assert response.status_code == 302 and response["Location"] == reverse("compositions:compose")
    assert signed_in_as(client) == owner.pk


def test_a_wrong_or_stale_code_is_refused(client, owner):
    secret = give_totp(owner)
    with time_machine.travel(NOON, tick=False):
        start_sign_in(client, owner)
        wrong = client.post(reverse("mfa_authenticate"), {"code": "000000"})
        assert wrong.status_code == 200 and "Incorrect code" in wrong.content.decode()
        # The code of two minutes ago: the app has moved on, and so has the server.
        stale = totp_code(secret, NOON.timestamp() - 120)
        assert stale != totp_code(secret)
        refused = client.post(reverse("mfa_authenticate"), {"code": stale})
        assert refused.status_code == 200 and signed_in_as(client) is None
    # Half a minute later the app shows the next code, and it works.
    with time_machine.travel(NOON + timedelta(seconds=30), tick=False):
        ok = client.post(reverse("mfa_authenticate"), {"code": totp_code(secret)})
    assert ok.status_code == 302 and signed_in_as(client) == owner.pk


def test_a_code_cannot_be_replayed_within_its_period(owner):
    secret = give_totp(owner)
    with time_machine.travel(NOON, tick=False):
        code = totp_code(secret)
        first = Client()
        start_sign_in(first, owner)
        assert first.post(reverse("mfa_authenticate"), {"code": code}).status_code == 302
        thief = Client()
        start_sign_in(thief, owner)
        again = thief.post(reverse("mfa_authenticate"), {"code": code})
    assert again.status_code == 200 and signed_in_as(thief) is None


def test_a_recovery_code_signs_in_once(owner):
    give_totp(owner)
    codes = RecoveryCodes.activate(owner).generate_codes()
    assert len(codes) == 10
    first = Client()
    start_sign_in(first, owner)
    response = first.post(reverse("mfa_authenticate"), {"code": codes[3]})
    assert response.status_code == 302 and signed_in_as(first) == owner.pk
    # Used: the same code is refused the next time, another one still works.
    second = Client()
    start_sign_in(second, owner)
    reused = second.post(reverse("mfa_authenticate"), {"code": codes[3]})
    assert reused.status_code == 200 and "Incorrect code" in reused.content.decode()
    assert signed_in_as(second) is None
    assert second.post(reverse("mfa_authenticate"), {"code": codes[4]}).status_code == 302
    assert signed_in_as(second) == owner.pk
    index = client_for(owner).get(reverse("mfa_index")).content.decode()
    assert "8 of 10 recovery codes left" in index


# --- Setting it up ------------------------------------------------------------------------------


def test_setting_up_an_authenticator_app_through_the_pages(client, owner):
    with time_machine.travel(NOON, tick=False):
        start_sign_in(client, owner)
        index = client.get(reverse("mfa_index"))
        assert "Two-factor sign-in is off" in index.content.decode()
        # Changing how one signs in asks for the password again first.
        asked = client.get(reverse("mfa_activate_totp"))
        assert asked["Location"].startswith(reverse("account_reauthenticate"))
        client.post(asked["Location"], {"password": PASSWORD})
        page = client.get(reverse("mfa_activate_totp"))
        html = page.content.decode()
        secret = re.search(r'id="totp-secret"[^>]*>([A-Z2-7]+)<', html).group(1)
        assert 'class="qr"' in html and "otpauth" not in html  # the QR code is an image
        wrong = client.post(reverse("mfa_activate_totp"), {"code": "123456"})
        assert wrong.status_code == 200 and not Authenticator.objects.filter(user=owner).exists()
        response = client.post(reverse("mfa_activate_totp"), {"code": totp_code(secret)})
        assert response["Location"] == reverse("mfa_view_recovery_codes")
        codes = client.get(reverse("mfa_view_recovery_codes")).content.decode()
    kinds = set(Authenticator.objects.filter(user=owner).values_list("type", flat=True))
    assert kinds == {"totp", "recovery_codes"}
    listed = re.search(r'<textarea id="recovery_codes"[^>]*>([^<]*)</textarea>', codes).group(1)
    assert len(re.findall(r"\b\d{8}\b", listed)) == 10 and "10 of 10 codes left" in codes
    assert "Two-factor sign-in is on" in client.get(reverse("mfa_index")).content.decode()


def test_the_account_pages_lead_to_two_factor_settings(owner_client):
    page = owner_client.get(reverse("account_change_password")).content.decode()
    assert f'href="{reverse("mfa_index")}"' in page


def test_an_unverified_address_is_told_to_verify_first(client, make_user):
    client.post(
        reverse("account_signup"),
        {"email": "new@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    page = client.get(reverse("mfa_index")).content.decode()
    assert "Verify your email address first" in page
    refused = client.get(reverse("mfa_activate_totp"))
    assert refused["Location"] == reverse("mfa_index")


# --- A team that requires it -------------------------------------------------------------------


def test_a_member_without_two_factor_is_sent_to_set_it_up(strict_team, member):
    client = client_for(member)
    for url in (
        reverse("compositions:compose"),
        reverse("compositions:history"),
        reverse("accounts:workspace"),
        reverse("billing:usage"),
    ):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"] == reverse("mfa_index"), url
    page = client.get(reverse("mfa_index")).content.decode()
    assert "Acme Studio requires two-factor sign-in" in page
    assert "Switch to my personal workspace" in page
    # Posting to the team is refused the same way: nothing is created.
    upload = client.post(reverse("compositions:compose_upload"), {})
    assert upload["Location"] == reverse("mfa_index")


def test_the_setup_pages_sign_out_and_the_personal_workspace_stay_reachable(strict_team, member):
    client = client_for(member)
    assert client.get(reverse("mfa_index")).status_code == 200
    assert client.get(reverse("account_email")).status_code == 200
    personal = member.memberships.get(workspace__kind="personal").workspace
    switched = client.post(reverse("accounts:switch"), {"workspace": personal.slug})
    assert switched["Location"] == reverse("compositions:history")
    assert client.get(reverse("compositions:compose")).status_code == 200
    # Back to the team: stopped again.
    client.post(reverse("accounts:switch"), {"workspace": strict_team.slug})
    assert client.get(reverse("compositions:compose"))["Location"] == reverse("mfa_index")
    assert client.post(reverse("account_logout")).status_code == 302
    assert signed_in_as(client) is None


def test_a_member_with_two_factor_reaches_the_team_and_is_led_back(strict_team, member):
    client = client_for(member)
    client.get(reverse("compositions:history") + "?favourites=1")
    assert client.session[SETUP_NEXT] == "/history/?favourites=1"
    give_totp(member)
    page = client.get(reverse("mfa_index")).content.decode()
    assert "Continue where you were going" in page and "/history/?favourites=1" in page
    assert client.get(reverse("compositions:compose")).status_code == 200
    assert client.get(reverse("accounts:workspace")).status_code == 200
    assert SETUP_NEXT not in client.session


def test_recovery_codes_alone_are_not_a_second_factor(strict_team, member):
    RecoveryCodes.activate(member)
    response = client_for(member).get(reverse("compositions:compose"))
    assert response["Location"] == reverse("mfa_index")


def test_api_tokens_are_unaffected_and_a_session_is_told_why(strict_team, member):
    _, raw = create_api_token(workspace=strict_team, user=member, name="CI")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api.get("/api/v1/compositions").status_code == 200
    assert api.get("/api/v1/me").status_code == 200
    session = APIClient()
    session.force_login(member)
    refused = session.get("/api/v1/compositions")
    assert refused.status_code == 403 and refused["Content-Type"] == "application/problem+json"
    assert refused.json()["code"] == "mfa_required"
    give_totp(member)
    assert session.get("/api/v1/compositions").status_code == 200


def test_a_team_that_does_not_require_it_lets_everyone_in(team, member):
    assert client_for(member).get(reverse("compositions:compose")).status_code == 200


def test_only_the_owner_requires_it_and_only_with_two_factor_themselves(team, owner, member):
    Membership.objects.filter(workspace=team, user=member).update(role=Membership.Role.ADMIN)
    url = reverse("accounts:require_mfa")
    admin_client = client_for(member)
    give_totp(member)
    admin_client.post(url, {"require_mfa": "on"})
    team.refresh_from_db()
    assert team.require_mfa is False
    owner.current_workspace = team
    owner.save(update_fields=["current_workspace"])
    owner_client = client_for(owner)
    refused = owner_client.post(url, {"require_mfa": "on"}, follow=True)
    assert "Set up two-factor sign-in for yourself first" in refused.content.decode()
    team.refresh_from_db()
    assert team.require_mfa is False
    give_totp(owner)
    done = owner_client.post(url, {"require_mfa": "on"}, follow=True).content.decode()
    team.refresh_from_db()
    assert team.require_mfa is True and "now needs two-factor sign-in" in done
    assert "require-mfa-form" in done and "checked" in done
    owner_client.post(url, {})
    team.refresh_from_db()
    assert team.require_mfa is False


def test_the_owner_sees_who_has_two_factor(strict_team, owner, member):
    owner.current_workspace = strict_team
    owner.save(update_fields=["current_workspace"])
    page = client_for(owner).get(reverse("accounts:workspace")).content.decode()
    row = re.search(r'"Email">member@example\.com.*?</td>', page, re.S).group(0)
    assert "no two-factor" in row
    owner_row = re.search(r'"Email">owner@example\.com.*?</td>', page, re.S).group(0)
    assert "two-factor" in owner_row and "no two-factor" not in owner_row


def test_a_personal_workspace_cannot_require_it(owner, owner_client):
    give_totp(owner)
    owner_client.post(reverse("accounts:require_mfa"), {"require_mfa": "on"})
    owner.refresh_from_db()
    assert owner.current_workspace.require_mfa is False


def test_a_stranger_cannot_change_another_teams_requirement(strict_team, stranger):
    """The form acts on the caller's own current workspace only: a stranger's post changes
    their personal workspace (refused), never the team."""
    give_totp(stranger)
    client_for(stranger).post(reverse("accounts:require_mfa"), {})
    strict_team.refresh_from_db()
    assert strict_team.require_mfa is True


# --- Staff and moderators -----------------------------------------------------------------------


def test_staff_without_two_factor_are_sent_to_set_it_up_before_the_admin(make_user):
    staff = make_user("staff@example.com")
    staff.is_staff = True
    staff.save(update_fields=["is_staff"])
    client = client_for(staff)
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"] == reverse("mfa_index")
    assert (
        "Staff and moderators sign in with two factors"
        in client.get(reverse("mfa_index")).content.decode()
    )
    # Their own workspace is not the admin: it stays open.
    assert client.get(reverse("compositions:compose")).status_code == 200
    give_totp(staff)
    assert client.get("/admin/").status_code == 200


def test_moderators_need_it_for_the_queue(make_user):
    moderator = make_user("mod@example.com")
    moderator.is_staff = True
    moderator.save(update_fields=["is_staff"])
    moderator.groups.add(Group.objects.get(name=MODERATORS_GROUP))
    client = client_for(moderator)
    queue = reverse("admin:moderation_moderationqueue_changelist")
    assert client.get(queue)["Location"] == reverse("mfa_index")
    give_totp(moderator)
    assert client.get(queue).status_code == 200


def test_the_admin_signs_in_through_the_site_with_the_second_factor(client, make_user):
    boss = User.objects.create_superuser("boss@example.com", PASSWORD)
    secret = give_totp(boss)
    to_admin_login = client.get("/admin/")
    assert to_admin_login["Location"].startswith("/admin/login/")
    to_site = client.get(to_admin_login["Location"])
    assert to_site["Location"] == reverse("account_login") + "?next=%2Fadmin%2F"
    # The admin's own password form is gone: posting to it signs no one in.
    client.post("/admin/login/", {"username": boss.email, "password": PASSWORD})
    assert signed_in_as(client) is None
    with time_machine.travel(NOON, tick=False):
        client.post(
            reverse("account_login"),
            {"login": boss.email, "password": PASSWORD, "next": "/admin/"},
        )
        done = client.post(reverse("mfa_authenticate"), {"code": totp_code(secret)})
    assert done["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_signed_in_people_who_are_not_staff_are_refused_the_admin(owner_client):
    assert owner_client.get("/admin/login/?next=/admin/").status_code == 403
