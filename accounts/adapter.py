from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context
from allauth.mfa.adapter import DefaultMFAAdapter
from django.conf import settings
from django.shortcuts import render

from .services import ensure_personal_workspace
from .views import AFTER_VERIFICATION


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            ensure_personal_workspace(user=user)
        return user

    def get_email_verification_redirect_url(self, email_address):
        """Back to the invitation that asked for the verification, if it was this browser."""
        then = self.request.session.pop(AFTER_VERIFICATION, None)
        if then and self.request.user.is_authenticated:
            return then
        return super().get_email_verification_redirect_url(email_address)

    def respond_user_inactive(self, request, user):
        """A suspended account is told so, and why, instead of allauth's "inactive" page."""
        if getattr(user, "is_suspended", False):
            return render(
                request,
                "account/suspended.html",
                {"reason": user.suspension_reason, "since": user.suspended_at},
                status=403,
            )
        return super().respond_user_inactive(request, user)


class MFAAdapter(DefaultMFAAdapter):
    def get_public_key_credential_rp_entity(self) -> dict[str, str]:
        """The relying party passkeys are bound to: the configured domain in production (so
        every host under it shares the passkeys), else the request's host name."""
        rp_id = settings.BANANASITE_WEBAUTHN_RP_ID or context.request.get_host().partition(":")[0]
        return {"id": rp_id, "name": settings.BANANASITE_WEBAUTHN_RP_NAME}
