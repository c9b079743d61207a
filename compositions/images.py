"""Image handling for everything people hand us, and the encodings we store.

Every upload is decoded in full (which is how a truncated file is caught), turned upright,
converted to sRGB by its embedded ICC profile, put into a plain colour mode and re-encoded with
nothing but its pixels before any byte reaches storage: EXIF (with GPS), XMP, comments and ICC
profiles never leave the request. Re-encoding also defuses files that are an image and something
else at once.
"""

import hashlib
import io
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO

import imagehash
import numpy as np
from django.conf import settings
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from bananasite.files import extension_for

# Decoders we accept, by content (never by file name or the browser's content type).
FORMAT_MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}
try:  # HEIC/HEIF (phone photos) when the optional pillow-heif is installed.
    import pillow_heif

    pillow_heif.register_heif_opener()
    FORMAT_MIME["HEIF"] = "image/heif"
except ImportError:
    pass

NOT_AN_IMAGE = (
    gettext_lazy("“%(label)s” is not a JPEG, PNG, WebP, GIF or HEIC image.")
    if "HEIF" in FORMAT_MIME
    else gettext_lazy("“%(label)s” is not a JPEG, PNG, WebP or GIF image.")
)
THUMBNAIL_EDGE = 384
# What a remote model is sent of an input: the models see an input at a fixed token cost per
# image, so a longer edge than this only makes requests bigger.
MODEL_EDGE = 1536
MODEL_QUALITY = 88
# Modes littlecms converts directly; others (palette, LA, 16-bit) are made plain first.
CMS_MODES = ("RGB", "RGBA", "CMYK", "L")
# 17 levels a channel (4,913 colours): enough to tell a profile that changes nothing.
_LEVELS = np.linspace(0, 255, 17).round().astype(np.uint8)
LATTICE = Image.fromarray(
    np.stack(np.meshgrid(_LEVELS, _LEVELS, _LEVELS, indexing="ij"), axis=-1).reshape(1, -1, 3),
    "RGB",
)


class ImageRejected(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class EncodedImage:
    data: bytes
    content_type: str
    extension: str
    width: int
    height: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class SanitizedUpload:
    image: EncodedImage
    thumbnail: EncodedImage
    phash: str = ""
    # The copy a remote model is sent (`model_copy`), when one was asked for.
    model_copy: EncodedImage | None = None


def perceptual_hash(img: Image.Image) -> str:
    """The 64-bit DCT hash of an image as 16 hex digits: photos that look alike (re-encoded,
    resized, lightly edited) are a few bits apart, which is how removed content is recognised
    when it comes back. ImageHash is the maintained implementation of pHash."""
    if img.mode == "RGBA":
        flat = Image.new("RGB", img.size, (255, 255, 255))
        flat.paste(img, mask=img.getchannel("A"))
        img = flat
    return str(imagehash.phash(img))


def _megapixels(pixels: int) -> str:
    return _("%(count)s megapixels") % {
        "count": number_format(round(pixels / 1_000_000), force_grouping=True)
    }


def open_verified(fileobj, *, label: str) -> Image.Image:
    """Open and fully decode an image, or raise ImageRejected with a message for people."""
    limit = settings.BANANASITE_MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = limit
    try:
        with warnings.catch_warnings():
            # Pillow only warns between 1x and 2x its limit; we treat the limit as hard.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(fileobj, formats=list(FORMAT_MIME))
            width, height = img.size
            if width * height > limit:
                raise ImageRejected(
                    "image_too_large_pixels",
                    _("“%(label)s” is %(width)d×%(height)d pixels; the limit is %(limit)s.")
                    % {
                        "label": label,
                        "width": width,
                        "height": height,
                        "limit": _megapixels(limit),
                    },
                )
            frames = getattr(img, "n_frames", 1)
            if frames > settings.BANANASITE_MAX_FRAMES:
                # An animation bomb: thousands of frames behind a small file.
                raise ImageRejected(
                    "image_too_large_pixels",
                    _("“%(label)s” has %(frames)s frames; the limit is %(limit)s.")
                    % {
                        "label": label,
                        "frames": number_format(frames, force_grouping=True),
                        "limit": number_format(settings.BANANASITE_MAX_FRAMES, force_grouping=True),
                    },
                )
            if frames > 1:
                img.seek(0)  # Animated GIF or WebP: the first frame is the photo.
            img.load()
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow stops at the header, before we learn the size; its message has the count.
        found = re.search(r"\((\d+) pixels\)", str(exc))
        words = {"label": label, "limit": _megapixels(limit)}
        if found:
            words["size"] = _megapixels(int(found.group(1)))
            message = _("“%(label)s” is %(size)s; the limit is %(limit)s.") % words
        else:
            message = _("“%(label)s” has more pixels than that; the limit is %(limit)s.") % words
        raise ImageRejected("image_too_large_pixels", message) from None
    except UnidentifiedImageError:
        raise ImageRejected("unsupported_image_type", NOT_AN_IMAGE % {"label": label}) from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError):
        # Pillow reports truncated and malformed data through all of these.
        raise ImageRejected(
            "image_corrupt",
            _("“%(label)s” is damaged or incomplete and could not be read.") % {"label": label},
        ) from None
    return img


def _header_pixels(fileobj: IO[bytes]) -> int:
    """The pixels of an image's first frame, read from its header: Pillow opens lazily, so
    nothing is decoded. 0 when the header cannot be read (sanitising says why, per photo)."""
    start = fileobj.tell()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            width, height = Image.open(fileobj, formats=list(FORMAT_MIME)).size
        return width * height
    except Exception:  # any unreadable header is sanitize_upload's to report, per photo
        return 0
    finally:
        fileobj.seek(start)


def check_request_pixels(files: Iterable[IO[bytes]]) -> None:
    """Refuse photos that together have more pixels than one request may decode, from their
    headers, before any is decoded: decoding and re-encoding is where a request's time and
    memory go (a small 64-megapixel PNG takes seconds and hundreds of megabytes)."""
    limit = settings.BANANASITE_MAX_REQUEST_PIXELS
    total = sum(_header_pixels(fileobj) for fileobj in files)
    if total > limit:
        together = _megapixels(total)
        if together == _megapixels(limit):  # just over: "200 ... at most 200" would puzzle
            together = _("%(count)s megapixels") % {
                "count": number_format(total / 1_000_000, decimal_pos=1, force_grouping=True)
            }
        raise ImageRejected(
            "image_too_large_pixels",
            _(
                "These photos are %(together)s together; at most %(limit)s can be sent at once. "
                "Send fewer or smaller photos, or upload them one at a time."
            )
            % {"together": together, "limit": _megapixels(limit)},
        )


def to_srgb(img: Image.Image) -> Image.Image:
    """The image in sRGB, its embedded ICC profile applied and gone from `info` (the rest of
    which stays, e.g. the EXIF orientation still to be applied; `img` itself may be changed).

    Models and browsers read untagged pixels as sRGB, so a Display P3, Adobe RGB or CMYK photo
    would change colour if its profile were only dropped. A profile that cannot be read or
    does not fit the image is dropped, leaving the pixels as they are."""
    icc = img.info.get("icc_profile")
    if not icc:
        return img
    info = {key: value for key, value in img.info.items() if key != "icc_profile"}
    try:
        if img.mode not in CMS_MODES:
            img = normalise_mode(img)
        transform = _transform_to_srgb(img.mode, icc)
        if transform is not None:
            img = transform.apply(img)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        pass  # a profile that cannot be read or does not fit: the pixels as they are
    img.info = info  # a transform tags its output with sRGB's profile: not kept either
    return img


def _transform_to_srgb(mode: str, icc: bytes) -> ImageCms.ImageCmsTransform | None:
    """The transform from this profile to sRGB; None when it would change no colour by more
    than a level. Most cameras embed an sRGB profile, and converting 12 megapixels costs about
    0.4 s here, so such photos only lose the profile. The profiles are made afresh (0.2 ms)
    because littlecms handles are not to be shared between threads (inputs are prepared in
    parallel)."""
    source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    srgb = ImageCms.createProfile("sRGB")
    transform = ImageCms.buildTransform(source, srgb, mode, "RGBA" if mode == "RGBA" else "RGB")
    if mode in ("RGB", "RGBA"):
        sample = LATTICE if mode == "RGB" else LATTICE.convert("RGBA")
        moved = np.asarray(transform.apply(sample), np.int16) - np.asarray(sample, np.int16)
        if np.abs(moved).max() <= 1:
            return None
    return transform


def normalise_mode(img: Image.Image) -> Image.Image:
    """RGB, or RGBA where the image really has transparency; any Pillow mode goes in."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # 16- and 32-bit greyscale: scale to 8 bits instead of clipping (convert("L") would
        # turn most of a 16-bit image white).
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        if img.mode == "F":
            top = max(float(arr.max()), 1.0)
        img = Image.fromarray(np.clip(arr * (255.0 / top), 0, 255).astype(np.uint8), "L")
    # A transparent colour (a PNG's tRNS) becomes alpha here: metadata is dropped later.
    has_alpha = img.mode in ("RGBA", "LA", "PA") or (
        img.mode in ("P", "L", "RGB") and "transparency" in img.info
    )
    if has_alpha:
        img = img.convert("RGBA")
        if img.getchannel("A").getextrema()[0] == 255:
            img = img.convert("RGB")  # An alpha channel that is opaque everywhere.
        return img
    return img.convert("RGB") if img.mode != "RGB" else img


def pixels_only(img: Image.Image) -> Image.Image:
    """The image without its metadata. Pillow's encoders copy some of `img.info` into the file
    by themselves (a JPEG's comment, a PNG's ICC profile), whatever format it came from."""
    img.info = {}
    return img


def encode(img: Image.Image, *, prefer_jpeg: bool, quality: int = 92) -> EncodedImage:
    """PNG where there is transparency or the source was lossless, otherwise JPEG; pixels only
    (the image's metadata is dropped: convert its colours with `to_srgb` first)."""
    img = pixels_only(img)
    buf = io.BytesIO()
    if img.mode == "RGBA" or not prefer_jpeg:
        img.save(buf, "PNG", compress_level=6)
        content_type = FORMAT_MIME["PNG"]
    else:
        img.save(buf, "JPEG", quality=quality, optimize=True)
        content_type = FORMAT_MIME["JPEG"]
    return EncodedImage(
        buf.getvalue(), content_type, extension_for(content_type), img.width, img.height
    )


def make_thumbnail(img: Image.Image, edge: int = THUMBNAIL_EDGE) -> EncodedImage:
    thumb = pixels_only(img.copy())
    thumb.thumbnail((edge, edge), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    thumb.save(buf, "WEBP", quality=80, method=4)
    return EncodedImage(buf.getvalue(), "image/webp", "webp", thumb.width, thumb.height)


def sanitize_upload(
    fileobj, *, label: str, size: int | None = None, model_edge: int | None = None
) -> SanitizedUpload:
    """Validate one uploaded file and return it upright, metadata-free, ready to store; with
    `model_edge`, also the copy a remote model will be sent (made from the pixels decoded here,
    so a composition does not decode every input again before its provider call)."""
    limit = settings.BANANASITE_MAX_UPLOAD_BYTES
    if size is not None and size > limit:
        raise ImageRejected(
            "image_too_large",
            _("“%(label)s” is %(size)s MB; the limit is %(limit)s MB.")
            % {
                "label": label,
                "size": number_format(size / 1048576, decimal_pos=1),
                "limit": number_format(limit / 1048576, decimal_pos=0),
            },
        )
    if size == 0:
        raise ImageRejected("image_corrupt", _("“%(label)s” is empty.") % {"label": label})
    img = open_verified(fileobj, label=label)
    source_format = img.format
    img = ImageOps.exif_transpose(img)
    img = normalise_mode(to_srgb(img))
    stored = encode(img, prefer_jpeg=source_format in ("JPEG", "HEIF"))
    return SanitizedUpload(
        image=stored,
        thumbnail=make_thumbnail(img),
        phash=perceptual_hash(img),
        model_copy=make_model_copy(img, edge=model_edge) if model_edge else None,
    )


def make_model_copy(
    img: Image.Image, *, edge: int = MODEL_EDGE, quality: int = MODEL_QUALITY
) -> EncodedImage:
    """What `prepare_image` makes for a remote model (at most `edge` long, plain RGB JPEG),
    from an image already decoded and upright. The box reduction before the Lanczos filter
    (`reducing_gap=1`) halves the time at 12 MP and differs from a full Lanczos by less than
    any JPEG at this quality does (54 dB PSNR)."""
    scale = min(1.0, edge / max(img.size))
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    out = img.resize(size, Image.Resampling.LANCZOS, reducing_gap=1.0) if size != img.size else img
    return encode(_flattened(out), prefer_jpeg=True, quality=quality)


def _flattened(img: Image.Image) -> Image.Image:
    """Transparency flattened onto white: what a JPEG for a model shows."""
    if img.mode != "RGBA":
        return img
    flat = Image.new("RGB", img.size, (255, 255, 255))
    flat.paste(img, mask=img.getchannel("A"))
    return flat


def load_rgba(data: bytes) -> Image.Image:
    """Decode bytes we stored ourselves (already sanitised) as RGBA."""
    img = Image.open(io.BytesIO(data))
    img.load()
    return img.convert("RGBA")


# libjpeg decodes at 1/1, 1/2, 1/4 or 1/8 scale. 1/8 keeps only each block's average, which
# costs visible quality (0.7 dB in benchmarks/prep_bench.py), so we stop at 1/4; and we accept a
# decode up to 5% short of the target (then a slight upscale, -0.3 dB), which is often the
# difference between a 1/2 and a 1/4 decode: half the work.
DRAFT_SCALES = (4, 2, 1)
DRAFT_SLACK = 0.95


def _draft_size(original: tuple[int, int], target: tuple[int, int]) -> tuple[int, int]:
    w, h = original
    for scale in DRAFT_SCALES:
        if w / scale >= target[0] * DRAFT_SLACK and h / scale >= target[1] * DRAFT_SLACK:
            return (-(-w // scale), -(-h // scale))
    return original


def prepare_image(
    source, *, edge: int, quality: int = 88, keep_alpha: bool = False
) -> EncodedImage:
    """An input made ready for a model: at most `edge` pixels long, upright, plain RGB JPEG
    (transparency flattened onto white), or PNG when `keep_alpha` and it has transparency.

    Fast and lean: a JPEG is decoded at a reduced scale straight from its DCT coefficients
    (`draft`) to the smallest size still at least `edge`, and turned upright after the resize,
    when there are fewer pixels to move.
    """
    opened = Image.open(source)
    scale = min(1.0, edge / max(opened.size))
    size = (max(1, round(opened.width * scale)), max(1, round(opened.height * scale)))
    if opened.format == "JPEG":
        opened.draft("RGB", _draft_size(opened.size, size))
    img: Image.Image = opened
    if img.mode not in ("RGB", "RGBA", "L"):
        # Palette, 16-bit, CMYK...: resampling needs a plain mode (CMYK its profile first).
        img = normalise_mode(to_srgb(img))
    if img.size != size:
        img = img.resize(size, Image.Resampling.LANCZOS)
    # Colours are converted after the resize, when there are fewer pixels to convert.
    img = normalise_mode(to_srgb(ImageOps.exif_transpose(img)))
    return encode(img if keep_alpha else _flattened(img), prefer_jpeg=True, quality=quality)
