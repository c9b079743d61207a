"""The model catalogue as rows operators edit in the admin: models, each provider's name for
them, limits, prices, options and lifecycle. Read through `catalogue.registry`, which caches
it in the shared cache; every save or delete here clears that cache (`signals.py`)."""

import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bananasite.append_only import AppendOnlyModel, AppendOnlyQuerySet

# The options a model may offer (`ImageModel.options`); anything else is refused at submit.
#   grounding: Google Search grounding (Nano Banana Pro and 2 document it), priced per search
#   thinking_levels: the thinking levels a caller may pick, e.g. ["minimal", "high"]
#   match_input_aspect: "match image 1" may be given as the aspect ratio
OPTION_KEYS = {"grounding", "thinking_levels", "match_input_aspect"}
# The levels Gemini's `thinkingConfig.thinkingLevel` takes; a model lists the ones it offers.
THINKING_LEVELS = ["minimal", "low", "medium", "high"]
SIZES = ["512", "1K", "2K", "4K"]
REFERENCE_LIMIT_KEYS = {"objects", "characters"}


class ImageModel(models.Model):
    """One model as people choose it (e.g. `nano-banana-2`), whoever serves it."""

    class Lifecycle(models.TextChoices):
        PREVIEW = "preview", _("Preview")
        GA = "ga", _("Generally available")
        DEPRECATED = "deprecated", _("Deprecated (runs, with a warning, until its shutdown date)")
        SHUT_DOWN = "shut_down", _("Shut down (refused, naming the successor)")

    id = models.SlugField(primary_key=True, max_length=64)
    name = models.CharField(max_length=120)
    # Other names a request may use (old preview ids, short names); they resolve to this model.
    aliases = models.JSONField(default=list, blank=True)
    position = models.PositiveSmallIntegerField(default=0, help_text="Order in lists.")
    lifecycle = models.CharField(max_length=12, choices=Lifecycle, default=Lifecycle.GA)
    shutdown_date = models.DateField(
        null=True, blank=True, help_text="From this day on the model is refused."
    )
    successor = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="predecessors"
    )
    max_images = models.PositiveSmallIntegerField(default=14, help_text="Input photos at most.")
    image_sizes = models.JSONField(default=list, help_text='e.g. ["1K", "2K", "4K"]')
    aspect_ratios = models.JSONField(default=list, help_text='e.g. ["1:1", "16:9"]')
    credits_per_image = models.JSONField(default=dict, help_text='Credits by size: {"1K": 6}')
    # The batch tier (Gemini Batch Mode) charges this share of the credits; 0.5 is half price.
    batch_discount = models.DecimalField(max_digits=3, decimal_places=2, default=0.5)
    grounding_credits_per_search = models.PositiveSmallIntegerField(default=0)
    grounding_usd_per_search = models.DecimalField(max_digits=8, decimal_places=4, default=0)
    options = models.JSONField(
        default=dict,
        blank=True,
        help_text='e.g. {"grounding": true, "thinking_levels": ["minimal", "high"], '
        '"match_input_aspect": true}',
    )
    # What the model documents it keeps faithful across its inputs (providers.md, "Limits"),
    # e.g. {"objects": 10, "characters": 4}: the composer's prompt linter warns past them.
    reference_limits = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]
        verbose_name = "image model"

    def __str__(self) -> str:
        return self.id

    def clean(self) -> None:
        problems = {}
        if not isinstance(self.aliases, list) or not all(isinstance(a, str) for a in self.aliases):
            problems["aliases"] = "A list of names."
        if not self.image_sizes or any(s not in SIZES for s in self.image_sizes):
            problems["image_sizes"] = f"Some of {', '.join(SIZES)}."
        if not isinstance(self.credits_per_image, dict) or any(
            s not in self.credits_per_image for s in self.image_sizes or []
        ):
            problems["credits_per_image"] = "A price in credits for every image size."
        if not isinstance(self.options, dict) or set(self.options) - OPTION_KEYS:
            problems["options"] = f"Only {', '.join(sorted(OPTION_KEYS))}."
        elif set(self.options.get("thinking_levels") or []) - set(THINKING_LEVELS):
            problems["options"] = f"Thinking levels are some of {', '.join(THINKING_LEVELS)}."
        if not isinstance(self.reference_limits, dict) or any(
            k not in REFERENCE_LIMIT_KEYS or not isinstance(v, int) or v < 1
            for k, v in self.reference_limits.items()
        ):
            problems["reference_limits"] = 'Whole numbers for "objects" and "characters".'
        if self.lifecycle == self.Lifecycle.DEPRECATED and not self.shutdown_date:
            problems["shutdown_date"] = "A deprecated model needs its shutdown date."
        if self.successor_id == self.id:
            problems["successor"] = "A model cannot succeed itself."
        if problems:
            raise ValidationError(problems)

    def effective_lifecycle(self, today: datetime.date | None = None) -> str:
        """Deprecated models become shut down on their shutdown date without an edit."""
        today = today or timezone.localdate()
        if self.shutdown_date and self.shutdown_date <= today:
            return self.Lifecycle.SHUT_DOWN
        return self.lifecycle


class ProviderModel(models.Model):
    """How one provider serves a model: its own name for it, and its narrower limits."""

    model = models.ForeignKey(ImageModel, on_delete=models.CASCADE, related_name="providers")
    provider = models.CharField(max_length=20, help_text="gemini, vertex, openrouter, …")
    provider_model = models.CharField(max_length=120, help_text="The provider's model name.")
    max_images = models.PositiveSmallIntegerField(null=True, blank=True)
    # Empty: the model's own list; else only these.
    image_sizes = models.JSONField(default=list, blank=True)
    aspect_ratios = models.JSONField(default=list, blank=True)
    # What one image costs us here, in USD by size (routing weighs it).
    usd_per_image = models.JSONField(default=dict, blank=True)
    position = models.PositiveSmallIntegerField(default=0, help_text="Tie-break order.")

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["model", "provider"], name="one_route_per_provider")
        ]

    def __str__(self) -> str:
        return f"{self.model_id} at {self.provider}: {self.provider_model}"


class CatalogueChange(AppendOnlyModel):
    """Every change to the catalogue in the admin: who, what, and the row before and after."""

    append_only_message = "The catalogue's change log is append-only."

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_email = models.EmailField(blank=True)
    action = models.CharField(max_length=10)  # added, changed, deleted
    target_type = models.CharField(max_length=20)
    target_id = models.CharField(max_length=200)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "catalogue change"

    def __str__(self) -> str:
        return f"{self.actor_email} {self.action} {self.target_type} {self.target_id}"
