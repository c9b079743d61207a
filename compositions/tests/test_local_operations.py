"""The local compositor's operations measured on the sample photos: the cut-out against
hand-made masks, the logo against the product's box, the colour statistics against the style's,
and variations against each other."""

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from compositions.images import perceptual_hash
from compositions.providers.base import InputImage
from compositions.providers.local import LocalCompositor, find_subject
from compositions.providers.local_ops import lab_statistics, transfer_colour
from conftest import sample_bytes

from .fakes import compose_request

DATA = Path(__file__).resolve().parent / "data"


def sample(name):
    img = Image.open(io.BytesIO(sample_bytes(name)))
    img.load()
    return img


def hand_mask(name):
    """Drawn by hand on the photo (ellipses and polygons at pixel coordinates)."""
    return np.asarray(Image.open(DATA / f"{name}-mask.png").convert("L")) > 127


def iou(a, b):
    return (a & b).sum() / (a | b).sum()


def centre_rectangle(shape, margin=0.1):
    """The naive cut-out: "the subject is in the middle", a tenth of the frame off each side."""
    h, w = shape
    mask = np.zeros(shape, bool)
    mask[int(h * margin) : h - int(h * margin), int(w * margin) : w - int(w * margin)] = True
    return mask


def decode(output):
    img = Image.open(io.BytesIO(output.data))
    img.load()
    return np.asarray(img.convert("RGB"))


def compose(names, preset, seed=0, roles=None, aspect_ratio="1:1"):
    roles = roles or ["other"] * len(names)
    images = [
        InputImage(sample_bytes(n), "image/png", role=r) for n, r in zip(names, roles, strict=True)
    ]
    request = compose_request(
        images=images,
        prompt='make "Fresh" happen',
        model="local",
        image_size="512",
        aspect_ratio=aspect_ratio,
        preset=preset,
        seed=seed,
    )
    return decode(LocalCompositor().compose(request).images[0])


# --- The cut-out --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "threshold"),
    # What GrabCut reaches here: coffee 0.94, chelsea 0.80, astronaut 0.76; the naive centre
    # rectangle: 0.65, 0.64, 0.52 (and no rectangle at all beats 0.73 on any of them).
    [("coffee", 0.88), ("chelsea", 0.76), ("astronaut", 0.70)],
)
def test_cut_out_matches_the_hand_made_mask(name, threshold):
    truth = hand_mask(name)
    mask = find_subject(sample(f"{name}.png"))
    assert mask is not None
    found = np.asarray(mask) > 127
    assert found.shape == truth.shape
    assert iou(found, truth) >= threshold
    # The measure can fail: the naive cut-out does not pass it.
    assert iou(centre_rectangle(truth.shape), truth) < threshold - 0.05


def test_cut_out_is_the_same_for_the_same_photo():
    photo = sample("astronaut.png")
    first, again = find_subject(photo), find_subject(photo)
    assert first is not None and again is not None
    assert first.tobytes() == again.tobytes()


def test_cut_out_of_a_12_megapixel_photo_is_computed_small_and_scaled_up():
    photo = sample("coffee.png").resize((4000, 2667), Image.Resampling.BILINEAR)
    mask = find_subject(photo)
    assert mask is not None and mask.size == (4000, 2667)
    truth = np.asarray(Image.open(DATA / "coffee-mask.png").convert("L").resize((4000, 2667)))
    assert iou(np.asarray(mask) > 127, truth > 127) >= 0.88


# --- The logo -----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_logo_lies_inside_the_products_box(seed):
    out = compose(
        ["coffee.png", "logo.png"],
        "logo_placement",
        seed=seed,
        roles=["product", "logo"],
        aspect_ratio="3:2",  # the photo's own ratio: the canvas is the photo, scaled
    )
    height, width = out.shape[:2]
    plain = np.asarray(sample("coffee.png").convert("RGB").resize((width, height), Image.LANCZOS))
    changed = np.abs(out.astype(int) - plain.astype(int)).max(axis=2) > 40
    truth = np.asarray(Image.open(DATA / "coffee-mask.png").convert("L").resize((width, height)))
    ys, xs = np.nonzero(truth > 127)
    product_box = (xs.min(), ys.min(), xs.max(), ys.max())
    ly, lx = np.nonzero(changed)
    logo_box = (lx.min(), ly.min(), lx.max(), ly.max())
    assert changed.sum() > 0.01 * width * height  # a logo you can see
    assert product_box[0] <= logo_box[0] and logo_box[2] <= product_box[2]
    assert product_box[1] <= logo_box[1] and logo_box[3] <= product_box[3]
    # On the product itself, not only inside its box; and scaled to it.
    assert (truth[changed] > 127).mean() > 0.97
    assert 0.15 < (logo_box[2] - logo_box[0]) / (product_box[2] - product_box[0]) < 0.4
    # Through the logo's alpha: its transparent corners leave the cup as it was, so the round
    # logo changes well under its whole square box.
    in_box = changed[logo_box[1] : logo_box[3] + 1, logo_box[0] : logo_box[2] + 1]
    assert in_box.mean() < 0.9


# --- Colour and tone ----------------------------------------------------------------------------


def sobel(rgb):
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))


def correlation(a, b):
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@pytest.mark.parametrize(
    ("content", "style"), [("coffee.png", "rocket.jpg"), ("chelsea.png", "astronaut.png")]
)
def test_colour_transfer_moves_lab_statistics_to_the_style_and_keeps_the_edges(content, style):
    source = np.asarray(sample(content).convert("RGB"))
    reference = np.asarray(sample(style).convert("RGB"))
    out = transfer_colour(source, reference)
    target = lab_statistics(reference)
    before = np.linalg.norm(lab_statistics(source) - target)
    after = np.linalg.norm(lab_statistics(out) - target)
    assert after < 0.35 * before
    assert correlation(sobel(out), sobel(source)) > 0.85


def test_style_transfer_carries_colour_not_the_styles_texture():
    out = compose(["coffee.png", "brick.png"], "style_transfer", aspect_ratio="3:2")
    height, width = out.shape[:2]
    content = np.asarray(sample("coffee.png").convert("RGB").resize((width, height)))
    bricks = np.asarray(sample("brick.png").convert("RGB").resize((width, height)))
    target = lab_statistics(np.asarray(sample("brick.png").convert("RGB")))
    before = np.linalg.norm(lab_statistics(content) - target)
    after = np.linalg.norm(lab_statistics(out) - target)
    assert after < 0.6 * before  # moved toward the style (a variation takes part of the way)
    assert correlation(sobel(out), sobel(content)) > 0.8  # the coffee's shapes stay
    assert abs(correlation(sobel(out), sobel(bricks))) < 0.1  # no brick pattern laid over


# --- Variations ---------------------------------------------------------------------------------


def phash_distance(a, b):
    return bin(
        int(perceptual_hash(Image.fromarray(a)), 16) ^ int(perceptual_hash(Image.fromarray(b)), 16)
    ).count("1")


@pytest.mark.parametrize(
    ("names", "preset"),
    [
        (["chelsea.png", "coffee.png"], "none"),
        (["chelsea.png", "coffee.png", "astronaut.png"], "collage"),
        (["coffee.png", "rocket.jpg"], "product_in_scene"),
        (["coffee.png", "rocket.jpg"], "style_transfer"),
        (["coffee.png", "logo.png"], "logo_placement"),
        (["chelsea.png", "rocket.jpg"], "thumbnail"),
        (["chelsea.png", "astronaut.png"], "face_swap"),
    ],
)
def test_a_variation_is_visibly_different_from_its_source(names, preset):
    source = compose(names, preset, seed=0)
    for seed in (1, 2):
        variation = compose(names, preset, seed=seed)
        pixels = np.abs(source.astype(int) - variation.astype(int)).mean()
        assert pixels > 8 or phash_distance(source, variation) > 8, (seed, pixels)
