"""Favourites, collections and share links: scoping, expiry, revocation, removed content."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from compositions.tasks import run_composition
from compositions.tests.factories import compose
from moderation.services import create_report, remove_content
from sharing import services
from sharing.models import Collection, ShareLink

pytestmark = pytest.mark.django_db


@pytest.fixture
def finished(owner):
    composition = compose(owner, prompt="a secret prompt about the cat")
    run_composition(composition.public_id)
    composition.refresh_from_db()
    return composition


def share_result(client, result, **extra):
    response = client.post(reverse("sharing:share"), {"result": result.public_id, **extra})
    assert response.status_code == 200, response.content
    return response.context["url"]


def test_a_shared_result_shows_only_that_image_to_anyone(owner, owner_client, client, finished):
    other = compose(owner, prompt="another")
    run_composition(other.public_id)
    result = finished.results.get()
    url = share_result(owner_client, result)
    link = ShareLink.objects.get()
    assert link.token_hash not in url and url.split("/s/")[1].rstrip("/") not in str(
        ShareLink.objects.values_list()
    )  # only the hash is stored

    from django.test import Client

    anonymous = Client()
    page = anonymous.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="robots" content="noindex' in html and page["X-Robots-Tag"].startswith("noindex")
    assert result.public_id in html
    assert "a secret prompt" not in html  # the prompt only when chosen
    assert other.results.get().public_id not in html
    assert finished.inputs.first().upload.public_id not in html  # never the inputs
    assert "Sign out" not in html and "History" not in html
    image = anonymous.get(f"{url}{result.public_id}/image")
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    assert anonymous.get(f"{url}{other.results.get().public_id}/image").status_code == 404


def test_the_prompt_shows_when_chosen(owner_client, client, finished):
    url = share_result(owner_client, finished.results.get(), show_prompt="on")
    assert "a secret prompt" in client.get(url).content.decode()


def test_revocation_is_immediate_for_the_page_and_its_images(owner_client, client, finished):
    result = finished.results.get()
    url = share_result(owner_client, result)
    assert client.get(url).status_code == 200
    link = ShareLink.objects.get()
    owner_client.post(reverse("sharing:revoke", args=[link.public_id]))
    assert client.get(url).status_code == 404
    assert client.get(f"{url}{result.public_id}/image").status_code == 404


def test_an_expired_link_is_gone(owner_client, client, finished):
    result = finished.results.get()
    tomorrow = timezone.now().date() + timedelta(days=1)
    url = share_result(owner_client, result, expires_on=tomorrow.isoformat())
    assert client.get(url).status_code == 200
    with time_machine.travel(timezone.now() + timedelta(days=3)):
        assert client.get(url).status_code == 410
        assert client.get(f"{url}{result.public_id}/image").status_code == 404


def test_a_past_expiry_date_is_refused_and_nothing_created(owner_client, finished):
    yesterday = timezone.now().date() - timedelta(days=1)
    response = owner_client.post(
        reverse("sharing:share"),
        {"result": finished.results.get().public_id, "expires_on": yesterday.isoformat()},
        follow=True,
    )
    assert "The expiry date is in the past." in response.content.decode()
    assert not ShareLink.objects.exists()


def test_removed_content_never_shows(owner, owner_client, client, finished, make_user):
    result = finished.results.get()
    url = share_result(owner_client, result)
    collection = services.create_collection(
        workspace=owner.current_workspace, user=owner, name="Cats"
    )
    services.add_to_collection(collection=collection, composition=finished)
    _link, raw = services.create_share_link(
        workspace=owner.current_workspace, user=owner, collection=collection
    )
    collection_url = reverse("sharing:public", args=[raw])
    assert result.public_id in client.get(collection_url).content.decode()
    moderator = make_user("mod@example.com")
    create_report(
        reporter=owner,
        workspace=owner.current_workspace,
        target_type="result",
        target_id=result.public_id,
        reason="violence",
    )
    remove_content(target=result, actor=moderator, reason="violent")
    assert client.get(url).status_code == 200  # the link itself lives on, showing nothing
    assert result.public_id not in client.get(url).content.decode()
    assert result.public_id not in client.get(collection_url).content.decode()
    assert client.get(f"{collection_url}{result.public_id}/image").status_code == 404
    # And the owner is told, in plain words, on the composition and in history.
    notice = "removed by a moderator on"
    assert notice in owner_client.get(finished.get_absolute_url()).content.decode()
    history = owner_client.get(reverse("compositions:history")).content.decode()
    assert notice in history and "Violence" in history


def test_a_deleted_composition_leaves_its_links(owner, owner_client, client, finished):
    url = share_result(owner_client, finished.results.get())
    owner_client.post(reverse("compositions:delete", args=[finished.public_id]))
    assert client.get(url).status_code == 404
    assert not ShareLink.objects.exists()


def test_another_workspace_cannot_share_or_collect_my_things(
    owner, stranger, stranger_client, finished
):
    result = finished.results.get()
    response = stranger_client.post(reverse("sharing:share"), {"result": result.public_id})
    assert response.status_code == 404
    mine = services.create_collection(workspace=owner.current_workspace, user=owner, name="Mine")
    response = stranger_client.post(reverse("sharing:share"), {"collection": mine.public_id})
    assert response.status_code == 404
    theirs = services.create_collection(
        workspace=stranger.current_workspace, user=stranger, name="Theirs"
    )
    response = stranger_client.post(
        reverse("sharing:collect", args=[finished.public_id]), {"collection": theirs.public_id}
    )
    assert response.status_code == 404
    assert (
        stranger_client.post(reverse("sharing:favourite", args=[finished.public_id])).status_code
        == 404
    )
    # Nor revoke my links.
    link, _ = services.create_share_link(
        workspace=owner.current_workspace, user=owner, result=result
    )
    assert stranger_client.post(reverse("sharing:revoke", args=[link.public_id])).status_code == 404
    assert ShareLink.objects.get().revoked_at is None
    assert not ShareLink.objects.filter(workspace=stranger.current_workspace).exists()


def test_no_enumeration_unknown_and_malformed_tokens_are_404(client, owner, finished):
    services.create_share_link(
        workspace=owner.current_workspace, user=owner, result=finished.results.get()
    )
    for token in ["shr_" + "A" * 43, "shr_x", "shr_" + "a" * 200]:
        assert client.get(f"/s/{token}/").status_code == 404
    link = ShareLink.objects.get()
    assert client.get(f"/s/{link.public_id}/").status_code == 404  # the public id is no key


def test_favourites_are_per_person_and_collections_filter_history(
    owner, owner_client, finished, make_user
):
    from accounts.models import Membership

    plain = compose(owner, prompt="not starred")
    colleague = make_user("colleague@example.com")
    Membership.objects.create(user=colleague, workspace=owner.current_workspace, role="member")
    colleague.current_workspace = owner.current_workspace
    colleague.save()
    owner_client.post(reverse("sharing:favourite", args=[finished.public_id]))
    owner_client.post(reverse("sharing:collect", args=[plain.public_id]), {"new_name": "Drafts"})
    url = reverse("compositions:history")
    assert [c.pk for c in owner_client.get(url, {"fav": "1"}).context["page"]] == [finished.pk]
    collection = Collection.objects.get(name="Drafts")
    assert [
        c.pk for c in owner_client.get(url, {"collection": collection.public_id}).context["page"]
    ] == [plain.pk]
    from django.test import Client

    other = Client()
    other.force_login(colleague)
    assert list(other.get(url, {"fav": "1"}).context["page"]) == []  # per person
    # The collection belongs to the workspace: the colleague sees it.
    assert [c.pk for c in other.get(url, {"collection": collection.public_id}).context["page"]] == [
        plain.pk
    ]
    # Starring again takes the star off.
    owner_client.post(reverse("sharing:favourite", args=[finished.public_id]))
    assert list(owner_client.get(url, {"fav": "1"}).context["page"]) == []


def test_a_collection_name_is_checked_beside_the_field(owner_client):
    response = owner_client.post(reverse("sharing:collections"), {"name": "   "})
    assert response.status_code == 400
    assert "Give the collection a name." in response.content.decode()
    owner_client.post(reverse("sharing:collections"), {"name": "Cats"})
    response = owner_client.post(reverse("sharing:collections"), {"name": "Cats"})
    assert "already has a collection called" in response.content.decode()
    assert Collection.objects.count() == 1
