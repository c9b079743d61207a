"""Does a reference (a product, a logo) appear in a result? Local feature matching, no model.

SIFT keypoints of the reference are matched to the result's (Lowe's ratio test), and the
matches must agree on one homography (RANSAC) with enough inliers, and a homography that maps
the reference to a plausible, non-degenerate shape. OpenCV does the work; what is written here
is only the decision rule and the image preparation.

What it can see: the reference's own texture, printed or pasted at another size, position,
in-plane rotation or mild perspective, under moderate lighting and colour changes.
What it cannot see (see README "Reference check"): a reference the model redrew in another
style (illustration, heavy relighting), one smaller than about 100 pixels across in the
reduced result, a plain reference with little texture (a flat single-colour logo), a mirrored copy,
and the reference's transparent parts (only its opaque pixels are described).
"""

import io
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

# The longest edge each image is described at. A 12 MP result is reduced to this first: SIFT's
# cost grows with the pixel count, and a reference big enough to matter survives the reduction.
SCENE_EDGE = 1600
REFERENCE_EDGE = 800
RATIO = 0.75  # Lowe's ratio test
MIN_INLIERS = 12
MIN_INLIER_SHARE = 0.25  # of the matches that passed the ratio test
MIN_AREA = 20 * 20  # pixels of the reduced result the reference must cover


@dataclass(frozen=True)
class Match:
    found: bool
    inliers: int
    matches: int


def _grey(data: bytes, *, edge: int, use_alpha: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """The image as 8-bit grey at most `edge` pixels long, and a mask of its opaque pixels."""
    image: Image.Image = Image.open(io.BytesIO(data))
    image.draft("RGB", (edge, edge))  # JPEG: decode at a reduced scale, much faster
    image.load()
    image.thumbnail((edge, edge), Image.Resampling.LANCZOS)
    mask = None
    if use_alpha and (image.mode in ("RGBA", "LA") or "transparency" in image.info):
        rgba = image.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"))
        # Keypoints on the border of the opaque part describe the background behind it too,
        # which differs in every result: keep them a few pixels inside.
        mask = cv2.erode((alpha > 127).astype(np.uint8) * 255, np.ones((5, 5), np.uint8))
        if not mask.any():
            mask = None
        # Transparent pixels as mid-grey, so the opaque part's outline still has contrast on
        # light and dark results alike.
        flat = Image.new("RGBA", rgba.size, (128, 128, 128, 255))
        flat.alpha_composite(rgba)
        image = flat
    grey = np.asarray(image.convert("L"))
    return grey, mask


def _plausible(homography: np.ndarray, width: int, height: int) -> bool:
    """The reference's corners, mapped, make a convex, unmirrored, not-collapsed shape."""
    corners = np.array(
        [[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32
    ).reshape(-1, 1, 2)
    mapped = cv2.perspectiveTransform(corners, homography).reshape(-1, 2)
    if not np.isfinite(mapped).all():
        return False
    if not cv2.isContourConvex(mapped.astype(np.float32)):
        return False
    # Signed area: a mirrored (flipped) mapping has the opposite sign from the reference.
    area = cv2.contourArea(mapped.astype(np.float32), oriented=True)
    reference_area = cv2.contourArea(corners.reshape(-1, 2), oriented=True)
    return area * reference_area > 0 and abs(area) >= MIN_AREA


def find_reference(reference: bytes, scene: bytes) -> Match:
    """Whether `reference` (image bytes) appears in `scene` (image bytes)."""
    ref, ref_mask = _grey(reference, edge=REFERENCE_EDGE, use_alpha=True)
    img, _ = _grey(scene, edge=SCENE_EDGE, use_alpha=False)
    sift = cv2.SIFT_create()  # type: ignore[attr-defined]
    ref_points, ref_desc = sift.detectAndCompute(ref, ref_mask)
    img_points, img_desc = sift.detectAndCompute(img, None)
    if ref_desc is None or img_desc is None or len(ref_points) < 4 or len(img_points) < 4:
        return Match(found=False, inliers=0, matches=0)
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(ref_desc, img_desc, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO * p[1].distance]
    if len(good) < 4:
        return Match(found=False, inliers=0, matches=len(good))
    source = np.array([ref_points[m.queryIdx].pt for m in good], np.float32).reshape(-1, 1, 2)
    target = np.array([img_points[m.trainIdx].pt for m in good], np.float32).reshape(-1, 1, 2)
    homography, inlier_mask = cv2.findHomography(source, target, cv2.RANSAC, 5.0)
    if homography is None or inlier_mask is None:
        return Match(found=False, inliers=0, matches=len(good))
    inliers = int(inlier_mask.sum())
    found = (
        inliers >= MIN_INLIERS
        and inliers >= MIN_INLIER_SHARE * len(good)
        and _plausible(homography, ref.shape[1], ref.shape[0])
    )
    return Match(found=found, inliers=inliers, matches=len(good))
