import io
import struct

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageFile, PngImagePlugin

from compositions.images import (
    ImageRejected,
    check_request_pixels,
    normalise_mode,
    sanitize_upload,
)
from conftest import image_bytes, png_header_only, sample_bytes


def sanitize(data, name="photo"):
    return sanitize_upload(io.BytesIO(data), label=name, size=len(data))


def reopen(encoded):
    img = Image.open(io.BytesIO(encoded.data))
    img.load()
    return img


def jpeg_with_exif(orientation=1, gps=False, xmp=False, size=(40, 20)):
    img = Image.new("RGB", size, (10, 120, 200))
    # A marker at the top-left corner, to see where it ends up after orientation.
    img.paste((255, 255, 0), (0, 0, 8, 8))
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "PhoneMaker"
    if gps:
        exif[0x8825] = {1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)}
    buf = io.BytesIO()
    kwargs = {"exif": exif.tobytes(), "quality": 95}
    if xmp:
        kwargs["xmp"] = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">secret-xmp</x:xmpmeta>'
    img.save(buf, "JPEG", **kwargs)
    return buf.getvalue()


def test_orientation_is_applied_before_storing():
    data = jpeg_with_exif(orientation=6, size=(40, 20))  # 6: rotate 90° clockwise to view
    stored = reopen(sanitize(data).image)
    assert stored.size == (20, 40)
    # After a 90° clockwise turn the yellow top-left marker is at the top-right.
    r, g, b = stored.getpixel((stored.width - 3, 2))
    assert r > 200 and g > 200 and b < 80


def test_metadata_is_stripped():
    data = jpeg_with_exif(orientation=1, gps=True, xmp=True)
    assert b"secret-xmp" in data and b"PhoneMaker" in data
    stored = sanitize(data).image
    assert b"secret-xmp" not in stored.data
    assert b"PhoneMaker" not in stored.data
    img = reopen(stored)
    assert not img.getexif()
    assert "xmp" not in img.info


def test_sanitized_upload_reports_its_own_bytes():
    result = sanitize(sample_bytes("coffee.png"))
    assert result.image.content_type == "image/png"
    assert (result.image.width, result.image.height) == (600, 400)
    assert reopen(result.thumbnail).format == "WEBP"
    assert max(reopen(result.thumbnail).size) <= 384


def test_decompression_bomb_is_refused_from_the_header():
    with pytest.raises(ImageRejected) as exc:
        sanitize(png_header_only(50000, 50000), name="big.png")
    assert exc.value.code == "image_too_large_pixels"
    assert "2,500 megapixels" in exc.value.message


def test_over_the_pixel_limit_but_under_pillows_bomb_threshold_is_refused(settings):
    settings.BANANASITE_MAX_IMAGE_PIXELS = 1000
    with pytest.raises(ImageRejected) as exc:
        sanitize(image_bytes(size=(40, 30)))
    assert exc.value.code == "image_too_large_pixels"


def test_truncated_jpeg_is_refused():
    data = sample_bytes("rocket.jpg")
    with pytest.raises(ImageRejected) as exc:
        sanitize(data[: len(data) // 2], name="cut.jpg")
    assert exc.value.code == "image_corrupt"
    assert "cut.jpg" in exc.value.message


def test_a_pdf_renamed_jpg_is_refused_by_content():
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    with pytest.raises(ImageRejected) as exc:
        sanitize(pdf, name="invoice.jpg")
    assert exc.value.code == "unsupported_image_type"


def test_other_pillow_formats_are_refused():
    with pytest.raises(ImageRejected) as exc:
        sanitize(image_bytes("BMP"), name="old.bmp")
    assert exc.value.code == "unsupported_image_type"


def test_bytes_over_the_limit_are_refused_before_decoding(settings):
    settings.BANANASITE_MAX_UPLOAD_BYTES = 100
    with pytest.raises(ImageRejected) as exc:
        sanitize(image_bytes(size=(200, 200)))
    assert exc.value.code == "image_too_large"


def test_first_frame_of_an_animated_gif():
    frames = [Image.new("RGB", (30, 30), (200, i * 100, 0)) for i in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    assert Image.open(io.BytesIO(buf.getvalue())).n_frames == 3
    stored = reopen(sanitize(buf.getvalue()).image)
    assert stored.size == (30, 30)
    r, g, _b = stored.convert("RGB").getpixel((5, 5))
    assert r > 150 and g < 50  # the first frame's colour


@pytest.mark.parametrize(
    ("mode", "color", "expected_mode"),
    [
        ("P", 5, "RGB"),
        ("LA", (120, 128), "RGBA"),
        ("L", 90, "RGB"),
        ("1", 1, "RGB"),
        ("CMYK", (0, 255, 255, 0), "RGB"),
        ("RGBA", (1, 2, 3, 255), "RGB"),  # opaque everywhere: no alpha to keep
    ],
)
def test_every_mode_is_normalised(mode, color, expected_mode):
    img = Image.new(mode, (16, 16), color)
    assert normalise_mode(img).mode == expected_mode


def test_sixteen_bit_greyscale_is_scaled_not_clipped_to_white():
    arr = np.full((16, 16), 32768, dtype=np.uint16)  # mid grey in 16 bits
    img = Image.fromarray(arr)
    assert img.mode == "I;16"
    out = normalise_mode(img)
    value = out.getpixel((0, 0))[0]
    assert 120 <= value <= 135


def test_transparent_png_keeps_its_alpha():
    img = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    img.paste((255, 0, 0, 255), (5, 5, 15, 15))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    stored = reopen(sanitize(buf.getvalue()).image)
    assert stored.mode == "RGBA"
    assert stored.getpixel((0, 0))[3] == 0


# --- The provider input pipeline -------------------------------------------------------------


def prepared(img_or_bytes, **kwargs):
    from compositions.images import prepare_image

    if isinstance(img_or_bytes, bytes):
        data = img_or_bytes
    else:
        buf = io.BytesIO()
        img_or_bytes.save(buf, "PNG")
        data = buf.getvalue()
    out = prepare_image(io.BytesIO(data), **{"edge": 256, **kwargs})
    return out, Image.open(io.BytesIO(out.data))


def test_a_phone_photo_with_exif_rotation_arrives_upright():
    data = jpeg_with_exif(orientation=6, size=(400, 200))
    out, img = prepared(data)
    assert out.content_type == "image/jpeg" and img.size == (128, 256)  # upright and scaled
    r, g, b = img.getpixel((img.width - 4, 3))  # the marker moved to the top-right
    assert r > 180 and g > 180 and b < 100


def test_transparency_is_flattened_onto_white_not_black():
    img = Image.new("RGBA", (300, 300), (0, 0, 0, 0))
    img.paste((200, 0, 0, 255), (100, 100, 200, 200))
    out, result = prepared(img)
    assert result.mode == "RGB" and out.content_type == "image/jpeg"
    assert min(result.getpixel((5, 5))) > 245
    _, kept = prepared(img, keep_alpha=True)
    assert kept.mode == "RGBA" and kept.getpixel((5, 5))[3] == 0


@pytest.mark.parametrize("mode", ["P", "LA", "I;16", "CMYK", "1", "L"])
def test_every_mode_is_prepared_without_crashing(mode):
    if mode == "I;16":
        img = Image.fromarray(np.full((300, 400), 40000, dtype=np.uint16))
    elif mode == "LA":
        img = Image.new("LA", (400, 300), (120, 200))
    else:
        img = Image.new(mode, (400, 300))
    buf = io.BytesIO()
    img.save(buf, "TIFF" if mode in ("I;16", "CMYK") else "PNG")
    _, result = prepared(buf.getvalue())
    assert result.mode == "RGB" and max(result.size) == 256


def test_large_jpegs_are_decoded_at_a_reduced_scale(monkeypatch):
    from PIL import JpegImagePlugin

    seen = []
    real = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        result = real(self, mode, size)
        seen.append(self.size)
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    big = Image.new("RGB", (2400, 1800), (10, 120, 200))
    buf = io.BytesIO()
    big.save(buf, "JPEG", quality=90)
    _, img = prepared(buf.getvalue(), edge=512)
    assert seen == [(600, 450)]  # decoded at a quarter scale, never at full size
    assert img.size == (512, 384)


def test_heic_phone_photos_are_accepted_and_stored_as_jpeg():
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 10, 10)).save(buf, "HEIF", quality=90)
    assert buf.getvalue()[4:12] == b"ftypheic"
    stored = sanitize(buf.getvalue(), name="IMG_0001.HEIC").image
    assert stored.content_type == "image/jpeg" and (stored.width, stored.height) == (64, 48)


def test_an_animation_frame_bomb_is_refused(settings):
    settings.BANANASITE_MAX_FRAMES = 5
    frames = [Image.new("RGB", (20, 20), (i * 30, 0, 0)) for i in range(8)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    with pytest.raises(ImageRejected) as exc:
        sanitize(buf.getvalue(), name="spin.gif")
    assert exc.value.code == "image_too_large_pixels" and "8 frames" in exc.value.message


# --- Comments and colour profiles --------------------------------------------------------------

SECRET = b"secret-note"
RED = (200, 30, 30)


def icc_profile(*, swap_red_and_blue: bool) -> bytes:
    """sRGB's ICC profile, or one whose red and blue primaries trade places: a red pixel tagged
    with it is really blue, so a converted photo shows it and a merely stripped one does not."""
    data = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    if swap_red_and_blue:
        count = struct.unpack_from(">I", data, 128)[0]
        entries = {
            struct.unpack_from(">4s", data, 132 + 12 * i)[0]: 132 + 12 * i for i in range(count)
        }
        red, blue = entries[b"rXYZ"], entries[b"bXYZ"]
        data[red + 4 : red + 12], data[blue + 4 : blue + 12] = (
            data[blue + 4 : blue + 12],
            data[red + 4 : red + 12],
        )
    return bytes(data)


def tagged(fmt: str, *, icc: bytes, mode="RGB", size=(48, 32)) -> bytes:
    """A red image with a comment (or text chunks, XMP, EXIF) and the given ICC profile."""
    color = (*RED, 255) if mode == "RGBA" else RED
    img = Image.new(mode, size, color)
    if mode == "RGBA":
        img.paste((0, 0, 0, 0), (0, 0, 8, 8))  # a transparent corner
    buf = io.BytesIO()
    if fmt == "JPEG":
        img.save(buf, "JPEG", quality=95, comment=SECRET, icc_profile=icc)
    elif fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_text("Comment", SECRET.decode())
        info.add_text("Description", SECRET.decode(), zip=True)  # zTXt
        info.add_itxt("Author", SECRET.decode(), lang="en")
        img.save(buf, "PNG", pnginfo=info, icc_profile=icc)
    else:
        exif = Image.Exif()
        exif[0x010F] = SECRET.decode()
        xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">' + SECRET + b"</x:xmpmeta>"
        img.save(buf, fmt, lossless=True, icc_profile=icc, exif=exif, xmp=xmp)
    data = buf.getvalue()
    assert SECRET in data or fmt == "PNG"  # (zTXt/iTXt may compress it; tEXt does not)
    return data


def assert_pixels_only(data: bytes):
    assert SECRET not in data and b"sRGB built-in" not in data  # (the profiles' description)
    img = Image.open(io.BytesIO(data))
    assert not {"comment", "icc_profile", "exif", "xmp"} & set(img.info)
    assert not getattr(img, "text", {})  # PNG tEXt, zTXt, iTXt
    assert not img.getexif()


def near(pixel, expected, tolerance=12):
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, expected, strict=False))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_comments_and_profiles_never_reach_storage_and_colours_are_converted(fmt):
    data = tagged(fmt, icc=icc_profile(swap_red_and_blue=True))
    result = sanitize(data)
    assert_pixels_only(result.image.data)
    assert_pixels_only(result.thumbnail.data)
    # The pixels were read through their profile: red in the file is blue in sRGB.
    stored = reopen(result.image).convert("RGB")
    assert near(stored.getpixel((20, 20)), RED[::-1]), stored.getpixel((20, 20))
    thumb = reopen(result.thumbnail).convert("RGB")
    assert near(thumb.getpixel((20, 20)), RED[::-1])


def test_a_jpeg_comment_alone_is_dropped():
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), RED).save(buf, "JPEG", comment=SECRET)
    stored = sanitize(buf.getvalue()).image
    assert_pixels_only(stored.data)


def test_an_srgb_profile_is_dropped_and_the_colours_kept():
    result = sanitize(tagged("PNG", icc=icc_profile(swap_red_and_blue=False)))
    assert_pixels_only(result.image.data)
    assert reopen(result.image).getpixel((20, 20)) == RED


def test_transparency_survives_the_colour_conversion():
    data = tagged("PNG", icc=icc_profile(swap_red_and_blue=True), mode="RGBA")
    stored = reopen(sanitize(data).image)
    assert stored.mode == "RGBA" and stored.getpixel((2, 2))[3] == 0
    assert near(stored.getpixel((20, 20)), (*RED[::-1], 255), tolerance=1)


def test_a_transparent_colour_key_is_kept_as_alpha():
    img = Image.new("RGB", (20, 20), (0, 255, 0))
    img.paste(RED, (5, 5, 15, 15))
    buf = io.BytesIO()
    img.save(buf, "PNG", transparency=(0, 255, 0))  # tRNS: green means transparent
    stored = reopen(sanitize(buf.getvalue()).image)
    assert stored.mode == "RGBA" and stored.getpixel((0, 0))[3] == 0
    assert stored.getpixel((10, 10)) == (*RED, 255)


def test_an_unreadable_profile_is_dropped_and_the_pixels_kept():
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), RED).save(buf, "PNG", icc_profile=b"not a profile " * 20)
    stored = sanitize(buf.getvalue()).image
    assert_pixels_only(stored.data)
    assert reopen(stored).getpixel((10, 10)) == RED


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_prepared_inputs_carry_no_comment_or_profile_and_are_converted(fmt):
    out, img = prepared(tagged(fmt, icc=icc_profile(swap_red_and_blue=True), size=(600, 400)))
    assert_pixels_only(out.data)
    assert img.size == (256, 171)
    assert near(img.getpixel((100, 100)), RED[::-1]), img.getpixel((100, 100))


# --- The pixel budget of a request ---------------------------------------------------------------


def test_photos_over_the_request_pixel_budget_are_refused_from_their_headers(settings, monkeypatch):
    settings.BANANASITE_MAX_REQUEST_PIXELS = 100_000_000
    decoded = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self))
    files = [io.BytesIO(png_header_only(8000, 8000)) for _ in range(2)]  # 128 megapixels
    with pytest.raises(ImageRejected) as exc:
        check_request_pixels(files)
    assert exc.value.code == "image_too_large_pixels"
    assert "128 megapixels together" in exc.value.message
    assert "100 megapixels" in exc.value.message
    assert decoded == []  # read from the headers only
    assert [f.tell() for f in files] == [0, 0]  # and left where they were
    check_request_pixels(files[:1])  # 64 megapixels: within the budget


def test_unreadable_headers_are_left_to_sanitising(settings):
    settings.BANANASITE_MAX_REQUEST_PIXELS = 100
    check_request_pixels([io.BytesIO(b"%PDF-1.4 not an image")])
