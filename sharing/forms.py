from django import forms
from django.utils.translation import gettext_lazy as _


class ShareForm(forms.Form):
    result = forms.CharField(required=False, max_length=32)
    collection = forms.CharField(required=False, max_length=32)
    show_prompt = forms.BooleanField(required=False, label=_("Show the prompt"))
    expires_on = forms.DateField(
        required=False,
        label=_("Expires after"),
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Leave empty for a link that works until you revoke it."),
    )


class CollectForm(forms.Form):
    collection = forms.CharField(required=False, max_length=32)
    new_name = forms.CharField(required=False, label=_("New collection"))  # length: the service
