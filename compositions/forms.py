from django import forms
from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .catalog import all_models, default_model, find_model
from .models import Composition
from .options import MATCH_INPUT
from .regions import DEFAULT_FEATHER, MAX_FEATHER, MAX_MARGIN


class MultipleImageInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleImageField(forms.FileField):
    """Any number of files; each is checked by the service, which knows the model's limits."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleImageInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        if isinstance(data, list | tuple):
            return [super(MultipleImageField, self).clean(item, initial) for item in data]
        return [] if data in self.empty_values else [super().clean(data, initial)]


class KnownModelField(forms.ChoiceField):
    """The offered models, and any other name the catalogue knows (an alias, a shut-down
    model): the service resolves those, or refuses them naming the successor."""

    def valid_value(self, value) -> bool:
        return super().valid_value(value) or find_model(str(value)) is not None


class ComposeForm(forms.Form):
    """The composer's options; the photos themselves are validated by the service."""

    images = MultipleImageField(
        label=gettext_lazy("Photos"),
        required=False,
        widget=MultipleImageInput(
            attrs={"accept": "image/jpeg,image/png,image/webp,image/gif,image/heic,image/heif"}
        ),
        help_text=gettext_lazy(
            "2 to 14 photos. Their order is what “image 1”, “image 2” mean in the prompt."
        ),
    )
    prompt = forms.CharField(
        label=gettext_lazy("Prompt"),
        required=False,
        strip=False,
        # No maxlength: a browser would cut a long paste silently; the page and the server say
        # how long it is instead.
        widget=forms.Textarea(attrs={"rows": 5}),
    )
    preset = forms.ChoiceField(label=gettext_lazy("Preset"), choices=Composition.Preset.choices)
    style = forms.ChoiceField(label=gettext_lazy("Style"), choices=Composition.Style.choices)
    model = KnownModelField(label=gettext_lazy("Model"))
    aspect_ratio = forms.ChoiceField(label=gettext_lazy("Aspect ratio"))
    image_size = forms.ChoiceField(label=gettext_lazy("Image size"))
    num_images = forms.TypedChoiceField(
        label=gettext_lazy("Number of images"), choices=[(n, n) for n in range(1, 5)], coerce=int
    )
    # Model options (catalogue `options`): the page shows them only for models that offer them;
    # the service refuses them for a model that lacks them.
    grounding = forms.BooleanField(
        label=gettext_lazy("Search the web (Google Search grounding)"), required=False
    )
    thinking_level = forms.ChoiceField(label=gettext_lazy("Thinking level"), required=False)
    consent = forms.BooleanField(
        label=gettext_lazy(
            "I have the right to use these photos and the consent of the people in them."
        ),
        required=False,  # required for presets with people; the service says so
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        models = all_models()
        model = default_model()
        self.fields["model"].choices = [(m.id, _model_label(m)) for m in models]
        ratios = sorted({r for m in models for r in m.aspect_ratios}, key=_ratio_key)
        sizes = [s for s in ("512", "1K", "2K", "4K") if any(s in m.image_sizes for m in models)]
        self.fields["aspect_ratio"].choices = [(r, r) for r in ratios]
        if any(m.options.get("match_input_aspect") for m in models):
            self.fields["aspect_ratio"].choices.append((MATCH_INPUT, _("Match image 1")))
        self.fields["image_size"].choices = [(s, s) for s in sizes]
        levels = dict.fromkeys(lv for m in models for lv in m.options.get("thinking_levels") or [])
        self.fields["thinking_level"].choices = [("", _("The model’s default"))] + [
            (level, THINKING_LEVELS.get(level, level.capitalize())) for level in levels
        ]
        # "N credits per search" for the model shown (the script follows a change of model).
        chosen = find_model(str(self["model"].value() or "")) or model
        self.search_credits = chosen.grounding_credits_per_search
        self.offers_grounding = any(m.options.get("grounding") for m in models)
        self.offers_thinking = bool(levels)
        self.initial.setdefault("model", model.id)
        self.initial.setdefault("aspect_ratio", "1:1")
        self.initial.setdefault("image_size", "1K" if "1K" in model.image_sizes else sizes[0])
        self.initial.setdefault("num_images", 1)
        self.initial.setdefault("preset", Composition.Preset.NONE)
        self.initial.setdefault("style", Composition.Style.NATURAL)


# The thinking levels the catalogue offers today, named in the reader's language.
THINKING_LEVELS = {
    "minimal": gettext_lazy("Minimal"),
    "low": gettext_lazy("Low"),
    "medium": gettext_lazy("Medium"),
    "high": gettext_lazy("High"),
}


def _model_label(model) -> str:
    if model.deprecated and model.shutdown_date:
        return _("%(name)s (deprecated: shuts down %(date)s)") % {
            "name": model.name,
            "date": formats.date_format(model.shutdown_date, "DATE_FORMAT"),
        }
    return model.name


def _ratio_key(ratio: str) -> float:
    w, h = ratio.split(":")
    return int(w) / int(h)


class RegionForm(forms.Form):
    """A region edit or an expand of one picture on a composition's page. The painter
    (static/js/painter.js) uploads the region as a PNG and names it in `mask`; without
    JavaScript, a mask file can be chosen instead (`mask_file`)."""

    MODES = [
        ("edit", gettext_lazy("Change a painted region")),
        ("expand", gettext_lazy("Expand the picture")),
    ]

    mode = forms.ChoiceField(
        label=gettext_lazy("What to do"), choices=MODES, widget=forms.RadioSelect
    )
    prompt = forms.CharField(
        label=gettext_lazy("What should change there"),
        required=False,
        help_text=gettext_lazy("Optional for an expand: the model continues the scene."),
        strip=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    mask = forms.CharField(required=False, widget=forms.HiddenInput, max_length=40)
    mask_file = forms.FileField(
        label=gettext_lazy("Mask (PNG)"),
        required=False,
        help_text=gettext_lazy(
            "A black picture of the same size with the region to change painted white."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": "image/png"}),
    )
    feather = forms.IntegerField(
        label=gettext_lazy("Soft edge (pixels)"),
        min_value=0,
        max_value=MAX_FEATHER,
        initial=DEFAULT_FEATHER,
    )
    aspect_ratio = forms.ChoiceField(label=gettext_lazy("New aspect ratio"), required=False)
    margin = forms.IntegerField(
        label=gettext_lazy("Or a margin on every side (pixels)"),
        required=False,
        min_value=1,
        max_value=MAX_MARGIN,
    )
    image_size = forms.ChoiceField(label=gettext_lazy("Image size"))
    extra = forms.MultipleChoiceField(
        label=gettext_lazy("Also show the model"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, ratios=(), sizes=(), extra=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["aspect_ratio"].choices = [("", _("Keep (use a margin)"))] + [
            (r, r) for r in ratios
        ]
        self.fields["image_size"].choices = [(s, s) for s in sizes]
        self.fields["extra"].choices = list(extra)

    def clean(self):
        data = super().clean()
        if data.get("mode") == "edit" and not (data.get("prompt") or "").strip():
            self.add_error("prompt", _("Say what should change in the region."))
        if data.get("mode") == "expand" and bool(data.get("aspect_ratio")) == bool(
            data.get("margin")
        ):
            self.add_error("aspect_ratio", _("Choose a new aspect ratio or a margin (not both)."))
        return data
