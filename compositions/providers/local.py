"""The local compositor: real composition with Pillow and NumPy, no network, no key.

It is not a generative model and says so in its text reply. What it does for real:
layouts (grid, side by side, scattered collage), cutting a subject out (a plain background by
its colour, any other with OpenCV's GrabCut; see `local_ops`), placing subjects on the last
image as a backdrop with colour matched to it and a contact shadow, carrying the colour and tone
of one image over to another (Reinhard's transfer in Lab), placing a logo on the product's
region, and rendering a title for thumbnails. Output is deterministic for the same inputs,
prompt and options; another seed (a variation) changes the framing, the placement and the
strength of the colour transfer, so a variation is a visibly different picture.
"""

import hashlib
import io
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

from .base import (
    ComposeRequest,
    ComposeResult,
    OutputImage,
    ProgressCallback,
    Provider,
    ProviderBadRequest,
)
from .local_ops import ToneStrength, grabcut_mask, logo_spot, soft_full_mask, transfer_colour

WORK_EDGE = 512  # resolution at which masks are computed; they are scaled up afterwards
Size = tuple[int, int]
FONT_CANDIDATES = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
]


@dataclass
class Cutout:
    image: Image.Image  # RGBA, cropped to the subject
    found: bool  # False: no subject found, the whole photo with feathered edges


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in FONT_CANDIDATES:
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)  # Pillow's bundled font; needs FreeType


def fit_cover(
    img: Image.Image, size: Size, rng: random.Random | None = None, zoom: float = 0.0
) -> Image.Image:
    """Fill `size` with the photo, cropping what does not fit. With `rng` (a variation's
    framing) the crop's window moves within the spare margin and, up to `1 + zoom` times,
    closes in; without it the crop is centred."""
    img = img.convert("RGBA")
    # A 12-megapixel photo is first box-reduced by a whole factor that keeps at least twice the
    # pixels needed; LANCZOS does the rest (Pillow's own `reducing_gap` idea, which `fit` lacks).
    factor = int(min(img.width / size[0], img.height / size[1]) / 2)
    if factor >= 2:
        img = img.reduce(factor)
    if rng is None:
        return ImageOps.fit(img, size, Image.Resampling.LANCZOS)
    closer = 1.0 + rng.uniform(0.0, zoom)
    window = (max(1, round(img.width / closer)), max(1, round(img.height / closer)))
    left = round((img.width - window[0]) * rng.random())
    top = round((img.height - window[1]) * rng.random())
    img = img.crop((left, top, left + window[0], top + window[1]))
    centering = (rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8))
    return ImageOps.fit(img, size, Image.Resampling.LANCZOS, centering=centering)


def feathered(img: Image.Image, radius_frac: float = 0.06) -> Image.Image:
    """The whole photo with a soft rounded edge, for subjects we could not cut out."""
    img = img.convert("RGBA")
    w, h = img.size
    inset = max(2, int(min(w, h) * radius_frac))
    mask = Image.new("L", (w, h), 0)
    ImageDraw.Draw(mask).rounded_rectangle(
        (inset, inset, w - inset, h - inset), radius=inset * 2, fill=255
    )
    mask = mask.filter(ImageFilter.GaussianBlur(inset / 2))
    alpha = np.minimum(np.asarray(img.getchannel("A")), np.asarray(mask))
    img.putalpha(Image.fromarray(alpha.astype(np.uint8)))
    return img


def subject_mask(img: Image.Image) -> Image.Image | None:
    """A soft full-size mask of the subject against a plain background, or None if the
    background is not plain enough to tell them apart."""
    small = img.convert("RGB")
    small.thumbnail((WORK_EDGE, WORK_EDGE), Image.Resampling.BILINEAR)
    arr = np.asarray(small, dtype=np.float32)
    sh, sw = arr.shape[:2]
    band = max(2, int(min(sh, sw) * 0.03))
    border = np.concatenate(
        [
            arr[:band].reshape(-1, 3),
            arr[-band:].reshape(-1, 3),
            arr[:, :band].reshape(-1, 3),
            arr[:, -band:].reshape(-1, 3),
        ]
    )
    background = np.median(border, axis=0)
    border_dist = np.linalg.norm(border - background, axis=1)
    if np.percentile(border_dist, 90) > 38:
        return None  # The border is busy: no plain background here.
    # The background's own noise sets the threshold; border pixels where the subject touches
    # the frame must not count, or a subject reaching the edge would hide itself.
    noise = border_dist[border_dist < 60]
    noise_level = float(np.percentile(noise, 99)) if noise.size else 0.0
    threshold = max(28.0, noise_level * 1.6 + 8.0)
    dist = np.linalg.norm(arr - background, axis=2)
    mask = Image.fromarray(((dist > threshold) * 255).astype(np.uint8), "L")
    # Closing fills pinholes where the subject resembles the background; opening drops specks.
    mask = mask.filter(ImageFilter.MaxFilter(5)).filter(ImageFilter.MinFilter(5))
    mask = mask.filter(ImageFilter.MinFilter(3)).filter(ImageFilter.MaxFilter(3))
    coverage = np.asarray(mask).mean() / 255
    if coverage < 0.01 or coverage > 0.97:
        return None
    full = mask.resize(img.size, Image.Resampling.BILINEAR)
    return full.filter(ImageFilter.GaussianBlur(max(1.0, img.width / sw * 0.8)))


def _solid_box(mask: Image.Image) -> tuple[int, int, int, int] | None:
    return mask.point(lambda a: 255 if a > 24 else 0).getbbox()


def find_subject(img: Image.Image) -> Image.Image | None:
    """A soft full-size mask of the photo's subject, or None if none was found: a plain
    background is told apart by its colour (exact and fast); any other by GrabCut."""
    mask = subject_mask(img)
    if mask is not None:
        return mask
    small = grabcut_mask(img)
    return None if small is None else soft_full_mask(small, img.size)


def cut_out(img: Image.Image) -> Cutout:
    """Separate the subject from its background, with a soft edge."""
    img = img.convert("RGBA")
    alpha = img.getchannel("A")
    if (np.asarray(alpha) < 250).mean() > 0.02:  # Already transparent around the subject.
        bbox = _solid_box(alpha)
        return Cutout(img.crop(bbox) if bbox else img, True)
    mask = find_subject(img)
    if mask is None:
        return Cutout(feathered(img), False)
    img.putalpha(mask)
    bbox = _solid_box(mask)
    return Cutout(img.crop(bbox) if bbox else img, True)


def subject_of(original: Image.Image, edge: int) -> Cutout:
    """`cut_out` of the photo at most `edge` on its long side, made once per photo and edge:
    each of a composition's images (up to four) would otherwise run GrabCut on the same photo
    again. The cut-outs ride on the decoded photo itself (Pillow images are unhashable, so no
    outside cache can key on them) and go with it when the compose call ends."""
    made: dict[int, Cutout] = original.__dict__.setdefault("_bananasite_cutouts", {})
    if edge not in made:
        made[edge] = cut_out(at_most(original, edge))
    return Cutout(made[edge].image.copy(), made[edge].found)


def at_most(img: Image.Image, edge: int) -> Image.Image:
    """The photo reduced to `edge` on its long side if larger: a subject is drawn no larger
    than the output, so cutting it out at 12 megapixels would be work thrown away."""
    if max(img.size) <= edge:
        return img
    small = img.copy()
    small.thumbnail((edge, edge), Image.Resampling.LANCZOS, reducing_gap=2.0)
    return small


def mean_colour(img: Image.Image) -> np.ndarray:
    """Mean RGB over the opaque part of an image."""
    arr = np.asarray(img.convert("RGBA"), dtype=np.float32)
    weights = arr[..., 3] / 255.0
    total = max(float(weights.sum()), 1e-6)
    return (arr[..., :3] * weights[..., None]).reshape(-1, 3).sum(axis=0) / total


def match_colour(subject: Image.Image, backdrop: Image.Image, strength: float = 0.3) -> Image.Image:
    """Pull the subject's overall colour part of the way towards the backdrop's light."""
    src, dst = mean_colour(subject), mean_colour(backdrop)
    gains = 1.0 + strength * (dst / np.maximum(src, 1.0) - 1.0)
    gains = np.clip(gains, 0.75, 1.3)
    arr = np.array(subject.convert("RGBA"), dtype=np.float32)
    arr[..., :3] = np.clip(arr[..., :3] * gains, 0, 255)
    return Image.fromarray(arr.astype(np.uint8), "RGBA")


def paste_with_shadow(canvas: Image.Image, subject: Image.Image, box: tuple[int, int]) -> None:
    """Paste an RGBA subject at `box` (top-left) with a soft contact shadow beneath it."""
    x, y = box
    sw, sh = subject.size
    shadow = Image.new("L", canvas.size, 0)
    shadow_h = max(4, sh // 12)
    ImageDraw.Draw(shadow).ellipse(
        (x + sw * 0.1, y + sh - shadow_h // 2, x + sw * 0.9, y + sh + shadow_h // 2), fill=110
    )
    shadow = shadow.filter(ImageFilter.GaussianBlur(max(2, shadow_h // 2)))
    dark = Image.new("RGBA", canvas.size, (0, 0, 0, 255))
    canvas.paste(dark, (0, 0), shadow)
    canvas.alpha_composite(subject, (x, y))


def place_subjects(
    subjects: list[Image.Image], backdrop: Image.Image, size: Size, rng: random.Random
) -> Image.Image:
    """Subjects stand side by side on the backdrop's floor, scaled to fit, colour matched."""
    canvas = fit_cover(backdrop, size, rng, zoom=0.3)
    width, height = size
    count = len(subjects)
    slot_w = width / count
    for index, original in enumerate(subjects):
        cut = subject_of(original, max(size))
        subject = match_colour(cut.image, canvas)
        target_h = height * (0.72 if count == 1 else 0.62) * rng.uniform(0.95, 1.05)
        scale = min(target_h / subject.height, slot_w * 0.9 / subject.width)
        new_size = (max(1, int(subject.width * scale)), max(1, int(subject.height * scale)))
        subject = subject.resize(new_size, Image.Resampling.LANCZOS)
        spot = rng.choice((0.5, 0.32, 0.68)) if count == 1 else index + 0.5
        centre_x = slot_w * spot + rng.uniform(-0.04, 0.04) * slot_w
        x = int(centre_x - subject.width / 2)
        y = int(height * 0.95 - subject.height)
        if not cut.found:
            y = int((height - subject.height) / 2)
        paste_with_shadow(canvas, subject, (x, max(0, y)))
    return canvas


def grid_shape(count: int, width: int, height: int) -> tuple[int, int]:
    """Rows and columns for `count` tiles whose cells come out roughly as wide as the canvas."""
    rows = max(1, min(count, round((count * height / width) ** 0.5)))
    return rows, -(-count // rows)


def grid(images: list[Image.Image], size: Size, rng: random.Random) -> Image.Image:
    width, height = size
    count = len(images)
    rows, cols = grid_shape(count, width, height)
    gutter = max(4, int(min(width, height) * 0.015))
    canvas = Image.new("RGBA", size, (246, 244, 240, 255))
    cell_w = (width - gutter * (cols + 1)) / cols
    cell_h = (height - gutter * (rows + 1)) / rows
    for index, img in enumerate(images):
        row, col = divmod(index, cols)
        in_row = min(cols, count - row * cols)
        offset = (cols - in_row) * (cell_w + gutter) / 2  # centre a short last row
        x = gutter + col * (cell_w + gutter) + offset
        y = gutter + row * (cell_h + gutter)
        tile = fit_cover(img, (max(1, int(cell_w)), max(1, int(cell_h))), rng, zoom=0.2)
        canvas.alpha_composite(tile, (int(x), int(y)))
    return canvas


def side_by_side(images: list[Image.Image], size: Size, rng: random.Random) -> Image.Image:
    width, height = size
    # A pale, blurred backdrop from the last photo; a variation frames it anew.
    backdrop = fit_cover(images[-1], size, rng, zoom=1.0)
    backdrop = backdrop.filter(ImageFilter.GaussianBlur(max(size) / 30))
    canvas = Image.blend(backdrop, Image.new("RGBA", size, (246, 244, 240, 255)), 0.4)
    gutter = max(4, int(width * 0.015))
    cell_w = (width - gutter * (len(images) + 1)) / len(images)
    for index, img in enumerate(images):
        tile = img.convert("RGBA").copy()
        tile.thumbnail((int(cell_w), height - 2 * gutter), Image.Resampling.LANCZOS)
        x = gutter + index * (cell_w + gutter) + (cell_w - tile.width) / 2
        canvas.alpha_composite(tile, (int(x), int((height - tile.height) / 2)))
    return canvas


def scattered_collage(images: list[Image.Image], size: Size, rng: random.Random) -> Image.Image:
    """Photo prints with white borders, slightly turned, on a soft backdrop of the last image."""
    width, height = size
    blur = ImageFilter.GaussianBlur(max(width, height) / 40)
    base = fit_cover(images[-1], size, rng, zoom=0.5).filter(blur)
    canvas = ImageEnhance.Brightness(base).enhance(0.8)
    count = len(images)
    rows, cols = grid_shape(count, width, height)
    order = list(range(count))
    rng.shuffle(order)
    for slot, index in enumerate(order):
        row, col = divmod(slot, cols)
        cell_w, cell_h = width / cols, height / rows
        tile = images[index].convert("RGB").copy()
        tile.thumbnail((int(cell_w * 0.86), int(cell_h * 0.86)), Image.Resampling.LANCZOS)
        border = max(3, int(min(tile.size) * 0.05))
        card = ImageOps.expand(tile, border=border, fill=(255, 255, 255)).convert("RGBA")
        card = card.rotate(rng.uniform(-7, 7), Image.Resampling.BICUBIC, expand=True)
        cx = (col + 0.5) * cell_w + rng.uniform(-0.05, 0.05) * cell_w
        cy = (row + 0.5) * cell_h + rng.uniform(-0.05, 0.05) * cell_h
        x, y = int(cx - card.width / 2), int(cy - card.height / 2)
        shadow = Image.new("RGBA", card.size, (0, 0, 0, 90))
        shadow.putalpha(card.getchannel("A").point(lambda a: a * 90 // 255))
        shadow = shadow.filter(ImageFilter.GaussianBlur(border))
        canvas.alpha_composite(shadow, (x + border // 2, y + border))
        canvas.alpha_composite(card, (x, y))
    return canvas


def transfer_style(
    content: Image.Image, style: Image.Image, size: Size, rng: random.Random
) -> Image.Image:
    """The content photo in the style photo's colour and tone (Reinhard's transfer in Lab):
    shapes and edges are the content's, no texture of the style is laid over them."""
    canvas = np.asarray(fit_cover(content, size, rng).convert("RGB"))
    # Statistics need no more than a small copy of the style photo.
    reference = style.convert("RGB")
    reference.thumbnail((256, 256), Image.Resampling.BILINEAR)
    out = transfer_colour(canvas, np.asarray(reference), ToneStrength.varied(rng))
    return Image.fromarray(out, "RGB").convert("RGBA")


def product_region(canvas: Image.Image) -> Image.Image:
    """The product's mask on the canvas: its cut-out's largest piece, or, if no subject was
    found, the middle half of the frame (said so in the reply's note via the caller)."""
    mask = find_subject(canvas)
    w, h = canvas.size
    if mask is None:
        fallback = Image.new("L", (w, h), 0)
        ImageDraw.Draw(fallback).rectangle((w // 4, h // 4, w * 3 // 4, h * 3 // 4), fill=255)
        return fallback
    hard = (np.asarray(mask) > 127).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(hard, connectivity=8)
    if count > 2:
        largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        hard = (labels == largest).astype(np.uint8)
    return Image.fromarray(hard * 255, "L")


def place_logo(
    product: Image.Image, logo: Image.Image, size: Size, rng: random.Random
) -> Image.Image:
    """Put the logo on the product's region, scaled to it, through the logo's own alpha,
    shaded like the spot it sits on."""
    canvas = fit_cover(product, size, rng)
    region = product_region(canvas)
    # The spot is chosen on a small copy of the mask: the distance transform is the cost.
    small = region.copy()
    small.thumbnail((512, 512), Image.Resampling.NEAREST)
    factor = canvas.width / small.width
    mark = subject_of(logo, max(size)).image
    small_logo = (max(1, round(mark.width / factor)), max(1, round(mark.height / factor)))
    _, spot = logo_spot(np.asarray(small), small_logo, rng)
    left, top = int(spot[0] * factor), int(spot[1] * factor)
    width = max(1, int((spot[2] - spot[0]) * factor))
    height = max(1, int((spot[3] - spot[1]) * factor))
    mark = mark.resize((width, height), Image.Resampling.LANCZOS)
    # Shade the logo by the brightness of the surface under it, so it sits in the same light.
    under = canvas.crop((left, top, left + width, top + height)).convert("L")
    light = np.clip(np.asarray(under, dtype=np.float32).mean() / 200.0, 0.6, 1.1)
    light = 1.0 + 0.45 * (light - 1.0)  # a hint of the surface's light, not a stain
    arr = np.asarray(mark, dtype=np.float32).copy()
    arr[..., :3] = np.clip(arr[..., :3] * light, 0, 255)
    arr[..., 3] *= 0.94
    canvas.alpha_composite(Image.fromarray(arr.astype(np.uint8), "RGBA"), (left, top))
    return canvas


def title_from_prompt(prompt: str) -> str:
    quoted = re.search(r"[\"“«](.+?)[\"”»]", prompt)
    if quoted:
        return quoted.group(1).strip()[:80]
    words = prompt.split()
    return " ".join(words[:6]) if words else "Untitled"


def _wrap(
    draw: ImageDraw.ImageDraw,
    text: str,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    max_width: float,
) -> list[str]:
    lines: list[str] = []
    line = ""
    for word in text.split():
        trial = f"{line} {word}".strip()
        if draw.textlength(trial, font=font) <= max_width or not line:
            line = trial
        else:
            lines.append(line)
            line = word
    if line:
        lines.append(line)
    return lines


def thumbnail_with_title(
    images: list[Image.Image], size: Size, rng: random.Random, prompt: str
) -> Image.Image:
    width, height = size
    canvas = fit_cover(images[-1], size, rng, zoom=0.4)
    # Darken the left side so the title reads on any backdrop.
    gradient = Image.linear_gradient("L").rotate(90).resize(size)
    shade = Image.new("RGBA", size, (0, 0, 0, 255))
    shade.putalpha(gradient.point(lambda v: int(v * 0.7)))
    canvas.alpha_composite(shade)
    cut = subject_of(images[0], max(size))
    subject = match_colour(cut.image, canvas, 0.2)
    reach = rng.uniform(0.78, 1.0)  # a variation sizes the subject anew
    scale = min(height * 0.85 * reach / subject.height, width * 0.45 * reach / subject.width)
    subject = subject.resize(
        (max(1, int(subject.width * scale)), max(1, int(subject.height * scale))),
        Image.Resampling.LANCZOS,
    )
    paste_with_shadow(canvas, subject, (int(width * 0.97 - subject.width), height - subject.height))

    title = title_from_prompt(prompt).upper()
    draw = ImageDraw.Draw(canvas)
    max_w = width * 0.52
    font_size = int(height * 0.16)
    while font_size > 12:
        font = _font(font_size)
        lines = _wrap(draw, title, font, max_w)
        if len(lines) <= 3 and all(draw.textlength(ln, font=font) <= max_w for ln in lines):
            break
        font_size = int(font_size * 0.9)
    line_h = font_size * 1.12
    y = (height - line_h * len(lines)) / 2
    stroke = max(2, font_size // 12)
    for line in lines:
        draw.text(
            (width * 0.05, y),
            line,
            font=font,
            fill=(255, 214, 10, 255),
            stroke_width=stroke,
            stroke_fill=(0, 0, 0, 255),
        )
        y += line_h
    return canvas


STYLE_LOOKS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "natural": lambda img: img,
    "professional": lambda img: ImageEnhance.Contrast(img).enhance(1.08),
    "artistic": lambda img: ImageEnhance.Color(img).enhance(1.25).filter(ImageFilter.SMOOTH_MORE),
    "creative": lambda img: ImageEnhance.Color(ImageEnhance.Contrast(img).enhance(1.12)).enhance(
        1.35
    ),
}

OPERATION_NOTES = {
    "collage": "arranged the images as a collage",
    "grid": "laid the images out in a grid",
    "side_by_side": "placed the images side by side",
    "place": "cut the subject out (GrabCut) and placed it on the last image as the backdrop",
    "style": "carried the colour and tone of the last image over to image 1 (no texture)",
    "logo": "placed the logo on the product's region",
    "thumbnail": "made a thumbnail with the title on the last image",
}


class LocalCompositor(Provider):
    name = "local"

    def operation(self, request: ComposeRequest) -> str:
        preset, count = request.preset, len(request.images)
        if preset in ("product_in_scene", "background_replace", "combine_subjects"):
            return "place"
        if preset == "style_transfer":
            return "style"
        if preset == "logo_placement":
            return "logo"
        if preset == "thumbnail":
            return "thumbnail"
        if preset in ("face_swap", "outfit_change"):
            return "side_by_side"  # no model here to do this honestly; show the inputs
        if preset == "collage" and request.style in ("natural", "professional"):
            return "grid" if count > 2 else "side_by_side"
        return "collage"

    def _render(
        self,
        op: str,
        images: list[Image.Image],
        size: Size,
        rng: random.Random,
        request: ComposeRequest,
    ) -> Image.Image:
        roles = [i.role for i in request.images]
        if op == "place":
            several = request.preset == "combine_subjects"
            subjects = images[:-1] if several else [images[0]]
            return place_subjects(subjects, images[-1], size, rng)
        if op == "style":
            return transfer_style(images[0], images[-1], size, rng)
        if op == "logo":
            logo_index = roles.index("logo") if "logo" in roles else 1
            product_index = next(i for i in range(len(images)) if i != logo_index)
            return place_logo(images[product_index], images[logo_index], size, rng)
        if op == "thumbnail":
            return thumbnail_with_title(images, size, rng, request.prompt)
        if op == "grid":
            return grid(images, size, rng)
        if op == "side_by_side":
            return side_by_side(images, size, rng)
        return scattered_collage(images, size, rng)

    def compose(
        self, request: ComposeRequest, progress: ProgressCallback | None = None
    ) -> ComposeResult:
        if len(request.images) < 2:
            raise ProviderBadRequest("The local compositor needs at least two images.")
        images = []
        for item in request.images:
            img = Image.open(io.BytesIO(item.data))
            img.load()
            images.append(img.convert("RGBA"))
        size = (request.width, request.height)
        op = self.operation(request)
        digest = hashlib.sha256()
        for item in request.images:
            digest.update(hashlib.sha256(item.data).digest())
        digest.update(f"{request.prompt}|{request.preset}|{request.style}|{request.seed}".encode())
        outputs = []
        for index in range(request.num_images):
            # Layout jitter only, so the standard generator is right (and reproducible).
            rng = random.Random(f"{digest.hexdigest()}:{index}")  # noqa: S311
            canvas = self._render(op, images, size, rng, request).convert("RGB")
            canvas = STYLE_LOOKS.get(request.style, STYLE_LOOKS["natural"])(canvas)
            buf = io.BytesIO()
            canvas.save(buf, "PNG", compress_level=6)
            outputs.append(OutputImage(buf.getvalue(), "image/png"))
            if progress:
                progress((index + 1) / request.num_images)
        note = (
            f"Local compositor (no AI model): {OPERATION_NOTES[op]}. "
            "Configure a Nano Banana provider for generative results."
        )
        return ComposeResult(
            images=outputs,
            text=note,
            usage={"output_images": len(outputs)},
            cost_usd=0.0,
            request_id=f"local-{digest.hexdigest()[:16]}",
        )
