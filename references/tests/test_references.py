"""Saved references: the library's services and pages, versions recorded on compositions,
consent that ends (expiry and withdrawal) purging a person's images."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts.models import Membership
from bananasite.errors import ValidationFailed
from compositions.models import Composition, CompositionInput, Upload
from compositions.options import CompositionOptions, NamedReference, NewImage
from compositions.services import create_composition, create_variation, delete_composition
from compositions.tasks import purge_unused_uploads, run_composition
from conftest import SAMPLES, png_header_only
from references.models import Reference, ReferenceUnusable
from references.services import (
    add_reference_images,
    create_reference,
    delete_reference,
    remove_reference_image,
    withdraw_consent,
)
from references.tasks import purge_lapsed_consents

pytestmark = pytest.mark.django_db


def images(*names):
    return [NewImage(name=n, fileobj=(SAMPLES / n).open("rb"), size=None) for n in names]


def save(user, *names, **kwargs):
    kwargs.setdefault("name", "Mug")
    kwargs.setdefault("kind", "product")
    return create_reference(
        workspace=user.current_workspace,
        user=user,
        images=images(*(names or ["coffee.png"])),
        **kwargs,
    )


def person(user, *, days=30):
    return save(
        user,
        "astronaut.png",
        name="Eileen",
        kind="character",
        roles=["face"],
        depicts_person=True,
        consent=True,
        consent_until=timezone.now() + timedelta(days=days),
    )


def compose_with(user, *items, **options):
    options.setdefault("prompt", "The cat from image 1 with the mug from image 2")
    options.setdefault("model", "local")
    options.setdefault("image_size", "512")
    return create_composition(
        workspace=user.current_workspace,
        user=user,
        options=CompositionOptions(**options),
        images=[*images("chelsea.png"), *items],
    )


def test_a_reference_is_created_with_its_first_version_and_sanitised_images(owner, media_files):
    reference = save(owner, "coffee.png", "rocket.jpg", roles=["product", "other"], notes="Blue")
    assert reference.public_id.startswith("ref_") and reference.version == 1
    version = reference.current_version()
    assert [(i.position, i.role) for i in version.images.all()] == [(1, "product"), (2, "other")]
    upload = version.images.first().upload
    assert upload.workspace == owner.current_workspace and upload.thumbnail.name
    assert len(media_files()) == 4  # two images, two thumbnails


def test_a_bad_image_refuses_the_whole_reference_and_stores_nothing(owner, media_files):
    from io import BytesIO

    bomb = NewImage(name="bomb.png", fileobj=BytesIO(png_header_only(50000, 50000)), size=None)
    with pytest.raises(ValidationFailed) as exc:
        create_reference(
            workspace=owner.current_workspace,
            user=owner,
            name="Mug",
            kind="product",
            images=[*images("coffee.png"), bomb],
        )
    assert exc.value.code == "image_too_large_pixels"
    assert not Reference.objects.exists() and not Upload.all_objects.exists()
    assert media_files() == []


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"depicts_person": True}, "consent_required"),
        ({"depicts_person": True, "consent": True}, "consent_until_required"),
        ({"name": "  "}, "invalid_request"),
        ({"kind": "person"}, "invalid_request"),
    ],
)
def test_bad_fields_are_refused_before_anything_is_stored(owner, media_files, kwargs, code):
    with pytest.raises(ValidationFailed) as exc:
        save(owner, **kwargs)
    assert code in [c for _f, c, _m in exc.value.errors]
    assert media_files() == [] and not Reference.objects.exists()


def test_a_consent_that_already_ended_is_refused(owner):
    with pytest.raises(ValidationFailed) as exc:
        save(
            owner,
            depicts_person=True,
            consent=True,
            consent_until=timezone.now() - timedelta(minutes=1),
        )
    assert exc.value.code == "consent_until_past"


def test_the_consent_record_says_who_when_which_workspace_until_when(owner):
    reference = person(owner, days=10)
    consent = reference.consent
    assert consent.attested_by == owner and consent.attested_by_email == owner.email
    assert consent.workspace == owner.current_workspace
    assert consent.valid_until > timezone.now() + timedelta(days=9)
    assert reference.unusable() is None


def test_changing_images_makes_versions_and_compositions_record_the_one_they_used(owner):
    reference = save(owner, "coffee.png")
    first = compose_with(owner, NamedReference(public_id=reference.public_id))
    reference = add_reference_images(reference=reference, user=owner, images=images("rocket.jpg"))
    assert reference.version == 2
    second = compose_with(owner, NamedReference(public_id=reference.public_id))
    assert [
        i.reference_version.number if i.reference_version else None for i in first.inputs.all()
    ] == [None, 1]
    assert [i.reference_version and i.reference_version.number for i in second.inputs.all()] == [
        None,
        2,
        2,
    ]
    assert [i.role for i in second.inputs.all()][1:] == ["product", "product"]
    reference = remove_reference_image(reference=reference, user=owner, position=1)
    assert reference.version == 3
    assert [i.upload.original_name for i in reference.current_version().images.all()] == [
        "rocket.jpg"
    ]
    # The first version still names the removed image, and so does the composition.
    assert first.inputs.get(position=2).upload.original_name == "coffee.png"


def test_a_role_given_with_the_reference_wins_over_the_images_own(owner):
    reference = save(owner, "coffee.png")
    composition = compose_with(owner, NamedReference(public_id=reference.public_id, role="logo"))
    assert composition.inputs.get(position=2).role == "logo"


def test_the_composer_can_pick_one_image_of_a_reference(owner):
    reference = save(owner, "coffee.png", "rocket.jpg")
    second = reference.current_version().images.get(position=2).upload
    composition = compose_with(
        owner, NamedReference(public_id=reference.public_id, upload=second.public_id)
    )
    assert [i.upload for i in composition.inputs.all()][1] == second
    assert composition.inputs.get(position=2).reference_version.number == 1


def test_a_strangers_or_unknown_reference_is_refused_with_nothing_charged(owner, stranger):
    theirs = save(stranger)
    wallet = owner.current_workspace.wallet
    before = wallet.balance
    for ref in (theirs.public_id, "ref_nope"):
        with pytest.raises(ValidationFailed) as exc:
            compose_with(owner, NamedReference(public_id=ref))
        assert exc.value.code == "reference_not_found"
    wallet.refresh_from_db()
    assert wallet.balance == before
    assert not owner.current_workspace.compositions.exists()


def test_a_reference_composes_through_the_local_compositor(owner):
    reference = save(owner, "coffee.png")
    composition = compose_with(owner, NamedReference(public_id=reference.public_id))
    run_composition(composition.public_id)
    composition.refresh_from_db()
    assert composition.status == "succeeded" and composition.results.count() == 1


def test_consent_expiry_refuses_use_and_the_purge_deletes_the_images(
    owner, media_files, django_capture_on_commit_callbacks
):
    reference = person(owner, days=2)
    made = compose_with(owner, NamedReference(public_id=reference.public_id), preset="none")
    run_composition(made.public_id)
    made.refresh_from_db()
    result_files = {made.results.get().file.name, made.results.get().thumbnail.name}
    upload = reference.current_version().images.get().upload
    stored = {upload.file.name, upload.thumbnail.name}
    assert all(any(str(p).endswith(n) for p in media_files()) for n in stored)

    with time_machine.travel(timezone.now() + timedelta(days=3)):
        reference.refresh_from_db()
        assert reference.unusable()[0] == "reference_consent_expired"
        with pytest.raises(ReferenceUnusable) as exc:
            compose_with(owner, NamedReference(public_id=reference.public_id))
        assert exc.value.code == "reference_consent_expired" and exc.value.status == 409
        with django_capture_on_commit_callbacks(execute=True):
            assert purge_lapsed_consents() == 1
            assert purge_lapsed_consents() == 0  # claimed once

    names = [str(p) for p in media_files()]
    assert not any(n.endswith(s) for n in names for s in stored)  # the person's images are gone
    assert all(any(n.endswith(r) for n in names) for r in result_files)  # results stay
    reference.refresh_from_db()
    assert reference.purged_at is not None
    assert Upload.all_objects.get(pk=upload.pk).removed_at is not None
    made.refresh_from_db()
    assert made.status == "succeeded" and made.results.count() == 1
    with pytest.raises(Exception, match="removed"):
        create_variation(source=made, user=owner)


def test_withdrawing_consent_purges_at_once_and_refuses_use(
    owner, media_files, django_capture_on_commit_callbacks
):
    reference = person(owner)
    upload = reference.current_version().images.get().upload
    with django_capture_on_commit_callbacks(execute=True):
        withdraw_consent(reference=reference, user=owner)
    reference.refresh_from_db()
    assert reference.consent.withdrawn_at is not None and reference.consent.withdrawn_by == owner
    assert reference.purged_at is not None
    assert media_files() == []
    with pytest.raises(ReferenceUnusable) as exc:
        compose_with(owner, NamedReference(public_id=reference.public_id))
    assert exc.value.code == "reference_consent_expired"  # purged: its images are gone
    assert Upload.all_objects.get(pk=upload.pk).removed_at is not None


def test_a_reference_withdrawn_but_not_yet_purged_is_refused_as_withdrawn(owner):
    reference = person(owner)
    Reference.objects.filter(pk=reference.pk)  # the row, as a stale page would hold it
    reference.consent.withdrawn_at = timezone.now()
    reference.consent.save()
    with pytest.raises(ReferenceUnusable) as exc:
        compose_with(owner, NamedReference(public_id=reference.public_id))
    assert exc.value.code == "reference_consent_withdrawn"


def test_deleting_a_reference_keeps_compositions_and_their_inputs(
    owner, media_files, django_capture_on_commit_callbacks
):
    reference = save(owner, "coffee.png", "rocket.jpg")
    made = compose_with(
        owner,
        NamedReference(
            public_id=reference.public_id,
            upload=reference.current_version().images.get(position=1).upload.public_id,
        ),
    )
    with django_capture_on_commit_callbacks(execute=True):
        delete_reference(reference=reference)
    assert not Reference.objects.exists()
    input_ = CompositionInput.objects.get(composition=made, position=2)
    assert input_.reference_version is None and input_.upload.original_name == "coffee.png"
    # rocket.jpg (never used) is gone with its thumbnail; coffee.png stays as an input.
    assert Upload.all_objects.filter(original_name="rocket.jpg").count() == 0
    assert len(media_files()) == 4  # chelsea + coffee, each with a thumbnail


def test_a_reference_image_survives_its_composition_and_the_unused_upload_purge(owner):
    reference = save(owner, "coffee.png")
    made = compose_with(owner, NamedReference(public_id=reference.public_id))
    delete_composition(composition=made)
    upload = reference.current_version().images.get().upload
    assert Upload.objects.filter(pk=upload.pk).exists()
    with time_machine.travel(timezone.now() + timedelta(days=400)):
        purge_unused_uploads()
    assert Upload.objects.filter(pk=upload.pk).exists()


# --- pages -------------------------------------------------------------------------------------


def test_the_library_searches_names_and_notes_and_filters_by_kind(owner, owner_client):
    save(owner, name="Blue mug", notes="ceramic")
    save(owner, name="Acme", kind="logo", notes="the wordmark")
    page = owner_client.get("/references/?q=ceramic").content.decode()
    assert "Blue mug" in page and "Acme" not in page
    page = owner_client.get("/references/?kind=logo").content.decode()
    assert "Acme" in page and "Blue mug" not in page
    page = owner_client.get("/references/").content.decode()
    assert "Acme" in page and "Blue mug" in page and "/thumb" in page


def test_a_teammate_sees_the_library_and_a_stranger_gets_404(owner, make_user, stranger_client):
    from django.test import Client

    reference = save(owner)
    mate = make_user("mate@example.com")
    Membership.objects.create(workspace=owner.current_workspace, user=mate)
    mate.current_workspace = owner.current_workspace
    mate.save()
    client = Client()
    client.force_login(mate)
    assert client.get(f"/references/{reference.public_id}/").status_code == 200
    for url in ("/", "/withdraw", "/delete", "/images", "/images/1/remove"):
        method = stranger_client.get if url == "/" else stranger_client.post
        assert method(f"/references/{reference.public_id}{url}").status_code == 404
    assert "Mug" not in stranger_client.get("/references/").content.decode()
    assert Reference.objects.filter(pk=reference.pk).exists()


def test_creating_in_the_browser_needs_consent_for_a_person(owner_client, uploaded):
    response = owner_client.post(
        "/references/new",
        {
            "name": "Eileen",
            "kind": "character",
            "images": uploaded(sample="astronaut.png"),
            "depicts_person": "on",
        },
    )
    assert response.status_code == 400
    assert "agreed to this use" in response.content.decode()
    assert not Reference.objects.exists()
    until = (timezone.now() + timedelta(days=5)).date().isoformat()
    response = owner_client.post(
        "/references/new",
        {
            "name": "Eileen",
            "kind": "character",
            "images": uploaded(sample="astronaut.png"),
            "depicts_person": "on",
            "consent": "on",
            "consent_until": until,
        },
    )
    reference = Reference.objects.get()
    assert response.status_code == 302 and response["Location"] == reference.get_absolute_url()
    assert reference.current_version().images.get().role == "subject"  # from the kind
    page = owner_client.get(reference.get_absolute_url()).content.decode()
    assert "owner@example.com" in page and "Withdraw consent" in page


def test_editing_in_the_browser_adds_and_removes_images_as_versions(owner, owner_client, uploaded):
    reference = save(owner)
    url = reference.get_absolute_url()
    response = owner_client.post(
        f"{url}images", {"images": uploaded(sample="rocket.jpg"), "role": "style"}
    )
    assert response.status_code == 302
    reference.refresh_from_db()
    assert reference.version == 2
    assert [i.role for i in reference.current_version().images.all()] == ["product", "style"]
    owner_client.post(f"{url}images/1/remove")
    reference.refresh_from_db()
    assert reference.version == 3 and reference.current_version().images.count() == 1
    # The last image stays: a friendly message, no new version.
    response = owner_client.post(f"{url}images/1/remove", follow=True)
    assert "at least one image" in response.content.decode()
    reference.refresh_from_db()
    assert reference.version == 3
    owner_client.post(url, {"name": "Big mug", "notes": "for the shop"})
    reference.refresh_from_db()
    assert (reference.name, reference.notes, reference.version) == ("Big mug", "for the shop", 3)


def test_withdraw_and_delete_in_the_browser(
    owner, owner_client, media_files, django_capture_on_commit_callbacks
):
    reference = person(owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(f"/references/{reference.public_id}/withdraw", follow=True)
    assert "Consent withdrawn" in response.content.decode()
    assert media_files() == []
    response = owner_client.post(f"/references/{reference.public_id}/delete")
    assert response.status_code == 302 and not Reference.objects.exists()


def test_the_composer_offers_usable_references_and_records_a_picked_one(owner, owner_client):
    import json
    import re

    usable = save(owner, name="Blue mug")
    lapsed = person(owner)
    withdraw_consent(reference=lapsed, user=owner)
    page = owner_client.get("/compose/").content.decode()
    state = json.loads(re.search(r'id="composer-state"[^>]*>(.*?)</script>', page, re.S)[1])
    assert [r["id"] for r in state["library"]] == [usable.public_id]
    image = state["library"][0]["images"][0]
    chelsea = owner_client.post(
        "/compose/uploads", {"file": (SAMPLES / "chelsea.png").open("rb")}
    ).json()["id"]
    response = owner_client.post(
        "/compose/",
        {
            "uploads": [chelsea, image["id"]],
            "references": ["", usable.public_id],
            "roles": ["", ""],
            "prompt": "The cat from image 1 with the mug from image 2",
            "preset": "none",
            "style": "natural",
            "model": "local",
            "aspect_ratio": "1:1",
            "image_size": "512",
            "num_images": "1",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    composition = owner.current_workspace.compositions.get()
    picked = composition.inputs.get(position=2)
    assert picked.reference_version.reference == usable and picked.role == "product"


def test_a_lapsed_persons_image_cannot_be_used_by_its_upload_id_either(owner):
    reference = person(owner, days=2)
    upload = reference.current_version().images.get().upload
    with time_machine.travel(timezone.now() + timedelta(days=3)):
        # Before the hourly purge, the image is still stored; named directly, it is refused too.
        with pytest.raises(ReferenceUnusable) as exc:
            compose_with(owner, upload)
        assert exc.value.code == "reference_consent_expired"
    assert not Composition.objects.exists()
