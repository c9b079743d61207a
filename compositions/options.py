"""What a composition asks for, read from any request in one place, and checked.

The browser form, the JSON and multipart API bodies, the estimate and a variation all build
their `CompositionOptions` here, so the defaults live in one dataclass."""

import math
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import IO, Any

from django.conf import settings
from django.utils.formats import date_format, number_format
from django.utils.translation import gettext
from django.utils.translation import gettext as _

from accounts.models import RETENTION_MAX_DAYS
from moderation.policy import blocked_term

from .catalog import ModelSpec, batch_route, default_model, find_model, routes_carrying
from .models import Composition, Role
from .presets import PEOPLE_PRESETS, scaffold

Problem = tuple[str, str, str]  # (field, code, message), as ValidationFailed takes them
# "Match image 1" as an aspect ratio, for models whose catalogue entry has `match_input_aspect`:
# resolved at submit to the model's ratio nearest to the first photo's (`nearest_ratio`).
MATCH_INPUT = "match_input_image"


def nearest_ratio(width: int, height: int, ratios: tuple[str, ...]) -> str:
    """The ratio closest to width:height, compared on a log scale (2:1 is as far from 1:1 as
    1:2 is)."""
    target = math.log(width / height)

    def distance(ratio: str) -> float:
        w, h = (int(p) for p in ratio.split(":"))
        return abs(math.log(w / h) - target)

    return min(ratios, key=distance)


@dataclass(frozen=True)
class CompositionOptions:
    prompt: str = ""
    preset: str = Composition.Preset.NONE
    style: str = Composition.Style.NATURAL
    model: str = ""  # empty: the deployment's default model
    aspect_ratio: str = "1:1"
    image_size: str = "1K"
    num_images: int = 1
    roles: list[str] = field(default_factory=list)
    # Per input, in order: the position (1-based) of the input it is a marked-up copy of, or
    # None. Validated in `validate_options` (in range, not itself, not a mark-up of a mark-up).
    markup_of: list[int | None] = field(default_factory=list)
    # The statement "I have the right to use these photos and the consent of the people in
    # them". The browser requires it for people presets (`require_consent`); an API call
    # without it is held for a moderator instead, so existing clients keep working.
    consent: bool = False
    require_consent: bool = False
    # "batch": through the provider's batch tier, at the model's batch_discount (catalogue).
    priority: str = Composition.Priority.STANDARD
    # Model options (catalogue `options`): refused for a model that lacks them.
    grounding: bool = False
    thinking_level: str = ""  # empty: the model's own default
    # A shorter life than the workspace's retention, in days (the API's `retention_days`);
    # None: the workspace's. Checked against the workspace in `retention_problem`.
    retention_days: int | None = None

    @property
    def model_options(self) -> dict[str, Any]:
        """The model options asked for, as stored on the composition (only those given)."""
        chosen: dict[str, Any] = {}
        if self.grounding:
            chosen["grounding"] = True
        if self.thinking_level:
            chosen["thinking_level"] = self.thinking_level
        return chosen

    @classmethod
    def from_data(
        cls,
        data: Mapping[str, Any],
        *,
        roles: list[str] | None = None,
        markup_of: list[int | None] | None = None,
        require_consent: bool = False,
    ) -> "CompositionOptions":
        """Options from validated request data; what it leaves out takes the defaults."""
        given = {
            name: data[name]
            for name in (
                "prompt",
                "preset",
                "style",
                "model",
                "aspect_ratio",
                "image_size",
                "num_images",
                "consent",
                "priority",
                "grounding",
                "thinking_level",
                "retention_days",
            )
            if data.get(name) not in (None, "")
        }
        options = cls(
            **given,
            roles=list(roles or []),
            markup_of=list(markup_of or []),
            require_consent=require_consent,
        )
        return options.with_model()

    @classmethod
    def of(cls, composition: Composition, **overrides: Any) -> "CompositionOptions":
        """The options a composition was made with (for a variation), with `overrides`."""
        options = cls(
            prompt=composition.prompt,
            preset=composition.preset,
            style=composition.style,
            model=composition.model,
            aspect_ratio=composition.aspect_ratio,
            image_size=composition.image_size,
            num_images=composition.num_images,
            consent=composition.consent,
            priority=composition.priority,
            grounding=bool(composition.model_options.get("grounding")),
            thinking_level=composition.model_options.get("thinking_level", ""),
        )
        return replace(options, **{k: v for k, v in overrides.items() if v not in (None, "")})

    def with_model(self) -> "CompositionOptions":
        return self if self.model else replace(self, model=default_model().id)


DEFAULTS = CompositionOptions()


@dataclass(frozen=True)
class NamedReference:
    """A saved reference named by its public id (`ref_...`), resolved at submit into its
    current version's images, each with its own role unless `role` is given. With `upload`,
    just that one of its images (the composer puts a reference's images in slots one by one)."""

    public_id: str
    role: str = ""
    upload: str = ""


@dataclass
class NewImage:
    """A file from the request, not yet validated."""

    name: str
    fileobj: IO[bytes]
    size: int | None


def clean_prompt(raw: str, *, preset: str, count: int) -> str:
    """Trim and normalise the prompt; a preset supplies one when it is left empty."""
    prompt = unicodedata.normalize("NFC", raw or "").strip()
    if not prompt and preset != Composition.Preset.NONE:
        prompt = scaffold(preset, count)
    return prompt


def _prompt_problem(prompt: str) -> Problem | None:
    limit = settings.BANANASITE_MAX_PROMPT_CHARS
    if not prompt:
        return (
            "prompt",
            "prompt_invalid",
            _("Describe how to combine the photos, or pick a preset."),
        )
    if len(prompt) > limit:
        return (
            "prompt",
            "prompt_too_long",
            _("The prompt is %(length)s characters; the limit is %(limit)s.")
            % {
                "length": number_format(len(prompt), force_grouping=True),
                "limit": number_format(limit, force_grouping=True),
            },
        )
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\r\t" for ch in prompt):
        return ("prompt", "prompt_invalid", _("The prompt contains control characters."))
    if blocked_term(prompt):
        return (
            "prompt",
            "prompt_blocked",
            _("The prompt asks for something this site does not make. Please rephrase it."),
        )
    return None


def _count_problem(count: int, model: ModelSpec | None, low: int | None = None) -> Problem | None:
    low = settings.BANANASITE_MIN_INPUT_IMAGES if low is None else low
    high = min(settings.BANANASITE_MAX_INPUT_IMAGES, model.max_images if model else 99)
    if count < low:
        return (
            "images",
            "too_few_images",
            _("Add at least %(low)d photos to combine (you added %(count)d).")
            % {"low": low, "count": count},
        )
    if count > high:
        if model and model.max_images < 14:
            message = _("%(model)s takes at most %(high)d photos (you added %(count)d).") % {
                "model": model.name,
                "high": high,
                "count": count,
            }
        else:
            message = _("You can add at most %(high)d photos (you added %(count)d).") % {
                "high": high,
                "count": count,
            }
        return ("images", "too_many_images", message)
    return None


def _lifecycle_words(model: ModelSpec) -> tuple[str, str]:
    """("25 June 2026", "Nano Banana Pro (nano-banana-pro)") for a model's messages. The
    successor is named even where no provider here serves it (then by its id alone)."""
    when = date_format(model.shutdown_date, "DATE_FORMAT") if model.shutdown_date else ""
    successor = find_model(model.successor) if model.successor else None
    name = f"{successor.name} ({successor.id})" if successor else (model.successor or "")
    return when, name


def shut_down_message(model: ModelSpec) -> str:
    when, successor = _lifecycle_words(model)
    words = {"model": model.name, "date": when, "successor": successor}
    if when and successor:
        return _("%(model)s was shut down on %(date)s. Use %(successor)s instead.") % words
    if when:
        return _("%(model)s was shut down on %(date)s.") % words
    if successor:
        return _("%(model)s was shut down. Use %(successor)s instead.") % words
    return _("%(model)s was shut down.") % words


def lifecycle_warnings(model_id: str) -> list[dict[str, Any]]:
    """What a composition's answer says about its model: a deprecated model runs, and says when
    it stops and what follows it."""
    model = find_model(model_id)
    if model is None or not model.deprecated:
        return []
    when, successor = _lifecycle_words(model)
    words = {"model": model.name, "date": when, "successor": successor}
    if when:
        message = _("%(model)s is deprecated and will be shut down on %(date)s.") % words
    else:
        message = _("%(model)s is deprecated and will be shut down.") % words
    if successor:
        message += " " + _("Switch to %(successor)s.") % words
    return [
        {
            "code": "model_deprecated",
            "message": message,
            "model": model.id,
            "shutdown_date": model.shutdown_date.isoformat() if model.shutdown_date else None,
            "successor": model.successor,
        }
    ]


def _model_option_problems(model: ModelSpec, options: CompositionOptions) -> list[Problem]:
    """Grounding and the thinking level: only for a model whose catalogue entry offers them,
    at a level it lists, and through a provider here whose wire format carries them."""
    errors: list[Problem] = []
    levels = list(model.options.get("thinking_levels") or [])
    if options.grounding and not model.options.get("grounding"):
        errors.append(
            (
                "grounding",
                "unsupported_option",
                _("%(name)s (%(id)s) does not offer Google Search grounding.")
                % {"name": model.name, "id": model.id},
            )
        )
    if options.thinking_level and not levels:
        errors.append(
            (
                "thinking_level",
                "unsupported_option",
                _("%(name)s (%(id)s) does not offer a thinking level.")
                % {"name": model.name, "id": model.id},
            )
        )
    elif options.thinking_level and options.thinking_level not in levels:
        errors.append(
            (
                "thinking_level",
                "unsupported_option",
                _("%(name)s (%(id)s) thinks at %(items)s, not “%(thinking_level)s”.")
                % {
                    "name": model.name,
                    "id": model.id,
                    "items": " or ".join(levels),
                    "thinking_level": options.thinking_level,
                },
            )
        )
    if not errors and options.model_options and not routes_carrying(model, options.model_options):
        name = next(iter(options.model_options))
        errors.append(
            (
                name,
                "unsupported_option",
                _("No image service configured here can pass %(replace)s to %(name)s (%(id)s).")
                % {"replace": name.replace("_", " "), "name": model.name, "id": model.id},
            )
        )
    return errors


def retention_problem(days: int | None, *, workspace_days: int | None) -> Problem | None:
    """A composition's own life may be shorter than its workspace's retention, never longer."""
    if days is None:
        return None
    if not 1 <= days <= RETENTION_MAX_DAYS:
        return (
            "retention_days",
            "invalid_retention",
            gettext("retention_days must be 1 to %(max)d.") % {"max": RETENTION_MAX_DAYS},
        )
    if workspace_days is not None and days > workspace_days:
        return (
            "retention_days",
            "retention_too_long",
            gettext("This workspace keeps compositions for %(days)d days; ask for that or fewer.")
            % {"days": workspace_days},
        )
    return None


def markup_problems(markup_of: list[int | None], *, count: int) -> list[Problem]:
    """A mark-up names another input of the same composition, and never another mark-up."""
    if len(markup_of) > count:
        return [("inputs", "markup_invalid", "There are more mark-up links than images.")]
    for position, target in enumerate(markup_of, start=1):
        if target is None:
            continue
        if not 1 <= target <= count or target == position:
            return [
                (
                    "inputs",
                    "markup_invalid",
                    f"Image {position} is marked as a mark-up of image {target}, which is not "
                    f"another image of this composition (1 to {count}).",
                )
            ]
        if target <= len(markup_of) and markup_of[target - 1] is not None:
            return [
                (
                    "inputs",
                    "markup_chained",
                    f"Image {position} marks up image {target}, which is itself a mark-up; "
                    "mark up the original photo instead.",
                )
            ]
    return []


def validate_options(
    options: CompositionOptions, *, count: int, min_images: int | None = None
) -> tuple[ModelSpec | None, list[Problem]]:
    """Check everything but the image bytes; return the model and a list of problems.
    `min_images` overrides the site's least number of photos (a region edit takes one)."""
    errors: list[Problem] = []
    model = find_model(options.model)
    if model is None:
        errors.append(("model", "unsupported_option", _("Choose one of the available models.")))
    elif model.shut_down:
        errors.append(("model", "model_shut_down", shut_down_message(model)))
        model = None
    if options.preset not in Composition.Preset.values:
        errors.append(("preset", "unsupported_option", _("Choose one of the presets.")))
    if options.style not in Composition.Style.values:
        errors.append(("style", "unsupported_option", _("Choose one of the styles.")))
    if model and options.aspect_ratio == MATCH_INPUT:
        if not model.options.get("match_input_aspect"):
            errors.append(
                (
                    "aspect_ratio",
                    "unsupported_option",
                    _("%(name)s cannot match image 1's aspect ratio; choose a ratio.")
                    % {"name": model.name},
                )
            )
    elif model and options.aspect_ratio not in model.aspect_ratios:
        errors.append(
            (
                "aspect_ratio",
                "unsupported_option",
                _("%(name)s cannot make that aspect ratio.") % {"name": model.name},
            )
        )
    if model and options.image_size not in model.image_sizes:
        errors.append(
            (
                "image_size",
                "unsupported_option",
                _("%(name)s cannot make that image size.") % {"name": model.name},
            )
        )
    if options.priority not in Composition.Priority.values:
        errors.append(("priority", "unsupported_option", _("Choose standard or batch.")))
    elif options.priority == Composition.Priority.BATCH and model and batch_route(model) is None:
        errors.append(
            (
                "priority",
                "batch_unavailable",
                _(
                    "%(name)s has no batch tier here: only the Gemini API offers one. Leave out "
                    "`priority` or choose standard."
                )
                % {"name": model.name},
            )
        )
    if model:
        errors += _model_option_problems(model, options)
    if not 1 <= options.num_images <= 4:
        errors.append(("num_images", "unsupported_option", _("Ask for 1 to 4 images.")))
    for problem in (
        _count_problem(count, model, min_images),
        _prompt_problem(clean_prompt(options.prompt, preset=options.preset, count=count)),
    ):
        if problem:
            errors.append(problem)
    errors += markup_problems(options.markup_of, count=count)
    for role in options.roles:
        if role and role not in Role.values:
            errors.append(
                ("roles", "unsupported_option", _("“%(role)s” is not a role.") % {"role": role})
            )
            break
    if options.require_consent and options.preset in PEOPLE_PRESETS and not options.consent:
        errors.append(
            (
                "consent",
                "consent_required",
                _(
                    "This preset works with people: tick the statement that you have the right to "
                    "use these photos and the consent of the people in them."
                ),
            )
        )
    return model, errors
