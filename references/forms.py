from django import forms
from django.utils.translation import gettext_lazy as _

from compositions.forms import MultipleImageField, MultipleImageInput
from compositions.models import Role

from .models import Reference

IMAGE_TYPES = "image/jpeg,image/png,image/webp,image/gif,image/heic,image/heif"


class ImagesFields(forms.Form):
    images = MultipleImageField(
        label=_("Images"),
        required=False,  # the service says how many, beside the field
        widget=MultipleImageInput(attrs={"accept": IMAGE_TYPES}),
        help_text=_("JPEG, PNG, WebP, GIF or HEIC. Checked like every photo you upload."),
    )
    role = forms.ChoiceField(
        label=_("Role of these images"),
        required=False,
        choices=[("", _("From the kind")), *Role.choices],
        help_text=_("What the images are when picked into a composition."),
    )
    image_note = forms.CharField(label=_("Note on these images"), required=False, max_length=300)


class ReferenceForm(ImagesFields):
    name = forms.CharField(label=_("Name"), max_length=120)
    kind = forms.ChoiceField(label=_("Kind"), choices=Reference.Kind.choices)
    notes = forms.CharField(
        label=_("Notes"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )
    depicts_person = forms.BooleanField(
        label=_("It shows a real person"),
        required=False,
        help_text=_("A real person's likeness needs their consent, recorded below."),
    )
    consent = forms.BooleanField(
        label=_("I confirm the person shown agreed to their images being used in this workspace"),
        required=False,
    )
    consent_until = forms.DateField(
        label=_("Consent holds until"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_(
            "After this day the reference can no longer be used and its images are deleted."
        ),
    )

    field_order = [
        "name",
        "kind",
        "images",
        "role",
        "image_note",
        "notes",
        "depicts_person",
        "consent",
        "consent_until",
    ]


class EditForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    notes = forms.CharField(
        label=_("Notes"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )
