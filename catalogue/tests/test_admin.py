"""The catalogue in the admin: staff only, every change in the append-only change log, the
cached catalogue cleared at once, models shutting down within 30 days shown."""

import datetime

import pytest
from django.utils import timezone

from catalogue.models import CatalogueChange, ImageModel, ProviderModel
from compositions.catalog import find_model, get_model
from conftest import give_totp

pytestmark = pytest.mark.django_db

URL = "/admin/catalogue/imagemodel/"


@pytest.fixture
def staff(make_user):
    from django.contrib.auth.models import Permission

    user = make_user("ops@example.com")
    user.is_staff = True
    user.save()
    give_totp(user)  # staff reach the admin only with two-factor sign-in
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="catalogue"))
    return user


def form_data(model, **changes):
    data = {
        "id": model.id,
        "name": model.name,
        "aliases": '["x"]' if not model.aliases else str(model.aliases).replace("'", '"'),
        "position": model.position,
        "lifecycle": model.lifecycle,
        "shutdown_date": model.shutdown_date or "",
        "successor": model.successor_id or "",
        "max_images": model.max_images,
        "image_sizes": '["512", "1K", "2K", "4K"]',
        "aspect_ratios": '["1:1"]',
        "credits_per_image": '{"512": 1, "1K": 1, "2K": 1, "4K": 1}',
        "batch_discount": "0.50",
        "grounding_credits_per_search": 0,
        "grounding_usd_per_search": "0",
        "options": "{}",
    }
    routes = list(model.providers.all())
    data.update(
        {
            "providers-TOTAL_FORMS": len(routes),
            "providers-INITIAL_FORMS": len(routes),
            "providers-MIN_NUM_FORMS": 0,
            "providers-MAX_NUM_FORMS": 1000,
        }
    )
    for i, r in enumerate(routes):
        data.update(
            {
                f"providers-{i}-id": r.pk,
                f"providers-{i}-model": model.id,
                f"providers-{i}-provider": r.provider,
                f"providers-{i}-provider_model": r.provider_model,
                f"providers-{i}-max_images": r.max_images or "",
                f"providers-{i}-image_sizes": "[]",
                f"providers-{i}-aspect_ratios": "[]",
                f"providers-{i}-usd_per_image": "{}",
                f"providers-{i}-position": r.position,
            }
        )
    data.update(changes)
    return data


def test_a_non_staff_user_cannot_reach_the_catalogue(client, owner):
    client.force_login(owner)
    assert client.get(URL).status_code == 302  # to the admin login


def test_an_edit_is_audited_and_seen_at_once(client, staff):
    client.force_login(staff)
    local = ImageModel.objects.get(id="local")
    assert get_model("local").credits_per_image["1K"] == 1  # cached now
    response = client.post(
        f"{URL}local/change/",
        form_data(
            local,
            credits_per_image='{"512": 2, "1K": 3, "2K": 4, "4K": 5}',
            **{"providers-0-provider_model": "local-v2"},
        ),
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    model = get_model("local")
    assert model.credits_per_image["1K"] == 3 and model.routes[0].provider_model == "local-v2"
    changes = {c.target_type: c for c in CatalogueChange.objects.all()}
    assert changes["ImageModel"].actor_email == "ops@example.com"
    assert changes["ImageModel"].before["credits_per_image"]["1K"] == 1
    assert changes["ImageModel"].after["credits_per_image"]["1K"] == 3
    assert changes["ProviderModel"].before["provider_model"] == "local"
    assert changes["ProviderModel"].after["provider_model"] == "local-v2"
    entry = CatalogueChange.objects.first()
    with pytest.raises(ValueError, match="append-only"):
        entry.save()
    with pytest.raises(ValueError, match="append-only"):
        CatalogueChange.objects.all().delete()


def test_deleting_a_model_is_audited(client, staff):
    model = ImageModel.objects.create(
        id="gone",
        name="Gone",
        image_sizes=["1K"],
        aspect_ratios=["1:1"],
        credits_per_image={"1K": 1},
    )
    ProviderModel.objects.create(model=model, provider="local", provider_model="local")
    client.force_login(staff)
    assert find_model("gone") is not None
    response = client.post(f"{URL}gone/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert find_model("gone") is None
    change = CatalogueChange.objects.get(action="deleted")
    assert change.target_id == "gone" and change.before["name"] == "Gone"


def test_the_list_shows_models_that_shut_down_within_30_days(client, staff):
    soon = timezone.localdate() + datetime.timedelta(days=12)
    ImageModel.objects.filter(id="nano-banana-2").update(
        lifecycle=ImageModel.Lifecycle.DEPRECATED, shutdown_date=soon
    )
    client.force_login(staff)
    page = client.get(URL).content.decode()
    assert "Shutting down within 30 days: nano-banana-2" in page
    filtered = client.get(URL, {"shutdown": "soon"}).content.decode()
    assert "nano-banana-2" in filtered and "nano-banana-pro<" not in filtered


def test_the_admin_refuses_options_a_model_cannot_have(client, staff):
    client.force_login(staff)
    local = ImageModel.objects.get(id="local")
    response = client.post(f"{URL}local/change/", form_data(local, options='{"upscale": true}'))
    assert response.status_code == 200 and "Only grounding" in response.content.decode()
    assert not CatalogueChange.objects.exists()


def test_a_default_model_the_catalogue_does_not_serve_is_a_startup_warning(settings):
    from compositions.checks import default_model_is_served

    settings.BANANASITE_DEFAULT_MODEL = "nano-banana-2-preview"
    [warning] = default_model_is_served()
    assert "is shut down" in warning.msg
    settings.BANANASITE_DEFAULT_MODEL = "local"
    assert default_model_is_served() == []


def test_before_migrate_the_seed_stands_in(monkeypatch):
    from django.db import DatabaseError

    from catalogue import registry

    def no_tables():
        raise DatabaseError("no such table: catalogue_imagemodel")

    monkeypatch.setattr(registry, "_load", no_tables)
    assert [m["id"] for m in registry.models()][:2] == ["nano-banana-2", "nano-banana-pro"]
    assert find_model("gemini-3-pro-image-preview").successor == "nano-banana-pro"


def test_a_thinking_level_outside_geminis_vocabulary_is_refused():
    from django.core.exceptions import ValidationError

    model = ImageModel.objects.get(id="nano-banana-2")
    model.options = {**model.options, "thinking_levels": ["minimal", "extreme"]}
    with pytest.raises(ValidationError, match="Thinking levels"):
        model.full_clean()
