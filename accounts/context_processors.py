from allauth.account.models import EmailAddress

from billing.models import Wallet

from .middleware import SETUP_NEXT
from .models import Membership
from .services import ensure_personal_workspace, has_second_factor, team_needs_second_factor


def workspace(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"current_workspace": None, "current_balance": None}
    if not request.workspace:
        return {"current_workspace": None, "current_balance": None}
    balance = Wallet.objects.filter(workspace=request.workspace).values_list("balance", flat=True)
    memberships = Membership.objects.filter(user=user).select_related("workspace")
    return {
        "current_workspace": request.workspace,
        "current_balance": balance.first(),
        "my_memberships": memberships.order_by("workspace__kind", "workspace__name"),
    }


# The two-factor pages (templates/mfa/) that say where to go next or what is in the way.
TWO_FACTOR_PAGES = {"mfa_index", "mfa_view_recovery_codes"}


def two_factor(request):
    """On the two-factor pages: the page the person was sent away from (once they have a
    second factor), whether an unverified address stops them adding one, and their personal
    workspace when the current team is what sent them."""
    match = getattr(request, "resolver_match", None)
    user = getattr(request, "user", None)
    if match is None or match.url_name not in TWO_FACTOR_PAGES or not user.is_authenticated:
        return {}
    if has_second_factor(user=user):
        return {"mfa_continue": request.session.get(SETUP_NEXT)}
    context = {
        "mfa_unverified_email": EmailAddress.objects.filter(user=user, verified=False).exists(),
    }
    if team_needs_second_factor(user=user, workspace=request.workspace):
        context["mfa_personal_workspace"] = ensure_personal_workspace(user=user)
    return context
