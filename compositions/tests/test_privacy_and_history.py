import pytest
from django.urls import reverse

from compositions.models import Composition
from compositions.tasks import run_composition

from .factories import compose

pytestmark = pytest.mark.django_db


@pytest.fixture
def finished(owner):
    composition = compose(owner)
    run_composition(composition.public_id)
    composition.refresh_from_db()
    return composition


def private_urls(composition):
    result = composition.results.get()
    upload = composition.inputs.first().upload
    return {
        "get": [
            reverse("compositions:detail", args=[composition.public_id]),
            reverse("compositions:progress", args=[composition.public_id]),
            reverse("compositions:result_file", args=[result.public_id, "image"]),
            reverse("compositions:result_file", args=[result.public_id, "thumb"]),
            reverse("compositions:result_file", args=[result.public_id, "download"]),
            reverse("compositions:upload_file", args=[upload.public_id, "image"]),
            reverse("compositions:upload_file", args=[upload.public_id, "thumb"]),
            reverse("compositions:compose") + f"?from={result.public_id}",
        ],
        "post": [
            reverse("compositions:cancel", args=[composition.public_id]),
            reverse("compositions:delete", args=[composition.public_id]),
            reverse("compositions:variations", args=[composition.public_id]),
        ],
    }


def test_owner_can_open_everything(owner_client, finished):
    for url in private_urls(finished)["get"]:
        assert owner_client.get(url).status_code == 200, url


def test_stranger_gets_404_for_everything_and_changes_nothing(stranger_client, finished):
    urls = private_urls(finished)
    for url in urls["get"]:
        assert stranger_client.get(url).status_code == 404, url
    for url in urls["post"]:
        assert stranger_client.post(url).status_code == 404, url
    finished.refresh_from_db()
    assert finished.status == "succeeded"
    assert Composition.objects.count() == 1
    assert finished.results.count() == 1


def test_anonymous_is_sent_to_sign_in_for_files(client, finished):
    for url in private_urls(finished)["get"]:
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url


def test_unknown_file_variants_are_404(owner_client, finished):
    result = finished.results.get()
    assert owner_client.get(f"/r/{result.public_id}/original").status_code == 404
    assert (
        owner_client.get(f"/u/{finished.inputs.first().upload.public_id}/download").status_code
        == 404
    )


def test_there_is_no_public_media_url(client, finished):
    result = finished.results.get()
    for prefix in ("/media/", "/ws/", "/"):
        assert client.get(prefix + result.file.name).status_code == 404


def test_history_shows_only_my_workspace_newest_first(owner, stranger, owner_client):
    mine = [compose(owner, prompt=f"mine {i}") for i in range(3)]
    compose(stranger, prompt="theirs")
    response = owner_client.get(reverse("compositions:history"))
    page = response.context["page"]
    assert [c.prompt for c in page.object_list] == ["mine 2", "mine 1", "mine 0"]
    assert "theirs" not in response.content.decode()
    assert {c.pk for c in page.object_list} == {c.pk for c in mine}


def test_history_paginates(owner, owner_client):
    for i in range(14):
        compose(owner, prompt=f"number {i}")
    first = owner_client.get(reverse("compositions:history")).context["page"]
    second = owner_client.get(reverse("compositions:history"), {"page": 2}).context["page"]
    assert len(first.object_list) == 12 and len(second.object_list) == 2
    assert first.object_list[0].prompt == "number 13"
    assert list(second.object_list)[-1].prompt == "number 0"
    assert not {c.pk for c in first.object_list} & {c.pk for c in second.object_list}


def test_history_filters_by_status_and_explains_failures(owner, owner_client):
    done = compose(owner, prompt="done")
    run_composition(done.public_id)
    broken = compose(owner, prompt="broken")
    broken.fail(code="provider_safety_block", message="The service declined this request.")
    compose(owner, prompt="waiting")
    url = reverse("compositions:history")
    assert [c.prompt for c in owner_client.get(url, {"status": "failed"}).context["page"]] == [
        "broken"
    ]
    assert [c.prompt for c in owner_client.get(url, {"status": "running"}).context["page"]] == [
        "waiting"
    ]
    failed_page = owner_client.get(url, {"status": "failed"}).content.decode()
    assert "The service declined this request." in failed_page
    assert len(owner_client.get(url, {"status": "bogus"}).context["page"].object_list) == 3


def test_empty_history_invites_a_first_composition(owner_client):
    html = owner_client.get(reverse("compositions:history")).content.decode()
    assert "Compose your first image" in html


def test_report_a_result_and_an_input_from_the_page(owner, owner_client, finished):
    from moderation.models import Report

    page = owner_client.get(finished.get_absolute_url()).content.decode()
    assert "Report this result" in page and page.count('name="reason"') == 3
    url = reverse("moderation:report", args=[finished.public_id])
    result = finished.results.get()
    upload = finished.inputs.first().upload
    owner_client.post(
        url,
        {
            "target_type": "result",
            "target_id": result.public_id,
            "reason": "privacy",
            "details": "my face",
        },
    )
    response = owner_client.post(
        url,
        {"target_type": "upload", "target_id": upload.public_id, "reason": "copyright"},
        follow=True,
    )
    assert "Moderators will look at your report" in response.content.decode()
    assert set(Report.objects.values_list("target_type", "reason")) == {
        ("result", "privacy"),
        ("upload", "copyright"),
    }
    again = owner_client.post(
        url, {"target_type": "result", "target_id": result.public_id, "reason": "spam"}, follow=True
    )
    assert "already have an open report" in again.content.decode()
    assert Report.objects.count() == 2


def test_reports_are_throttled_and_strangers_cannot_report(owner_client, stranger_client, finished):
    from moderation.models import Report
    from moderation.services import REPORTS_PER_HOUR

    url = reverse("moderation:report", args=[finished.public_id])
    result = finished.results.get()
    assert (
        stranger_client.post(
            url, {"target_type": "result", "target_id": result.public_id, "reason": "spam"}
        ).status_code
        == 404
    )
    for _ in range(REPORTS_PER_HOUR):
        owner_client.post(url, {"target_type": "result", "target_id": "res_nope", "reason": "spam"})
    response = owner_client.post(
        url, {"target_type": "result", "target_id": result.public_id, "reason": "spam"}, follow=True
    )
    assert "many reports in the last hour" in response.content.decode()
    assert not Report.objects.exists()
