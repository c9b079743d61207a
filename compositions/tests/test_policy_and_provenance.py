import io

import pytest
from PIL import Image

from compositions.provenance import DIGITAL_SOURCE_TYPE, read_provenance, with_provenance
from compositions.tasks import run_composition
from moderation.policy import blocked_term, normalise_for_policy

from .factories import compose


@pytest.mark.parametrize(
    "prompt",
    [
        "make a Forbidden Thing here",
        "FORBIDDEN   thing",
        "ｆｏｒｂｉｄｄｅｎ ｔｈｉｎｇ",  # full-width
        "for\u200bbidden th\u200bing",  # zero-width spaces
        "forbidden-thing, please",
    ],
)
def test_blocked_terms_match_after_normalisation(settings, prompt):
    settings.BANANASITE_BLOCKED_TERMS = ["forbidden thing"]
    assert blocked_term(prompt) == "forbidden thing"


def test_harmless_prompts_and_partial_words_pass(settings):
    settings.BANANASITE_BLOCKED_TERMS = ["gun"]
    assert blocked_term("a gunmetal grey car in the rain") is None
    assert blocked_term("Place the logo on the cup") is None
    assert normalise_for_policy("Ａ\u200bB  c!") == "ab c"


@pytest.mark.django_db
def test_a_blocked_prompt_is_refused_before_anything_is_stored(
    settings, owner_client, uploaded, media_files
):
    from django.urls import reverse

    from compositions.models import Composition

    settings.BANANASITE_BLOCKED_TERMS = ["forbidden thing"]
    response = owner_client.post(
        reverse("compositions:compose"),
        {
            "prompt": "A FORBIDDEN\u200b THING with the cat",
            "preset": "none",
            "style": "natural",
            "model": "local",
            "aspect_ratio": "1:1",
            "image_size": "512",
            "num_images": "1",
            "images": [uploaded(sample="chelsea.png"), uploaded(sample="coffee.png")],
        },
    )
    assert response.status_code == 400
    assert "does not make" in response.content.decode()
    assert not Composition.objects.exists() and media_files() == []


@pytest.mark.parametrize(("fmt", "mime"), [("PNG", "image/png"), ("JPEG", "image/jpeg")])
def test_provenance_is_spliced_in_without_touching_pixels(fmt, mime):
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (9, 99, 199)).save(buf, fmt)
    original = buf.getvalue()
    marked = with_provenance(original, mime, model="nano-banana-2", provider="gemini")
    packet = read_provenance(marked)
    assert DIGITAL_SOURCE_TYPE.encode() in packet
    assert b'bananasite:model="nano-banana-2"' in packet
    before = Image.open(io.BytesIO(original)).tobytes()
    assert Image.open(io.BytesIO(marked)).tobytes() == before


@pytest.mark.django_db
def test_every_stored_result_carries_provenance(owner):
    composition = compose(owner)
    run_composition(composition.public_id)
    result = composition.results.get()
    with result.file.open("rb") as fh:
        data = fh.read()
    packet = read_provenance(data)
    assert DIGITAL_SOURCE_TYPE.encode() in packet and b'bananasite:model="local"' in packet
    import hashlib

    assert result.sha256 == hashlib.sha256(data).hexdigest() and result.bytes == len(data)
