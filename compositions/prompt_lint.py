"""The prompt linter: warnings, before anything is charged, about a prompt that does not match
its photos. The browser runs the same rules as you type (static/js/composer.js, `lint`); keep
the two in step. `POST /api/v1/estimate` returns these warnings to API callers.

Warnings never block: they explain. Hand-written because no library reads "image N" and role
words in an image prompt."""

import re
from dataclasses import dataclass

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from bananasite.translations import in_sentence

from .catalog import get_model
from .models import Role
from .presets import PLACEHOLDERS, default_roles

# "image 3", "images 1 to 3", "images 1-3", "images 1 and 2", "img 2"
IMAGE_REF = re.compile(r"\b(?:images?|img)\s*#?\s*(\d+)(?:\s*(?:to|-|–|and|&)\s*(\d+))?", re.I)
# "all images", "every photo", "both images", "all 3 images", "each of the photos"
ALL_REF = re.compile(
    r"\b(?:all|every|each|both)\b(?:\s+(?:of\s+the|the|\d+))?\s+(?:images?|photos?|pictures?)\b",
    re.I,
)
CHARACTER_ROLES = {Role.SUBJECT, Role.FACE}
OBJECT_ROLES = {Role.PRODUCT, Role.LOGO, Role.OUTFIT, Role.OTHER}


@dataclass(frozen=True)
class Warning:
    code: str
    message: str


def effective_roles(roles: list[str], preset: str, count: int) -> list[str]:
    """Each photo's role: the one chosen, or the preset's default."""
    defaults = default_roles(preset, count)
    return [(roles[i] if i < len(roles) and roles[i] else defaults[i]) for i in range(count)]


def lint(*, prompt: str, roles: list[str], preset: str, model_id: str, count: int) -> list[Warning]:
    warnings: list[Warning] = []
    text = prompt or ""
    mentioned: set[int] = set()
    missing: list[int] = []
    for match in IMAGE_REF.finditer(text):
        first = int(match.group(1))
        last = int(match.group(2) or first)
        numbers = range(min(first, last), max(first, last) + 1)
        mentioned.update(numbers)
        missing += [n for n in numbers if (n < 1 or n > count) and n not in missing]
    for number in missing:
        have = ngettext("%(count)d photo", "%(count)d photos", count) % {"count": count}
        warnings.append(
            Warning(
                "image_not_there",
                _("The prompt names image %(number)d, but there are %(have)s.")
                % {"number": number, "have": have},
            )
        )
    effective = effective_roles(roles, preset, count)
    if text.strip() and count and not ALL_REF.search(text):
        lower = text.lower()
        for position, role in enumerate(effective, start=1):
            if position in mentioned:
                continue
            if role != Role.OTHER and re.search(rf"\b{re.escape(role)}s?\b", lower):
                continue
            if role:
                label = _("Image %(position)d (%(role)s)") % {
                    "position": position,
                    "role": in_sentence(Role(role).label),
                }
            else:
                label = _("Image %(position)d") % {"position": position}
            warnings.append(
                Warning(
                    "image_unmentioned",
                    _(
                        "%(label)s is not mentioned in the prompt: say what to do with it, "
                        "or remove it."
                    )
                    % {"label": label},
                )
            )
    for placeholder in PLACEHOLDERS:
        if placeholder in text.lower():
            start = text.lower().index(placeholder)
            said = text[start : start + len(placeholder)]
            warnings.append(
                Warning(
                    "placeholder_left",
                    _("The prompt still says “%(said)s”: replace it with your own words.")
                    % {"said": said},
                )
            )
    model = get_model(model_id)
    limits = model.reference_limits if model else {}
    characters = sum(1 for r in effective if r in CHARACTER_ROLES)
    objects = sum(1 for r in effective if r in OBJECT_ROLES)
    if model and limits.get("characters") is not None and characters > limits["characters"]:
        warnings.append(
            Warning(
                "too_many_characters",
                _(
                    "%(model)s keeps at most %(limit)d people consistent; %(count)d photos are "
                    "people (subject or face)."
                )
                % {"model": model.name, "limit": limits["characters"], "count": characters},
            )
        )
    if model and limits.get("objects") is not None and objects > limits["objects"]:
        warnings.append(
            Warning(
                "too_many_objects",
                _(
                    "%(model)s keeps at most %(limit)d objects faithful; %(count)d photos are "
                    "objects (product, logo, outfit or other)."
                )
                % {"model": model.name, "limit": limits["objects"], "count": objects},
            )
        )
    return warnings
