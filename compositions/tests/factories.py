"""Build compositions the way the product does: through the service, with real files."""

from compositions.options import CompositionOptions, NewImage
from compositions.services import create_composition
from conftest import SAMPLES


def compose(user, *, samples=("chelsea.png", "coffee.png"), **options):
    options.setdefault("prompt", "The cat from image 1 sniffing the cup from image 2")
    options.setdefault("model", "local")
    options.setdefault("image_size", "512")
    images = [
        NewImage(name=name, fileobj=(SAMPLES / name).open("rb"), size=None) for name in samples
    ]
    try:
        return create_composition(
            workspace=user.current_workspace,
            user=user,
            options=CompositionOptions(**options),
            images=images,
        )
    finally:
        for image in images:
            image.fileobj.close()
