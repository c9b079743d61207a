from django import forms


class ShareForm(forms.Form):
    result = forms.CharField(required=False, max_length=32)
    collection = forms.CharField(required=False, max_length=32)
    show_prompt = forms.BooleanField(required=False, label="Show the prompt")
    expires_on = forms.DateField(
        required=False,
        label="Expires after",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Leave empty for a link that works until you revoke it.",
    )


class CollectForm(forms.Form):
    collection = forms.CharField(required=False, max_length=32)
    new_name = forms.CharField(required=False, label="New collection")  # length: the service
