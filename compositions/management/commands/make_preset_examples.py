"""Make the composer's example result for each preset with the local compositor, from the
sample photos in samples/, and write them small (WebP, 240 px) under static/img/presets/.

They are committed; run this again when a preset or the local compositor changes."""

import io
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from PIL import Image

from compositions.catalog import output_size
from compositions.models import Composition
from compositions.presets import EXAMPLE_DIR, default_roles, scaffold
from compositions.providers.base import ComposeRequest, InputImage
from compositions.providers.local import LocalCompositor

Preset = Composition.Preset
# The sample photos each preset is shown with, in order ("image 1" first).
EXAMPLE_INPUTS = {
    Preset.PRODUCT_IN_SCENE: ["coffee.png", "brick.png"],
    Preset.BACKGROUND_REPLACE: ["astronaut.png", "rocket.jpg"],
    Preset.COMBINE_SUBJECTS: ["astronaut.png", "chelsea.png", "brick.png"],
    Preset.STYLE_TRANSFER: ["chelsea.png", "rocket.jpg"],
    Preset.FACE_SWAP: ["astronaut.png", "chelsea.png"],
    Preset.COLLAGE: ["chelsea.png", "coffee.png", "rocket.jpg", "astronaut.png"],
    Preset.THUMBNAIL: ["astronaut.png", "rocket.jpg"],
    Preset.OUTFIT_CHANGE: ["astronaut.png", "brick.png"],
    Preset.LOGO_PLACEMENT: ["coffee.png", "logo.png"],
}
EDGE = 240
MIME = {".png": "image/png", ".jpg": "image/jpeg"}


class Command(BaseCommand):
    help = "Make the composer's example result per preset (static/img/presets/)."

    def handle(self, *args, **options):
        samples = Path(settings.BASE_DIR) / "samples"
        out = Path(settings.BASE_DIR) / "static" / EXAMPLE_DIR
        out.mkdir(parents=True, exist_ok=True)
        compositor = LocalCompositor()
        for preset, names in EXAMPLE_INPUTS.items():
            roles = default_roles(preset, len(names))
            prompt = scaffold(preset, len(names))
            if preset == Preset.THUMBNAIL:
                prompt = prompt.replace("Your title here", "Lift off")
            width, height = output_size("1:1", "512")
            request = ComposeRequest(
                prompt=prompt,
                images=[
                    InputImage((samples / n).read_bytes(), MIME[Path(n).suffix], role)
                    for n, role in zip(names, roles, strict=True)
                ],
                model="local",
                image_size="512",
                width=width,
                height=height,
                preset=preset,
            )
            result = compositor.compose(request)
            image = Image.open(io.BytesIO(result.images[0].data)).convert("RGB")
            image.thumbnail((EDGE, EDGE))
            path = out / f"{preset}.webp"
            image.save(path, "WEBP", quality=70, method=6)
            self.stdout.write(f"{path.relative_to(settings.BASE_DIR)}: {path.stat().st_size} bytes")
