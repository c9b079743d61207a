"""The reference check (issue 15): after success, each product and logo input is looked for in
each result; a miss offers one retry at no charge, whose capture the ledger records as waived."""

import io
import time

import pytest
from django.urls import reverse
from PIL import Image

from api.tests.api_clients import token_client
from billing.models import LedgerEntry, Wallet
from compositions import tasks
from compositions.models import Composition
from compositions.reference_check import find_reference
from compositions.services import create_free_retry
from conftest import SAMPLES

from .factories import compose
from .fakes import FakeProvider, Reply, gemini_ok
from .test_providers_end_to_end import configure

pytestmark = pytest.mark.django_db


def encoded(image: Image.Image, fmt: str = "PNG", **args) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **args)
    return buf.getvalue()


def logo_on_coffee(*, scale: float = 0.35, at=(330, 140), size=None, fmt="PNG") -> bytes:
    """The sample logo, scaled and pasted onto the coffee photo, as a model might place it."""
    scene = Image.open(SAMPLES / "coffee.png").convert("RGB")
    if size:
        scene = scene.resize(size, Image.Resampling.BICUBIC)
    logo = Image.open(SAMPLES / "logo.png").convert("RGBA")
    logo = logo.resize((int(logo.width * scale), int(logo.height * scale)))
    scene.paste(logo, at, logo)
    return encoded(scene, fmt, **({"quality": 90} if fmt == "JPEG" else {}))


LOGO = (SAMPLES / "logo.png").read_bytes()


@pytest.mark.parametrize(("scale", "at"), [(0.35, (330, 140)), (0.5, (20, 60)), (0.22, (60, 250))])
def test_the_logo_is_found_where_it_was_composited(scale, at):
    match = find_reference(LOGO, logo_on_coffee(scale=scale, at=at, fmt="JPEG"))
    assert match.found and match.inliers >= 12


@pytest.mark.parametrize("name", ["chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg"])
def test_the_logo_is_not_found_in_unrelated_images(name):
    match = find_reference(LOGO, (SAMPLES / name).read_bytes())
    assert not match.found


def test_a_mirrored_logo_is_not_taken_for_the_logo():
    scene = Image.open(SAMPLES / "coffee.png").convert("RGB")
    logo = Image.open(SAMPLES / "logo.png").convert("RGBA").resize((200, 200))
    scene.paste(logo.transpose(Image.Transpose.FLIP_LEFT_RIGHT), (300, 120), logo)
    assert not find_reference(LOGO, encoded(scene)).found


def test_a_12_megapixel_result_is_checked_in_seconds():
    big = logo_on_coffee(scale=3.0, at=(1500, 900), size=(4000, 3000), fmt="JPEG")
    started = time.perf_counter()
    match = find_reference(LOGO, big)
    took = time.perf_counter() - started
    assert match.found
    assert took < 15, f"{took:.1f} s"  # a generous bound on a shared 2-core machine


# --- Through the product ---------------------------------------------------------------------


@pytest.fixture
def gemini(settings):
    server = FakeProvider()
    configure(settings, {"gemini": server}, "gemini")
    yield server
    server.close()


def balance(user) -> int:
    return Wallet.objects.get(workspace=user.current_workspace).balance


def run(composition, django_capture_on_commit_callbacks) -> Composition:
    # The check is enqueued when the success commits; tasks run inline in tests.
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.run_composition(composition.public_id) == "succeeded"
    composition.refresh_from_db()
    return composition


def logo_composition(owner):
    return compose(
        owner,
        samples=("coffee.png", "logo.png"),
        model="nano-banana-2",
        image_size="1K",
        roles=["background", "logo"],
        prompt="Print the logo from image 2 on the cup in image 1",
    )


def test_a_found_logo_is_reported_and_no_retry_is_offered(
    owner, gemini, django_capture_on_commit_callbacks, owner_client
):
    gemini.script(Reply(200, gemini_ok(logo_on_coffee())))
    composition = run(logo_composition(owner), django_capture_on_commit_callbacks)
    result = composition.results.get()
    assert composition.checks["status"] == "done"
    (check,) = composition.checks["references"]
    assert check | {"inliers": 0} == {
        "input": 2,
        "role": "logo",
        "result": result.public_id,
        "found": True,
        "inliers": 0,
    }
    assert not composition.offers_free_retry()
    page = owner_client.get(composition.get_absolute_url()).content.decode()
    assert "Logo from image 2: found in result 1." in page
    assert "Retry free of charge" not in page
    # Safe to run twice: the second delivery changes nothing.
    assert tasks.check_references(composition.public_id) == "checked already"


def test_a_missed_logo_offers_one_free_retry_and_the_ledger_stays_balanced(
    owner, gemini, django_capture_on_commit_callbacks, owner_client, stranger_client
):
    start = balance(owner)
    gemini.script(Reply(200, gemini_ok(encoded(Image.open(SAMPLES / "chelsea.png")))))
    first = run(logo_composition(owner), django_capture_on_commit_callbacks)
    price = first.credits_charged
    assert price > 0 and balance(owner) == start - price
    assert [c["found"] for c in first.checks["references"]] == [False]
    assert first.offers_free_retry()
    page = owner_client.get(first.get_absolute_url()).content.decode()
    assert "Logo from image 2: not found in result 1." in page
    assert "Retry free of charge" in page

    # A stranger cannot retry someone else's composition.
    retry_url = reverse("compositions:free_retry", args=[first.public_id])
    assert stranger_client.post(retry_url).status_code == 404
    assert not Composition.objects.filter(free_retry_of=first).exists()

    gemini.script(Reply(200, gemini_ok(logo_on_coffee())))
    answer = owner_client.post(retry_url)
    retry = Composition.objects.get(free_retry_of=first)
    assert answer.status_code == 302 and answer["Location"] == retry.get_absolute_url()
    assert (retry.origin, retry.parent, retry.credits_reserved) == ("retry", first, 0)
    assert list(retry.inputs.values_list("role", flat=True)) == ["background", "logo"]
    retry = run(retry, django_capture_on_commit_callbacks)
    assert [c["found"] for c in retry.checks["references"]] == [True]
    assert retry.credits_charged == 0
    assert balance(owner) == start - price  # the retry cost nothing

    rows = list(
        LedgerEntry.objects.filter(composition_ref=retry.public_id)
        .order_by("id")
        .values_list("kind", "amount", "images", "reason")
    )
    assert [row[:3] for row in rows] == [("reserve", 0, 1), ("release", 0, 0), ("capture", 0, 1)]
    waiver = rows[2][3]
    assert waiver.startswith("1 image delivered; not charged: free retry of " + first.public_id)

    # One free retry per composition, and none for the retry itself.
    first.refresh_from_db()
    assert not first.offers_free_retry()
    again = owner_client.post(retry_url, follow=True)
    assert "free retry has been used" in again.content.decode()
    assert Composition.objects.filter(origin="retry").count() == 1
    page = owner_client.get(first.get_absolute_url()).content.decode()
    assert retry.public_id in page and "Retry free of charge" not in page


def test_the_api_reports_checks_and_takes_the_free_retry_once(
    owner, stranger, gemini, django_capture_on_commit_callbacks
):
    gemini.script(Reply(200, gemini_ok(encoded(Image.open(SAMPLES / "chelsea.png")))))
    first = run(logo_composition(owner), django_capture_on_commit_callbacks)
    api = token_client(owner)
    body = api.get(f"/api/v1/compositions/{first.public_id}").json()
    assert body["checks"]["status"] == "done"
    assert body["checks"]["references"][0]["found"] is False
    assert body["checks"]["free_retry"] == {"offered": True, "composition": None}
    assert body["free_retry_of"] is None

    assert (
        token_client(stranger).post(f"/api/v1/compositions/{first.public_id}/retry").status_code
        == 404
    )
    made = api.post(f"/api/v1/compositions/{first.public_id}/retry")
    assert made.status_code == 202
    retry_id = made.json()["id"]
    assert made.json()["free_retry_of"] == first.public_id
    assert made.json()["credits"]["reserved"] == 0
    twice = api.post(f"/api/v1/compositions/{first.public_id}/retry")
    assert (twice.status_code, twice.json()["code"]) == (409, "free_retry_used")
    body = api.get(f"/api/v1/compositions/{first.public_id}").json()
    assert body["checks"]["free_retry"] == {"offered": False, "composition": retry_id}


def test_no_retry_without_a_miss(owner, gemini, django_capture_on_commit_callbacks):
    gemini.script(Reply(200, gemini_ok(logo_on_coffee())))
    found = run(logo_composition(owner), django_capture_on_commit_callbacks)
    api = token_client(owner)
    refused = api.post(f"/api/v1/compositions/{found.public_id}/retry")
    assert (refused.status_code, refused.json()["code"]) == (409, "free_retry_not_offered")
    with pytest.raises(Exception, match="only when the check did not find"):
        create_free_retry(source=found, user=owner)


def test_compositions_without_products_or_logos_are_not_checked(
    owner, django_capture_on_commit_callbacks
):
    composition = run(compose(owner), django_capture_on_commit_callbacks)
    assert composition.checks == {}
    body = token_client(owner).get(f"/api/v1/compositions/{composition.public_id}").json()
    assert body["checks"] == {
        "status": "none",
        "references": [],
        "free_retry": {"offered": False, "composition": None},
    }
