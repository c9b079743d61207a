"""The image maths of region edits and expands, which the models cannot do themselves.

Nano Banana models repaint the whole picture and ignore a mask sent as an image, so a region
edit sends the model only a crop around the region (with context) and then pastes the model's
answer back through a mask feathered *inwards*: every pixel outside the region is the
original's, byte for byte in a lossless result. An expand sends the picture on a bigger canvas
whose new area holds a blurred reflection as a hint; the model's answer fills the new area and
the original pixels are pasted back unchanged. The model's colours are matched to the
original's on a ring just outside the region (or just inside the original's border), where the
two should agree, so no seam shows when a model shifts the colours of the whole picture.
"""

import io
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

Box = tuple[int, int, int, int]  # left, top, right, bottom (exclusive)

# Context around the region that the model sees: half the region's longer side, at least this.
MIN_CONTEXT = 64
CONTEXT_SHARE = 0.5
# The ring where colours are compared, in pixels at the crop's size.
RING = 12
# A colour correction stronger than this is not a shift but a different picture: cap it.
GAIN_RANGE = (0.8, 1.25)
DEFAULT_FEATHER = 8
MAX_FEATHER = 256
MAX_MARGIN = 4096


class RegionRejected(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Canvas:
    """An expand's new picture: its size and where the original sits in it."""

    width: int
    height: int
    left: int
    top: int


def _ratio(text: str) -> float:
    w, h = (int(p) for p in text.split(":"))
    return w / h


def read_mask(data: bytes) -> np.ndarray:
    """The region as a boolean array: opaque pixels of a mask with transparency, otherwise
    white (light) ones."""
    img = Image.open(io.BytesIO(data))
    img.load()
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        alpha = np.asarray(img.convert("RGBA").getchannel("A"))
        if alpha.min() < 128:  # really transparent somewhere: opacity marks the region
            return alpha >= 128
    return np.asarray(img.convert("L")) >= 128


def check_mask(mask: np.ndarray, size: tuple[int, int]) -> None:
    """Refuse a mask that cannot mark a region of a picture of `size` (width, height)."""
    height, width = mask.shape
    if (width, height) != size:
        raise RegionRejected(
            "mask_size_mismatch",
            f"The mask is {width}×{height} pixels but the picture is {size[0]}×{size[1]}; "
            "paint the mask at the picture's size.",
        )
    if not mask.any():
        raise RegionRejected(
            "mask_empty", "The mask marks no region: paint the area to change in white."
        )
    if mask.all():
        raise RegionRejected(
            "mask_full",
            "The mask covers the whole picture; to change everything, make an ordinary "
            "composition instead.",
        )


def mask_png(mask: np.ndarray) -> bytes:
    """The region as a 1-bit PNG (tiny, lossless), as stored with the composition."""
    buf = io.BytesIO()
    Image.fromarray(mask.astype(np.uint8) * 255, "L").convert("1").save(buf, "PNG")
    return buf.getvalue()


def _fit(start: int, length: int, limit: int) -> int:
    """Move a span of `length` starting at `start` so it lies within 0..limit."""
    return max(0, min(start, limit - length))


def crop_box(mask: np.ndarray, ratios: tuple[str, ...] | list[str]) -> tuple[Box, str]:
    """The crop the model sees: the region's bounding box with context around it, grown to the
    model's aspect ratio nearest its shape (within the picture), and that ratio."""
    height, width = mask.shape
    ys, xs = np.nonzero(mask)
    left, top, right, bottom = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
    pad = max(MIN_CONTEXT, int(CONTEXT_SHARE * max(right - left, bottom - top)))
    left, top = max(0, left - pad), max(0, top - pad)
    right, bottom = min(width, right + pad), min(height, bottom + pad)
    w, h = right - left, bottom - top
    ratio = min(ratios, key=lambda r: abs(np.log(_ratio(r) * h / w)))
    target = _ratio(ratio)
    # Grow the short side to the ratio, as far as the picture allows.
    if w / h < target:
        new_w = min(width, round(h * target))
        left = _fit(left - (new_w - w) // 2, new_w, width)
        w = new_w
    else:
        new_h = min(height, round(w / target))
        top = _fit(top - (new_h - h) // 2, new_h, height)
        h = new_h
    return (left, top, left + w, top + h), ratio


def feather_alpha(mask: np.ndarray, feather: int) -> np.ndarray:
    """Weights for the model's pixels: 0 everywhere outside the region (so those pixels stay
    the original's), rising over `feather` pixels inside its edge to 1."""
    if feather <= 0:
        return mask.astype(np.float32)
    inside = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    return np.clip(inside / float(feather + 1), 0.0, 1.0).astype(np.float32)


def colour_correction(
    generated: np.ndarray, original: np.ndarray, ring: np.ndarray
) -> list[tuple[float, float, float]]:
    """Per channel (gain, model mean, original mean) that move the model's colours on `ring`,
    where both pictures should show the same thing, to the original's."""
    if ring.sum() < 16:
        return []
    out = []
    for c in range(min(3, generated.shape[2])):
        g, o = generated[..., c][ring].astype(np.float32), original[..., c][ring].astype(np.float32)
        gain = float(np.clip((o.std() + 1.0) / (g.std() + 1.0), *GAIN_RANGE))
        out.append((gain, float(g.mean()), float(o.mean())))
    return out


def match_colour(generated: np.ndarray, original: np.ndarray, ring: np.ndarray) -> np.ndarray:
    """`generated` with each channel's mean and spread moved to the original's on `ring`."""
    return _corrected(generated, colour_correction(generated, original, ring))


def _corrected(generated: np.ndarray, correction: list[tuple[float, float, float]]) -> np.ndarray:
    out = generated.astype(np.float32)
    for c, (gain, model_mean, original_mean) in enumerate(correction):
        out[..., c] = (out[..., c] - model_mean) * gain + original_mean
    return np.clip(out, 0, 255)


def _as_array(img: Image.Image, mode: str, size: tuple[int, int]) -> np.ndarray:
    if img.size != size:
        img = img.resize(size, Image.Resampling.LANCZOS)
    return np.asarray(img.convert(mode))


def _blend(base: np.ndarray, top: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """base × (1 − alpha) + top × alpha, rounded; exactly `base` where alpha is 0."""
    a = alpha[..., None]
    mixed = base.astype(np.float32) * (1.0 - a) + top.astype(np.float32) * a
    out = np.rint(mixed).astype(np.uint8)
    out[alpha <= 0] = base[alpha <= 0]
    return out


def region_input(
    source: Image.Image, mask: np.ndarray, box: Box
) -> tuple[Image.Image, Image.Image]:
    """What the model is sent: the crop, and the region within it as an L image (the local
    compositor uses it; the models ignore masks)."""
    region = mask[box[1] : box[3], box[0] : box[2]].astype(np.uint8) * 255
    return source.crop(box), Image.fromarray(region, "L")


def apply_region_edit(
    source: Image.Image, mask: np.ndarray, box: Box, generated: Image.Image, *, feather: int
) -> Image.Image:
    """The original with the model's answer for the crop `box` pasted in through the feathered
    region; outside the region every pixel is the original's. Only the region's own bounding
    box is computed in floating point, so a small region of a big photo costs little."""
    mode = "RGBA" if source.mode == "RGBA" else "RGB"
    full = source.convert(mode) if source.mode != mode else source.copy()
    size = (box[2] - box[0], box[3] - box[1])
    original = np.asarray(full.crop(box))
    region = mask[box[1] : box[3], box[0] : box[2]]
    model = _as_array(generated, mode, size)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * RING + 1, 2 * RING + 1))
    ring = cv2.dilate(region.astype(np.uint8), kernel).astype(bool) & ~region
    correction = colour_correction(model, original, ring)
    ys, xs = np.nonzero(region)
    top, bottom, left, right = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    part = (slice(top, bottom), slice(left, right))
    model_part = _corrected(model[part], correction)
    if mode == "RGBA":
        model_part[..., 3] = original[part][..., 3]  # transparency is the picture's
    alpha = feather_alpha(region, feather)[part]
    out = _blend(original[part], model_part, alpha)
    full.paste(Image.fromarray(out, mode), (box[0] + int(left), box[1] + int(top)))
    return full


# --- Expand --------------------------------------------------------------------------------------


def expand_canvas(
    size: tuple[int, int], *, aspect_ratio: str = "", margin: int = 0
) -> tuple[Canvas, str]:
    """The new canvas for an aspect ratio (the picture centred, the short sides grown) or for
    a margin on every side; and the ratio it asks the model for (`aspect_ratio` or "")."""
    width, height = size
    if aspect_ratio:
        target = _ratio(aspect_ratio)
        if abs(width / height - target) < 0.01:
            raise RegionRejected(
                "expand_no_change",
                f"The picture is {aspect_ratio} already; choose another ratio or a margin.",
            )
        if width / height < target:
            new_w, new_h = round(height * target), height
        else:
            new_w, new_h = width, round(width / target)
    else:
        if not 1 <= margin <= MAX_MARGIN:
            raise RegionRejected(
                "expand_invalid", f"Choose a margin of 1 to {MAX_MARGIN} pixels, or a ratio."
            )
        new_w, new_h = width + 2 * margin, height + 2 * margin
    return Canvas(new_w, new_h, (new_w - width) // 2, (new_h - height) // 2), aspect_ratio


def expand_mask(canvas: Canvas, size: tuple[int, int]) -> np.ndarray:
    """The new area of the canvas (True), around the original."""
    mask = np.ones((canvas.height, canvas.width), dtype=bool)
    mask[canvas.top : canvas.top + size[1], canvas.left : canvas.left + size[0]] = False
    return mask


def _mirrored(source: Image.Image, canvas: Canvas) -> np.ndarray:
    """The picture on its canvas, the new area its mirror image."""
    arr = np.asarray(source.convert("RGB"))
    height, width = arr.shape[:2]
    pad = (
        (canvas.top, canvas.height - height - canvas.top),
        (canvas.left, canvas.width - width - canvas.left),
        (0, 0),
    )
    return np.pad(arr, pad, mode="symmetric")


def _blurred(arr: np.ndarray, sigma: float) -> np.ndarray:
    """A strong Gaussian blur, worked out on a smaller copy (a blur that wide keeps no detail
    that the copy would lose), so a 16-megapixel canvas costs what a small one does."""
    height, width = arr.shape[:2]
    factor = max(1.0, sigma / 4.0)
    small = cv2.resize(
        arr,
        (max(1, round(width / factor)), max(1, round(height / factor))),
        interpolation=cv2.INTER_AREA,
    )
    small = cv2.GaussianBlur(small, (0, 0), sigma / factor)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def expand_draft(source: Image.Image, canvas: Canvas) -> Image.Image:
    """The picture on its new canvas, the new area a blurred mirror of the picture: a hint of
    what continues there that the model repaints (and the local compositor's whole fill)."""
    mirrored = _mirrored(source, canvas)
    new_area = expand_mask(canvas, source.size)
    # Blur more the further from the picture: near the seam the hint stays close to it.
    sigma = max(2.0, 0.02 * max(canvas.width, canvas.height))
    away = cv2.distanceTransform(new_area.astype(np.uint8), cv2.DIST_L2, 5)
    weight = np.clip(away / (3 * sigma), 0.0, 1.0)
    return Image.fromarray(_blend(mirrored, _blurred(mirrored, sigma), weight), "RGB")


def apply_expand(
    source: Image.Image, canvas: Canvas, generated: Image.Image, *, feather: int
) -> Image.Image:
    """The model's picture at the canvas's size, colour-matched to the original along its
    border, eased into the mirror of the original near the seam, with the original pasted back
    unchanged."""
    size = source.size
    model = _as_array(generated, "RGB", (canvas.width, canvas.height))
    mirrored = _mirrored(source, canvas)
    inside = ~expand_mask(canvas, size)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * RING + 1, 2 * RING + 1))
    ring = inside & ~cv2.erode(inside.astype(np.uint8), kernel, borderValue=0).astype(bool)
    model = _corrected(model, colour_correction(model, mirrored, ring))
    out = _blend(mirrored, model, feather_alpha(~inside, feather))
    full = Image.fromarray(out, "RGB")
    if source.mode == "RGBA":
        full = full.convert("RGBA")
        full.paste(source, (canvas.left, canvas.top))
    else:
        full.paste(source.convert("RGB"), (canvas.left, canvas.top))
    return full


def encode_png(img: Image.Image) -> bytes:
    """Lossless, so the pixels outside the region stay exactly the original's."""
    buf = io.BytesIO()
    img.save(buf, "PNG", compress_level=1)
    return buf.getvalue()
