import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from compositions.catalog import output_size
from compositions.providers.base import InputImage, ProviderBadRequest
from compositions.providers.local import LocalCompositor, cut_out
from conftest import sample_bytes

from .fakes import compose_request


def png(img):
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def request_for(images, **options):
    defaults = {"prompt": "combine", "model": "local", "image_size": "512"}
    defaults.update(options)
    return compose_request(images=images, **defaults)


def decode(output):
    img = Image.open(io.BytesIO(output.data))
    img.load()
    return img


def samples(*names):
    return [InputImage(sample_bytes(n), "image/png") for n in names]


@pytest.mark.parametrize(
    ("ratio", "size", "expected"),
    [
        ("1:1", "1K", (1024, 1024)),
        ("16:9", "1K", (1360, 768)),
        ("9:16", "1K", (768, 1360)),
        ("1:1", "512", (512, 512)),
        ("4:3", "2K", (2368, 1776)),
        ("21:9", "1K", (1568, 672)),
    ],
)
def test_output_size_per_ratio_and_size(ratio, size, expected):
    assert output_size(ratio, size) == expected


@pytest.mark.parametrize(
    ("preset", "ratio", "size"),
    [
        ("none", "16:9", "512"),
        ("collage", "1:1", "512"),
        ("product_in_scene", "3:2", "512"),
        ("style_transfer", "4:5", "512"),
        ("thumbnail", "16:9", "1K"),
        ("logo_placement", "1:1", "1K"),
        ("face_swap", "2:3", "512"),
    ],
)
def test_each_preset_delivers_rgb_png_at_the_requested_size(preset, ratio, size):
    result = LocalCompositor().compose(
        request_for(
            samples("chelsea.png", "logo.png", "coffee.png"),
            preset=preset,
            aspect_ratio=ratio,
            image_size=size,
            num_images=2,
        )
    )
    assert len(result.images) == 2
    for output in result.images:
        img = decode(output)
        assert img.format == "PNG" and output.mime_type == "image/png"
        assert img.mode == "RGB"
        assert img.size == output_size(ratio, size)
    assert "no AI model" in result.text


def test_same_request_gives_the_same_pixels_and_another_seed_another_picture():
    base = {"preset": "none", "aspect_ratio": "1:1"}
    first = LocalCompositor().compose(request_for(samples("chelsea.png", "coffee.png"), **base))
    again = LocalCompositor().compose(request_for(samples("chelsea.png", "coffee.png"), **base))
    other = LocalCompositor().compose(
        request_for(samples("chelsea.png", "coffee.png"), seed=7, **base)
    )
    assert first.images[0].data == again.images[0].data
    assert first.images[0].data != other.images[0].data


def test_subject_cut_from_plain_background_lands_on_the_backdrop():
    subject = Image.new("RGB", (400, 400), (250, 250, 250))
    ImageDraw.Draw(subject).ellipse((100, 60, 300, 360), fill=(200, 20, 20))
    backdrop = Image.new("RGB", (600, 400), (20, 60, 160))
    result = LocalCompositor().compose(
        request_for(
            [InputImage(png(subject), "image/png"), InputImage(png(backdrop), "image/png")],
            preset="product_in_scene",
            aspect_ratio="1:1",
        )
    )
    out = np.asarray(decode(result.images[0]), dtype=int)
    red = (out[..., 0] > 120) & (out[..., 1] < 90) & (out[..., 2] < 110)
    white = (out[..., 0] > 225) & (out[..., 1] > 225) & (out[..., 2] > 225)
    # The red subject is there, large, standing in the middle band of the frame...
    assert red.mean() > 0.15
    ys, xs = np.nonzero(red)
    assert 0.25 * out.shape[1] < xs.mean() < 0.75 * out.shape[1]
    assert ys.max() > 0.85 * out.shape[0]  # on the floor, not floating
    # ...its white studio background is gone, and the corners are the blue backdrop.
    assert white.mean() < 0.002
    for y, x in [(5, 5), (5, -5)]:
        r, _g, b = out[y, x]
        assert b > 120 and r < 60


def test_cut_out_feathers_the_whole_photo_when_there_is_no_subject_to_find():
    flat = Image.new("RGB", (300, 200), (120, 140, 160))
    cut = cut_out(flat)
    assert cut.found is False
    alpha = np.asarray(cut.image.getchannel("A"))
    assert alpha[0, 0] == 0 and alpha[alpha.shape[0] // 2, alpha.shape[1] // 2] == 255


def test_cut_out_of_a_busy_background_keeps_the_astronaut_and_drops_the_backdrop():
    cut = cut_out(Image.open(io.BytesIO(sample_bytes("astronaut.png"))))
    assert cut.found is True
    alpha = np.asarray(cut.image.getchannel("A"))
    assert alpha[alpha.shape[0] // 2, alpha.shape[1] // 2] == 255  # the suit
    assert alpha[5, 5] == 0  # the flag in the corner is gone


def test_logo_lands_on_the_product():
    product = Image.new("RGB", (512, 512), (235, 235, 235))
    ImageDraw.Draw(product).rectangle((260, 200, 460, 460), fill=(20, 110, 40))  # the product
    logo = Image.new("RGBA", (200, 200), (0, 0, 0, 0))
    ImageDraw.Draw(logo).ellipse((0, 0, 199, 199), fill=(255, 0, 255, 255))
    result = LocalCompositor().compose(
        request_for(
            [
                InputImage(png(product), "image/png", role="product"),
                InputImage(png(logo), "image/png", role="logo"),
            ],
            preset="logo_placement",
            aspect_ratio="1:1",
        )
    )
    out = np.asarray(decode(result.images[0]), dtype=int)
    magenta = (out[..., 0] > 150) & (out[..., 2] > 150) & (out[..., 1] < 90)
    assert magenta.sum() > 200
    ys, xs = np.nonzero(magenta)
    # The product spans x 260-460, y 200-460 in a 512 square; the logo lies wholly on it, well
    # inside its edges, scaled to it (a fifth to two fifths of its width).
    assert xs.min() > 275 and xs.max() < 445
    assert ys.min() > 215 and ys.max() < 445
    assert 0.2 * 200 < xs.max() - xs.min() < 0.4 * 200


def test_thumbnail_renders_the_quoted_title():
    result = LocalCompositor().compose(
        request_for(
            samples("chelsea.png", "rocket.jpg"),
            prompt='thumbnail titled "Cats in space"',
            preset="thumbnail",
            aspect_ratio="16:9",
        )
    )
    out = np.asarray(decode(result.images[0]), dtype=int)
    left = out[:, : out.shape[1] // 2]
    yellow = (left[..., 0] > 220) & (left[..., 1] > 180) & (left[..., 2] < 60)
    assert yellow.mean() > 0.01  # the title's yellow letters on the left half


def test_needs_two_images():
    with pytest.raises(ProviderBadRequest):
        LocalCompositor().compose(request_for(samples("chelsea.png")))


def test_progress_is_reported_per_image():
    seen = []
    LocalCompositor().compose(
        request_for(samples("chelsea.png", "coffee.png"), num_images=3), progress=seen.append
    )
    assert seen == pytest.approx([1 / 3, 2 / 3, 1.0])


def test_a_logo_on_an_opaque_white_square_touching_the_edges_is_cut_out():
    cut = cut_out(Image.open(io.BytesIO(sample_bytes("logo.png"))))
    assert cut.found is True
    alpha = np.asarray(cut.image.getchannel("A"))
    assert alpha[2, 2] < 20  # the white corner is gone
    assert alpha[alpha.shape[0] // 2, alpha.shape[1] // 2] > 240


def test_each_photo_is_cut_out_once_however_many_images_are_asked_for(monkeypatch):
    from compositions.providers import local

    cuts = []
    real = local.cut_out

    def counting(img):
        cuts.append(img.size)
        return real(img)

    monkeypatch.setattr(local, "cut_out", counting)
    request = request_for(
        samples("astronaut.png", "coffee.png"), preset="product_in_scene", num_images=3
    )
    result = LocalCompositor().compose(request)
    assert len(result.images) == 3
    assert len({decode(output).tobytes() for output in result.images}) == 3  # still varied
    assert len(cuts) == 1  # the subject, once; not once per image
