"""The workspace page's retention form: owners and admins choose forever, 7/30/90/365 days or
a custom number; members see the setting but cannot change it."""

import pytest
from django.urls import reverse

from accounts.models import Membership, Workspace

pytestmark = pytest.mark.django_db

URL = reverse("privacy:retention")


def retention_of(user):
    return Workspace.objects.get(pk=user.current_workspace_id).retention_days


@pytest.mark.parametrize(
    ("data", "days"),
    [
        ({"retention": "30"}, 30),
        ({"retention": "365"}, 365),
        ({"retention": "custom", "custom_days": "45"}, 45),
        ({"retention": "forever", "custom_days": "12"}, None),
    ],
)
def test_an_owner_chooses_how_long_compositions_are_kept(owner_client, owner, data, days):
    Workspace.objects.filter(pk=owner.current_workspace_id).update(retention_days=7)
    response = owner_client.post(URL, data)
    assert response.status_code == 302
    assert retention_of(owner) == days
    page = owner_client.get(reverse("accounts:workspace")).content.decode()
    assert 'id="retention-form"' in page


@pytest.mark.parametrize(
    "data",
    [
        {"retention": "custom", "custom_days": ""},
        {"retention": "custom", "custom_days": "0"},
        {"retention": "custom", "custom_days": "4000"},
        {"retention": "custom", "custom_days": "ten"},
        {"retention": "bogus"},
    ],
)
def test_bad_choices_are_refused_beside_the_field_and_change_nothing(owner_client, owner, data):
    response = owner_client.post(URL, data)
    assert response.status_code == 400
    content = response.content.decode()
    assert "1 to 3650" in content and 'aria-invalid="true"' in content
    assert retention_of(owner) is None


def test_a_custom_value_is_shown_as_custom(owner_client, owner):
    owner_client.post(URL, {"retention": "custom", "custom_days": "45"})
    page = owner_client.get(reverse("accounts:workspace")).content.decode()
    assert 'value="45"' in page and "kept for 45 days" in page


def test_a_member_sees_it_but_cannot_change_it(owner, make_user, client):
    mate = make_user("mate@example.com")
    Membership.objects.create(workspace=owner.current_workspace, user=mate)
    mate.current_workspace = owner.current_workspace
    mate.save()
    client.force_login(mate)
    page = client.get(reverse("accounts:workspace")).content.decode()
    assert "kept until someone deletes them" in page and 'id="retention-form"' not in page
    client.post(URL, {"retention": "7"})
    assert retention_of(owner) is None


def test_a_stranger_changes_only_their_own_workspace(stranger_client, stranger, owner):
    stranger_client.post(URL, {"retention": "7"})
    assert retention_of(stranger) == 7
    assert retention_of(owner) is None


def test_signed_out_is_sent_to_sign_in(client):
    response = client.post(URL, {"retention": "7"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
