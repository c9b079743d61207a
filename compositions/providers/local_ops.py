"""The local compositor's image operations that need more than Pillow: a subject cut out with
OpenCV's GrabCut, the colour and tone of one photo carried over to another (Reinhard's transfer
in Lab), and the spot on a product where a logo goes.

Each works on a small copy of the photo (at most `CUT_EDGE` pixels on the long side) and scales
its answer back up, so a 12-megapixel input costs about what a thumbnail does.
"""

import random
import re
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

CUT_EDGE = 192  # GrabCut's cost grows with the pixel count; the mask's edge is softened anyway
GRABCUT_ROUNDS = 3
# The prior: the middle three quarters of the frame (an ellipse) probably show the subject, a
# small core at the centre certainly does, and the rest is probably background.
PRIOR_ELLIPSE = 0.75
PRIOR_CORE = 0.10
# After the first pass, a side of the frame that the subject barely touches is taken as sure
# background, and GrabCut runs again from the first pass's mask with that knowledge.
BORDER_BAND = 0.03
TOUCHING_SIDE = 0.2
# A cut-out smaller or larger than this share of the frame found nothing worth cutting.
MIN_COVER, MAX_COVER = 0.02, 0.95
Box = tuple[int, int, int, int]  # left, top, right, bottom (exclusive), as Pillow's getbbox


def _small_bgr(img: Image.Image, edge: int) -> tuple[np.ndarray, float]:
    rgb = img.convert("RGB")
    scale = min(1.0, edge / max(rgb.size))
    if scale < 1.0:
        # Pillow's reducing resize is fast on big photos and averages like INTER_AREA.
        rgb = rgb.resize(
            (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))),
            Image.Resampling.BILINEAR,
            reducing_gap=2.0,
        )
    return cv2.cvtColor(np.asarray(rgb), cv2.COLOR_RGB2BGR), scale


def _tidy(mask: np.ndarray) -> np.ndarray:
    """Keep the main subject (the largest piece and pieces of comparable size) and fill its
    holes: GrabCut leaves specks of background that resemble the subject and pinholes inside it."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count > 2:
        areas = stats[1:, cv2.CC_STAT_AREA]
        keep = [i + 1 for i, area in enumerate(areas) if area >= 0.15 * areas.max()]
        mask = np.isin(labels, keep).astype(np.uint8) * 255
    holes = (mask == 0).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(holes, connectivity=4)
    height, width = mask.shape
    for i in range(1, count):
        x, y, w, h = stats[i, :4]
        if x > 0 and y > 0 and x + w < width and y + h < height:  # not open to the frame
            mask[labels == i] = 255
    return mask


def grabcut_mask(img: Image.Image) -> np.ndarray | None:
    """The subject's mask (uint8, 0 or 255) at `CUT_EDGE`, or None when GrabCut found no
    subject of sensible size (nearly nothing, or nearly the whole frame)."""
    small, _ = _small_bgr(img, CUT_EDGE)
    height, width = small.shape[:2]
    if min(height, width) < 8:
        return None
    # GrabCut seeds its colour models with k-means, which draws from OpenCV's per-thread
    # generator: a fixed seed keeps the same photo's cut-out the same.
    cv2.setRNGSeed(0)
    mask = np.full((height, width), cv2.GC_PR_BGD, np.uint8)
    centre = (width // 2, height // 2)
    axes = (int(width * PRIOR_ELLIPSE / 2), int(height * PRIOR_ELLIPSE / 2))
    cv2.ellipse(mask, centre, axes, 0, 0, 360, cv2.GC_PR_FGD, -1)
    core = (max(1, int(width * PRIOR_CORE / 2)), max(1, int(height * PRIOR_CORE / 2)))
    cv2.ellipse(mask, centre, core, 0, 0, 360, cv2.GC_FGD, -1)
    background_model = np.zeros((1, 65), np.float64)
    subject_model = np.zeros((1, 65), np.float64)
    no_rect = (0, 0, 0, 0)  # started from the mask, not a rectangle
    cv2.grabCut(
        small, mask, no_rect, background_model, subject_model, GRABCUT_ROUNDS, cv2.GC_INIT_WITH_MASK
    )
    subject = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
    band = max(1, int(min(height, width) * BORDER_BAND))
    sides = [
        (slice(0, band), slice(None)),
        (slice(height - band, height), slice(None)),
        (slice(None), slice(0, band)),
        (slice(None), slice(width - band, width)),
    ]
    refined = np.where(subject, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    free_sides = [side for side in sides if subject[side].mean() < TOUCHING_SIDE]
    if free_sides:
        for side in free_sides:
            refined[side] = cv2.GC_BGD
        cv2.grabCut(
            small,
            refined,
            no_rect,
            background_model,
            subject_model,
            GRABCUT_ROUNDS,
            cv2.GC_INIT_WITH_MASK,
        )
        subject = (refined == cv2.GC_FGD) | (refined == cv2.GC_PR_FGD)
    result = _tidy(subject.astype(np.uint8) * 255)
    cover = float((result > 0).mean())
    if not MIN_COVER <= cover <= MAX_COVER:
        return None
    return result


def soft_full_mask(mask: np.ndarray, size: tuple[int, int]) -> Image.Image:
    """A small hard mask scaled up to `size` with an edge about one small pixel wide. Softened
    while small, then scaled: a blur at 12 megapixels would cost more than GrabCut itself."""
    soft = cv2.GaussianBlur(mask, (0, 0), 0.7)
    return Image.fromarray(cv2.resize(soft, size, interpolation=cv2.INTER_LINEAR), "L")


# --- Colour and tone -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ToneStrength:
    """How far each Lab channel moves toward the style's statistics (1 = all the way)."""

    lightness: float = 1.0
    green_red: float = 1.0
    blue_yellow: float = 1.0

    @classmethod
    def varied(cls, rng: random.Random) -> "ToneStrength":
        # Each variation takes its own share of the style per channel, so two variations of one
        # pair of photos differ in light and in colour, not in one knob.
        return cls(rng.uniform(0.45, 1.0), rng.uniform(0.45, 1.0), rng.uniform(0.45, 1.0))


def lab_statistics(rgb: np.ndarray) -> np.ndarray:
    """Mean and standard deviation of L, a, b (rows) of an RGB uint8 array, in 0-255 units."""
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float32)
    return np.stack([lab.mean(axis=0), lab.std(axis=0)], axis=1)


def transfer_colour(
    content: np.ndarray, style: np.ndarray, strength: ToneStrength | None = None
) -> np.ndarray:
    """Reinhard et al. (2001): match each Lab channel's mean and spread to the style's. The
    content's shapes and edges stay; only its colour and tone change. Both are RGB uint8."""
    strength = strength or ToneStrength()
    lab = cv2.cvtColor(content, cv2.COLOR_RGB2LAB).astype(np.float32)
    source, target = lab_statistics(content), lab_statistics(style)
    weights = np.array([strength.lightness, strength.green_red, strength.blue_yellow], np.float32)
    spread = target[:, 1] / np.maximum(source[:, 1], 1.0)
    # A flat content channel (std near 0) must not be blown up into noise.
    spread = np.minimum(spread, 4.0)
    moved = (lab - source[:, 0]) * spread + target[:, 0]
    out = lab + (moved - lab) * weights
    out = np.clip(out, 0, 255).astype(np.uint8)
    return cv2.cvtColor(out, cv2.COLOR_LAB2RGB)


# --- Where a logo goes ---------------------------------------------------------------------------


def logo_spot(
    product_mask: np.ndarray, logo_size: tuple[int, int], rng: random.Random
) -> tuple[Box, Box]:
    """Where a logo of `logo_size` (w, h) sits on a product: returns the product's box and the
    logo's box, both in the mask's pixels. The logo is scaled to the product's box and centred
    on a point deep inside the product (far from its outline), so it sits on the product's
    surface rather than on whatever is in the middle of the frame."""
    ys, xs = np.nonzero(product_mask)
    product: Box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    box_w, box_h = product[2] - product[0], product[3] - product[1]
    depth = cv2.distanceTransform((product_mask > 0).astype(np.uint8), cv2.DIST_L2, 5)
    # Candidates: the product's most interior points; a variation takes another of them.
    deep_ys, deep_xs = np.nonzero(depth >= depth.max() * 0.8)
    pick = rng.randrange(len(deep_xs))
    cx, cy = int(deep_xs[pick]), int(deep_ys[pick])
    # As large as a third of the product's box, and no larger than the free area around the
    # point, so the logo stays on the product.
    reach = float(depth[cy, cx]) * 1.6
    logo_w, logo_h = logo_size
    scale = min(box_w * 0.34 / logo_w, box_h * 0.34 / logo_h, reach / max(logo_w, logo_h))
    scale *= rng.uniform(0.85, 1.0)
    w, h = max(1, int(logo_w * scale)), max(1, int(logo_h * scale))
    left = min(max(cx - w // 2, product[0]), product[2] - w)
    top = min(max(cy - h // 2, product[1]), product[3] - h)
    return product, (left, top, left + w, top + h)


# --- Region edits and expands ------------------------------------------------------------------

# Colours a region edit's prompt may name ("make the door red"): the local compositor recolours
# the region to them, keeping its light and texture. Hue in OpenCV's 0-179 scale, or None for
# the neutral colours, which set saturation and brightness instead.
COLOURS: dict[str, tuple[int | None, float]] = {
    "red": (0, 0.75),
    "orange": (12, 0.8),
    "yellow": (28, 0.75),
    "green": (60, 0.6),
    "teal": (88, 0.6),
    "cyan": (90, 0.6),
    "blue": (112, 0.7),
    "purple": (140, 0.55),
    "violet": (140, 0.55),
    "pink": (165, 0.45),
    "magenta": (150, 0.7),
    "grey": (None, 0.0),
    "gray": (None, 0.0),
    "black": (None, -1.0),
    "white": (None, 1.0),
}
INPAINT_EDGE = 512  # OpenCV's inpainting costs grow with the region; the fill is smooth anyway


def named_colour(prompt: str) -> str | None:
    """The first colour the prompt names, if any."""
    words = re.findall(r"[a-z]+", prompt.lower())
    return next((w for w in words if w in COLOURS), None)


def recolour(rgb: np.ndarray, mask: np.ndarray, colour: str) -> np.ndarray:
    """The region in `colour`, with its own light and shade (the hue and saturation change,
    the brightness stays; black and white move the brightness)."""
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV).astype(np.float32)
    hue, saturation = COLOURS[colour]
    inside = mask > 0
    if hue is None:
        hsv[..., 1][inside] *= 0.1
        if saturation < 0:
            hsv[..., 2][inside] *= 0.25
        elif saturation > 0:
            hsv[..., 2][inside] = 255 - (255 - hsv[..., 2][inside]) * 0.25
    else:
        hsv[..., 0][inside] = hue
        hsv[..., 1][inside] = np.maximum(hsv[..., 1][inside], saturation * 255)
    return cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB)


def inpaint(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The region filled from its surroundings (Telea's method), worked out on a small copy
    and scaled up: what is painted over disappears."""
    height, width = mask.shape
    scale = min(1.0, INPAINT_EDGE / max(width, height))
    small_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(rgb, small_size, interpolation=cv2.INTER_AREA)
    small_mask = cv2.resize(mask, small_size, interpolation=cv2.INTER_NEAREST)
    small_mask = cv2.dilate(small_mask, np.ones((3, 3), np.uint8))  # the edge's pixels too
    filled = cv2.inpaint(small, small_mask, 5, cv2.INPAINT_TELEA)
    filled = cv2.resize(filled, (width, height), interpolation=cv2.INTER_CUBIC)
    out = rgb.copy()
    out[mask > 0] = filled[mask > 0]
    return out


def fill_region(img: Image.Image, mask: Image.Image, prompt: str) -> tuple[Image.Image, str]:
    """A local stand-in for a model's region edit: the region recoloured to a colour the
    prompt names, or else filled from its surroundings. Returns the picture and what was done."""
    rgb = np.asarray(img.convert("RGB"))
    region = np.asarray(mask.convert("L").resize(img.size, Image.Resampling.NEAREST))
    colour = named_colour(prompt)
    if colour:
        return Image.fromarray(recolour(rgb, region, colour)), f"recoloured the region {colour}"
    return Image.fromarray(inpaint(rgb, region)), "filled the region from its surroundings"
