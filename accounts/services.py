import secrets

from django.db import IntegrityError, transaction
from django.utils.text import slugify

from billing.services import open_wallet

from .models import Membership, User, Workspace


def _unique_slug(base: str) -> str:
    base = slugify(base)[:40].strip("-") or "workspace"
    slug = base
    while Workspace.objects.filter(slug=slug).exists():
        slug = f"{base}-{secrets.token_hex(3)}"
    return slug


@transaction.atomic
def ensure_personal_workspace(*, user: User) -> Workspace:
    """Return the user's personal workspace, creating it (and making it current) if missing."""
    membership = (
        Membership.objects.select_related("workspace")
        .filter(user=user, workspace__kind=Workspace.Kind.PERSONAL, role=Membership.Role.OWNER)
        .first()
    )
    if membership:
        workspace = membership.workspace
    else:
        local_part = user.email.split("@")[0]
        for _ in range(5):
            try:
                with transaction.atomic():
                    workspace = Workspace.objects.create(
                        slug=_unique_slug(local_part),
                        name=f"{user.get_short_name()}'s workspace",
                        kind=Workspace.Kind.PERSONAL,
                    )
                break
            except IntegrityError:  # Two sign-ups raced for the same slug; pick another.
                continue
        Membership.objects.create(workspace=workspace, user=user, role=Membership.Role.OWNER)
        open_wallet(workspace=workspace)
    if user.current_workspace_id is None:
        User.objects.filter(pk=user.pk).update(current_workspace=workspace)
        user.current_workspace = workspace
    return workspace


def current_workspace_for(*, user: User) -> Workspace:
    """The workspace the user is working in: the chosen one if still a member, else personal."""
    if (
        user.current_workspace_id
        and Membership.objects.filter(user=user, workspace_id=user.current_workspace_id).exists()
    ):
        return user.current_workspace
    user.current_workspace = None
    return ensure_personal_workspace(user=user)


@transaction.atomic
def create_user(*, email: str, password: str | None) -> User:
    """A user with a personal workspace, in one transaction."""
    user = User.objects.create_user(email=email, password=password)
    ensure_personal_workspace(user=user)
    return user
