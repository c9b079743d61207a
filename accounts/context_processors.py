from billing.models import Wallet

from .models import Membership


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
