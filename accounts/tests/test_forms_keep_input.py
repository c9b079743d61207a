"""A refused form on the workspace page comes back with what was typed and the message beside
its field, instead of a redirect that loses the input; the header's switcher and the account
pages in the site's words."""

import re

import pytest
from django.urls import reverse

from accounts.models import ApiToken, Invitation
from accounts.services import create_team
from webhooks.models import Webhook

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(owner):
    return create_team(owner=owner, name="Acme Studio")


def field_error(page: str, error_id: str) -> str:
    found = re.search(rf'<p class="field-error" id="{error_id}">([^<]+)</p>', page)
    assert found, f"no error #{error_id} on the page"
    return found.group(1)


def test_a_refused_token_keeps_its_name_scopes_and_expiry(owner_client, owner):
    response = owner_client.post(
        reverse("accounts:create_token"),
        {"name": "Nightly export", "scopes": ["usage:read"], "expires_in_days": "9999"},
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert field_error(page, "token-days-error") == (
        "Expiry must be 1 to 3650 days, or empty for none."
    )
    assert 'value="Nightly export"' in page and 'value="9999"' in page
    assert re.search(r'value="usage:read"\s+checked', page)
    assert not re.search(r'value="compositions:read"\s+checked', page)
    assert 'aria-describedby="token-days-error"' in page
    assert not ApiToken.objects.exists()


def test_a_token_without_a_name_says_so_beside_the_name(owner_client):
    page = owner_client.post(
        reverse("accounts:create_token"), {"name": "  ", "expires_in_days": "30"}
    ).content.decode()
    assert field_error(page, "token-name-error") == "Give the token a name."
    assert 'value="30"' in page
    assert not ApiToken.objects.exists()


def test_a_refused_webhook_keeps_its_url_and_events(owner_client, settings):
    settings.BANANASITE_FETCH_ALLOW_NETWORKS = []
    response = owner_client.post(
        reverse("webhooks:create"),
        {"url": "http://127.0.0.1:9/hook", "events": ["composition.failed"]},
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert field_error(page, "hook-url-error").startswith("That endpoint cannot be used")
    assert 'value="http://127.0.0.1:9/hook"' in page
    assert re.search(r'value="composition.failed"\s+checked', page)
    assert not re.search(r'value="composition.succeeded"\s+checked', page)
    assert not Webhook.objects.exists()


def test_a_webhook_without_events_says_so_beside_the_events(owner_client):
    page = owner_client.post(
        reverse("webhooks:create"), {"url": "https://hooks.example.com/x"}
    ).content.decode()
    assert field_error(page, "hook-events-error") == "Pick at least one event."
    assert 'value="https://hooks.example.com/x"' in page
    assert not Webhook.objects.exists()


def test_a_refused_invitation_and_team_keep_what_was_typed(owner, team, owner_client):
    page = owner_client.post(
        reverse("accounts:invite"), {"email": "not an address", "role": "admin"}
    ).content.decode()
    assert field_error(page, "invite-email-error") == "Enter a valid email address."
    assert 'value="not an address"' in page
    assert re.search(r'value="admin"\s+selected', page)
    assert not Invitation.objects.exists()
    page = owner_client.post(reverse("accounts:create_team"), {"name": "   "}).content.decode()
    assert field_error(page, "team-name-error") == "Give the team a name."


def test_a_stranger_cannot_post_the_forms_of_a_team_they_are_not_managing(
    owner, team, stranger_client
):
    # The stranger works in their own personal workspace: the token lands there, never in
    # the team, and webhooks likewise.
    stranger_client.post(reverse("accounts:create_token"), {"name": "mine"})
    assert not ApiToken.objects.filter(workspace=team).exists()


def test_switching_waits_for_the_button_and_lands_on_that_workspaces_history(
    owner, team, owner_client
):
    page = owner_client.get(reverse("compositions:compose")).content.decode()
    switcher = re.search(r'<form[^>]*class="switcher".*?</form>', page, re.S).group(0)
    assert "onchange" not in switcher and ">Switch</button>" in switcher
    personal = owner.memberships.get(workspace__kind="personal").workspace
    response = owner_client.post(reverse("accounts:switch"), {"workspace": personal.slug})
    assert response["Location"] == reverse("compositions:history")
    owner.refresh_from_db()
    assert owner.current_workspace == personal


def test_one_workspace_has_no_switcher(owner_client):
    page = owner_client.get(reverse("compositions:compose")).content.decode()
    assert 'class="switcher"' not in page


@pytest.mark.parametrize(
    ("url", "heading"),
    [
        ("/accounts/login/", "Sign in"),
        ("/accounts/signup/", "Create your account"),
        ("/accounts/password/reset/", "Reset your password"),
        ("/accounts/password/reset/done/", "Check your email"),
        ("/accounts/password/reset/key/1-bad/", "This link does not work"),
        ("/accounts/confirm-email/bad-key/", "Confirm your email address"),
    ],
)
def test_account_pages_use_the_site_layout_and_words(client, url, heading):
    page = client.get(url).content.decode()
    assert f"<h1>{heading}</h1>" in page
    assert 'class="skip-link"' in page and '<main id="main"' in page
    assert "site.css" in page


def test_sign_in_errors_keep_the_email_and_sit_in_the_form(client, owner):
    page = client.post(
        reverse("account_login"), {"login": "owner@example.com", "password": "wrong"}
    ).content.decode()
    assert 'class="form-errors" role="alert"' in page
    assert 'value="owner@example.com"' in page
