"""How long signing a result with Content Credentials takes (compositions/credentials.py).

A 12 MP result (4000x3000, PNG and JPEG) and a thumbnail-sized one (256x256 PNG), each with two
1 MP JPEG inputs as ingredients, with and without the manifest's thumbnails; the time covers
what the pipeline does per result: the XMP splice, signing and reading the manifest back.
Run: .venv/bin/python benchmarks/c2pa_sign.py (uses a throw-away development certificate)."""

import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import django
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bananasite.settings")
django.setup()

from django.conf import settings  # noqa: E402

from compositions import credentials  # noqa: E402
from compositions.provenance import with_provenance  # noqa: E402


def encoded(width: int, height: int, fmt: str) -> bytes:
    # A smooth gradient with noise: compresses like a photograph, not like flat colour.
    rng = np.random.default_rng(1)
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None, None]
    pixels = (x * 0.6 + y * 0.4 + rng.normal(0, 12, (height, width, 3))).clip(0, 255)
    buf = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buf, fmt, quality=90)
    return buf.getvalue()


def main() -> None:
    settings.BANANASITE_C2PA_CERT_CHAIN = ""
    settings.BANANASITE_C2PA_DEV_DIR = Path(tempfile.mkdtemp())
    credentials.make_development_certificate(settings.BANANASITE_C2PA_DEV_DIR)
    inputs = [
        credentials.Ingredient(
            title=f"Image {n}", data=encoded(1024, 1024, "JPEG"), mime_type="image/jpeg"
        )
        for n in (1, 2)
    ]
    cases = [
        ("12 MP PNG", encoded(4000, 3000, "PNG"), "image/png"),
        ("12 MP JPEG", encoded(4000, 3000, "JPEG"), "image/jpeg"),
        ("256 px PNG", encoded(256, 256, "PNG"), "image/png"),
    ]
    for thumbnails in (True, False):
        settings.BANANASITE_C2PA_THUMBNAILS = thumbnails
        for label, data, mime in cases:
            times, sizes = [], []
            for _ in range(5):
                started = time.perf_counter()
                base = with_provenance(data, mime, model="m", provider="p")
                signed = credentials.sign_result(
                    base, mime, title="r", model="m", provider="p", ingredients=inputs
                )
                assert credentials.read_credentials(signed, mime)["state"] == "valid"
                times.append(time.perf_counter() - started)
                sizes.append(len(signed) - len(data))
            print(
                f"thumbnails={'on ' if thumbnails else 'off'} {label:11} {len(data) / 1e6:6.1f} MB"
                f"  median {statistics.median(times) * 1000:6.0f} ms"
                f"  (min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f})"
                f"  manifest +{sizes[0] / 1024:.0f} KB"
            )


if __name__ == "__main__":
    main()
