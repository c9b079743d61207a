from allauth.account.adapter import DefaultAccountAdapter

from .services import ensure_personal_workspace


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            ensure_personal_workspace(user=user)
        return user
