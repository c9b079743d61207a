"""Presets: a prompt scaffold that names the images by position, and default roles."""

from django.utils.translation import gettext_lazy

from .models import Composition, Role

Preset = Composition.Preset

# {n} is the number of images, {last} the last image's position, {before_last} the one before it.
SCAFFOLDS = {
    Preset.NONE: "",
    Preset.PRODUCT_IN_SCENE: (
        "Place the product from image 1 into the scene from image {last}, matching the scene's "
        "light, perspective and shadows."
    ),
    Preset.BACKGROUND_REPLACE: (
        "Keep the subject of image 1 exactly as it is and replace the background with the "
        "scene from image {last}."
    ),
    Preset.COMBINE_SUBJECTS: (
        "Bring the subjects of images 1 to {before_last} together in one frame, standing in the "
        "setting of image {last}, with consistent light and scale."
    ),
    Preset.STYLE_TRANSFER: (
        "Redraw image 1 in the visual style of image {last}: its colours, texture and "
        "brushwork, keeping the composition of image 1."
    ),
    Preset.FACE_SWAP: (
        "Replace the face of the person in image 1 with the face from image 2, keeping the "
        "pose, light and expression natural."
    ),
    Preset.COLLAGE: "Arrange all {n} images into a balanced collage with even spacing.",
    Preset.THUMBNAIL: (
        "A bold video thumbnail: the subject of image 1 in front of image {last}, with the "
        'title "Your title here".'
    ),
    Preset.OUTFIT_CHANGE: (
        "Dress the person in image 1 in the outfit from image 2, keeping their pose, face and "
        "the background."
    ),
    Preset.LOGO_PLACEMENT: (
        "Place the logo from image 2 on the product in image 1, following its surface and "
        "matching the light."
    ),
}

# Presets that involve people: the consent statement applies to them (moderation, issue 5).
PEOPLE_PRESETS = {Preset.FACE_SWAP, Preset.OUTFIT_CHANGE, Preset.COMBINE_SUBJECTS}


def scaffold(preset: str, count: int) -> str:
    count = max(count, 2)
    text = SCAFFOLDS.get(Preset(preset), "") if preset in Preset.values else ""
    return text.format(n=count, last=count, before_last=count - 1)


def default_roles(preset: str, count: int) -> list[str]:
    """What each image is for, when the person did not say."""
    roles = [Role.OTHER] * count
    if count == 0:
        return []
    if preset == Preset.PRODUCT_IN_SCENE:
        roles[0], roles[-1] = Role.PRODUCT, Role.BACKGROUND
    elif preset in (Preset.BACKGROUND_REPLACE, Preset.THUMBNAIL):
        roles[0], roles[-1] = Role.SUBJECT, Role.BACKGROUND
    elif preset == Preset.COMBINE_SUBJECTS:
        roles = [Role.SUBJECT] * (count - 1) + [Role.BACKGROUND]
    elif preset == Preset.STYLE_TRANSFER:
        roles[0], roles[-1] = Role.SUBJECT, Role.STYLE
    elif preset == Preset.FACE_SWAP and count >= 2:
        roles[0], roles[1] = Role.SUBJECT, Role.FACE
    elif preset == Preset.OUTFIT_CHANGE and count >= 2:
        roles[0], roles[1] = Role.SUBJECT, Role.OUTFIT
    elif preset == Preset.LOGO_PLACEMENT and count >= 2:
        roles[0], roles[1] = Role.PRODUCT, Role.LOGO
    return [str(r) for r in roles]


# --- The composer's own inputs per preset (issue 12) -------------------------------------------
# Each field fills a part of the preset's prompt. `template` is used once every `required` field
# has a value; `[[...]]` is a part dropped when a field inside it is empty. The browser fills
# them (static/js/composer.js); the server only ever sees the finished prompt.
PRESET_FIELDS: dict[str, dict] = {
    Preset.THUMBNAIL: {
        "fields": [
            {
                "name": "title",
                "label": gettext_lazy("Title"),
                "kind": "text",
                "default": "Your title here",
            },
            {
                "name": "subtitle",
                "label": gettext_lazy("Subtitle (optional)"),
                "kind": "text",
                "default": "",
            },
        ],
        "required": ["title"],
        "template": (
            "A bold video thumbnail: the subject of image 1 in front of image {last}, with the "
            'title "{title}"[[ and the subtitle "{subtitle}" in smaller letters below it]].'
        ),
    },
    Preset.LOGO_PLACEMENT: {
        "fields": [
            {
                "name": "position",
                "label": gettext_lazy("Logo position"),
                "kind": "select",
                "choices": [
                    "the centre of its front",
                    "the top left",
                    "the top right",
                    "the bottom left",
                    "the bottom right",
                ],
                "default": "the centre of its front",
            },
            {
                "name": "size",
                "label": gettext_lazy("Logo size"),
                "kind": "select",
                "choices": ["small", "medium", "large"],
                "default": "medium",
            },
        ],
        "required": ["position", "size"],
        "template": (
            "Place the logo from image 2 on the product in image 1, {size}, at {position}, "
            "following its surface and matching the light."
        ),
    },
    Preset.BACKGROUND_REPLACE: {
        "fields": [
            {
                "name": "background",
                "label": gettext_lazy("The new background, in words (optional)"),
                "kind": "text",
                "default": "",
            },
        ],
        "required": ["background"],
        "template": (
            "Keep the subject of image 1 exactly as it is and replace the background with "
            "{background}, matching its light; use image {last} as a reference for the scene."
        ),
    },
}

# Words a preset puts in the prompt for the person to replace (compared case-insensitively).
PLACEHOLDERS = ["your title here", "your subtitle here"]

# What the local compositor (no AI) cannot really do: it only shows such inputs side by side.
OFFLINE_UNSUPPORTED = {Preset.FACE_SWAP, Preset.OUTFIT_CHANGE}

# An example result per preset, made by the local compositor from the sample photos
# (`manage.py make_preset_examples`), kept small under static/.
EXAMPLE_DIR = "img/presets"


def example_path(preset: str) -> str:
    return f"{EXAMPLE_DIR}/{preset}.webp"
