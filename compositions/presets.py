"""Presets: a prompt scaffold that names the images by position, and default roles."""

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
