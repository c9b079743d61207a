import hashlib
import logging
import secrets
from datetime import datetime, timedelta

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext
from django.utils.translation import gettext as _

from bananasite.errors import AppError
from billing.services import open_wallet

from .models import (
    RETENTION_MAX_DAYS,
    TOKEN_PREFIX,
    ApiToken,
    Invitation,
    Membership,
    User,
    Workspace,
    hash_token,
)

logger = logging.getLogger(__name__)


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
        created: Workspace | None = None
        for _attempt in range(5):
            try:
                with transaction.atomic():
                    created = Workspace.objects.create(
                        slug=_unique_slug(local_part),
                        name=_("%(short_name)s's workspace")
                        % {"short_name": user.get_short_name()},
                        kind=Workspace.Kind.PERSONAL,
                    )
                break
            except IntegrityError:  # Two sign-ups raced for the same slug; pick another.
                continue
        if created is None:
            raise AppError(_("Could not name the personal workspace; please try again."))
        workspace = created
        Membership.objects.create(workspace=workspace, user=user, role=Membership.Role.OWNER)
        open_wallet(workspace=workspace)
    if user.current_workspace_id is None:
        User.objects.filter(pk=user.pk).update(current_workspace=workspace)
        user.current_workspace = workspace
    return workspace


def current_workspace_for(*, user: User) -> Workspace:
    """The workspace the user is working in: the chosen one if still a member, else personal."""
    chosen = user.current_workspace
    if chosen is not None and Membership.objects.filter(user=user, workspace=chosen).exists():
        return chosen
    user.current_workspace = None
    return ensure_personal_workspace(user=user)


@transaction.atomic
def create_user(*, email: str, password: str | None) -> User:
    """A user with a personal workspace, in one transaction."""
    user = User.objects.create_user(email=email, password=password)
    ensure_personal_workspace(user=user)
    return user


# --- Teams ------------------------------------------------------------------------------------

INVITATION_DAYS = 7
MAX_OWNED_TEAMS = 10


def membership_of(*, user: User, workspace: Workspace) -> Membership | None:
    return Membership.objects.filter(user=user, workspace=workspace).first()


def can_manage(*, user: User, workspace: Workspace) -> bool:
    """Owners and admins manage members, invitations, tokens and webhooks."""
    membership = membership_of(user=user, workspace=workspace)
    return membership is not None and membership.can_manage


def require_manager(*, user: User, workspace: Workspace) -> Membership:
    membership = membership_of(user=user, workspace=workspace)
    if membership is None or not membership.can_manage:
        raise PermissionDeniedError(_("Only the workspace's owners and admins can do this."))
    return membership


class PermissionDeniedError(AppError):
    code = "permission_denied"
    status = 403


@transaction.atomic
def create_team(*, owner: User, name: str) -> Workspace:
    """A team workspace owned by `owner`, with its own wallet, made the owner's current one."""
    name = name.strip()
    if not name:
        raise AppError(_("Give the team a name."), field="name")
    owned = Membership.objects.filter(
        user=owner, role=Membership.Role.OWNER, workspace__kind=Workspace.Kind.TEAM
    ).count()
    if owned >= MAX_OWNED_TEAMS:
        raise AppError(
            _("You can own at most %(max_owned_teams)s teams.")
            % {"max_owned_teams": MAX_OWNED_TEAMS},
            field="name",
        )
    team = Workspace.objects.create(slug=_unique_slug(name), name=name, kind=Workspace.Kind.TEAM)
    Membership.objects.create(workspace=team, user=owner, role=Membership.Role.OWNER)
    open_wallet(workspace=team)
    switch_workspace(user=owner, workspace=team)
    return team


def switch_workspace(*, user: User, workspace: Workspace) -> None:
    if not Membership.objects.filter(user=user, workspace=workspace).exists():
        raise AppError(_("You are not a member of that workspace."), code="not_found")
    User.objects.filter(pk=user.pk).update(current_workspace=workspace)
    user.current_workspace = workspace


def invite_member(
    *, inviter: User, workspace: Workspace, email: str, role: str
) -> tuple[Invitation, str]:
    """Create an invitation and return it with the raw token for the link (shown/sent once)."""
    require_manager(user=inviter, workspace=workspace)
    if workspace.kind != Workspace.Kind.TEAM:
        raise AppError(_("A personal workspace has no other members; create a team."))
    email = email.strip()
    try:
        validate_email(email)
    except Exception:
        raise AppError(_("Enter a valid email address."), field="email") from None
    if role not in (Membership.Role.ADMIN, Membership.Role.MEMBER):
        raise AppError(_("Invite as an admin or a member."), field="role")
    if Membership.objects.filter(workspace=workspace, user__email__iexact=email).exists():
        raise AppError(_("%(email)s is already a member.") % {"email": email}, field="email")
    raw = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        workspace=workspace,
        email=email,
        role=role,
        token_hash=hashlib.sha256(raw.encode()).hexdigest(),
        invited_by=inviter,
        expires_at=timezone.now() + timedelta(days=INVITATION_DAYS),
    )
    return invitation, raw


def find_invitation(raw_token: str) -> Invitation | None:
    return (
        Invitation.objects.select_related("workspace", "invited_by")
        .filter(token_hash=hashlib.sha256(raw_token.encode()).hexdigest())
        .first()
    )


class EmailUnverified(AppError):
    code = "email_unverified"
    status = 403


def has_verified_email(*, user: User, email: str) -> bool:
    """Has the person proved they read mail at `email` (allauth's verification link)?"""
    return EmailAddress.objects.filter(user=user, email__iexact=email, verified=True).exists()


@transaction.atomic
def accept_invitation(*, user: User, raw_token: str) -> Workspace:
    """Join the team the invitation names, as the address it was sent to.

    Signing up does not prove the address (verification may be optional), so the address
    must be verified: otherwise anyone who registers an invited address before its owner
    could take the seat, and with it the team's credits and compositions."""
    invitation = find_invitation(raw_token)
    if invitation is None:
        raise AppError(_("This invitation link is not valid."), code="not_found")
    if invitation.accepted_at:
        raise AppError(_("This invitation has already been used."), code="invalid_state")
    if invitation.expires_at <= timezone.now():
        raise AppError(_("This invitation has expired. Ask for a new one."), code="invalid_state")
    if invitation.email.lower() != user.email.lower():
        raise AppError(
            _("This invitation is for %(email)s. Sign in with that address to accept it.")
            % {"email": invitation.email},
            code="permission_denied",
        )
    if not has_verified_email(user=user, email=invitation.email):
        raise EmailUnverified(
            _(
                "Verify %(email)s before joining: send yourself a verification link from this "
                "page, open it, then come back to this invitation."
            )
            % {"email": invitation.email}
        )
    updated = (
        type(invitation)
        .objects.filter(pk=invitation.pk, accepted_at__isnull=True)
        .update(accepted_at=timezone.now(), accepted_by=user)
    )
    if not updated:
        raise AppError(_("This invitation has already been used."), code="invalid_state")
    Membership.objects.get_or_create(
        workspace=invitation.workspace, user=user, defaults={"role": invitation.role}
    )
    switch_workspace(user=user, workspace=invitation.workspace)
    return invitation.workspace


@transaction.atomic
def remove_member(*, actor: User, workspace: Workspace, member: User) -> None:
    actor_membership = require_manager(user=actor, workspace=workspace)
    target = membership_of(user=member, workspace=workspace)
    if target is None:
        raise AppError(_("That person is not a member."), code="not_found")
    if target.role == Membership.Role.OWNER:
        raise PermissionDeniedError(_("The owner cannot be removed; transfer ownership first."))
    if target.role == Membership.Role.ADMIN and actor_membership.role != Membership.Role.OWNER:
        raise PermissionDeniedError(_("Only the owner can remove an admin."))
    target.delete()
    # Their tokens for this workspace stop working at once.
    ApiToken.objects.filter(workspace=workspace, user=member, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


@transaction.atomic
def leave_workspace(*, user: User, workspace: Workspace) -> None:
    membership = membership_of(user=user, workspace=workspace)
    if membership is None:
        raise AppError(_("You are not a member of that workspace."), code="not_found")
    if workspace.kind == Workspace.Kind.PERSONAL:
        raise AppError(_("You cannot leave your personal workspace."))
    if membership.role == Membership.Role.OWNER:
        raise AppError(_("Transfer ownership to someone else before leaving."))
    membership.delete()
    ApiToken.objects.filter(workspace=workspace, user=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if user.current_workspace_id == workspace.pk:
        User.objects.filter(pk=user.pk).update(current_workspace=None)
        user.current_workspace = None


@transaction.atomic
def transfer_ownership(*, owner: User, workspace: Workspace, new_owner: User) -> None:
    current = membership_of(user=owner, workspace=workspace)
    if current is None or current.role != Membership.Role.OWNER:
        raise PermissionDeniedError(_("Only the owner can transfer ownership."))
    target = membership_of(user=new_owner, workspace=workspace)
    if target is None:
        raise AppError(_("The new owner must already be a member."), code="not_found")
    if workspace.kind == Workspace.Kind.PERSONAL:
        raise AppError(_("A personal workspace cannot change hands."))
    Membership.objects.filter(pk=target.pk).update(role=Membership.Role.OWNER)
    Membership.objects.filter(pk=current.pk).update(role=Membership.Role.ADMIN)


# --- Retention -------------------------------------------------------------------------------


def set_retention(*, actor: User, workspace: Workspace, days: int | None) -> None:
    """How long the workspace keeps its compositions: `days`, or forever (None). Compositions
    already older go at the next purge; asking for a shorter life is an owner's or admin's
    call."""
    require_manager(user=actor, workspace=workspace)
    if days is not None and not 1 <= days <= RETENTION_MAX_DAYS:
        raise AppError(
            gettext("Keep compositions for 1 to %(max)d days, or forever.")
            % {"max": RETENTION_MAX_DAYS},
            code="invalid_retention",
            field="retention_days",
        )
    Workspace.objects.filter(pk=workspace.pk).update(retention_days=days)
    workspace.retention_days = days


# --- Two-factor sign-in -----------------------------------------------------------------------

# What counts as a second factor: an authenticator app or a passkey. Recovery codes alone do not
# (allauth makes them only beside one of these, and they run out).
SECOND_FACTORS = [Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN]


class SecondFactorRequired(AppError):
    code = "mfa_required"
    status = 403


def has_second_factor(*, user: User) -> bool:
    """Does the person sign in with two factors (an authenticator app or a passkey)?"""
    return is_mfa_enabled(user, SECOND_FACTORS)


def staff_needs_second_factor(*, user: User) -> bool:
    """Staff and moderators (moderators are staff) must have a second factor for the admin."""
    return bool(user.is_staff or user.is_superuser) and not has_second_factor(user=user)


def team_needs_second_factor(*, user: User, workspace: Workspace | None) -> bool:
    """Is `user` kept out of `workspace` until they set up two-factor sign-in? Only a team
    can require it; a personal workspace is always reachable."""
    return (
        workspace is not None
        and workspace.kind == Workspace.Kind.TEAM
        and workspace.require_mfa
        and not has_second_factor(user=user)
    )


@transaction.atomic
def set_mfa_requirement(*, actor: User, workspace: Workspace, required: bool) -> bool:
    """Require (or stop requiring) two-factor sign-in of the team's members; owners only.
    Returns whether anything changed. The owner must use it themselves before requiring it,
    so they cannot lock themselves out of their own team."""
    membership = membership_of(user=actor, workspace=workspace)
    if membership is None or membership.role != Membership.Role.OWNER:
        raise PermissionDeniedError(_("Only the team's owner can change this."))
    if workspace.kind != Workspace.Kind.TEAM:
        raise AppError(_("Only a team can require two-factor sign-in of its members."))
    if required and not has_second_factor(user=actor):
        raise SecondFactorRequired(
            _("Set up two-factor sign-in for yourself first, then require it of your team.")
        )
    changed = (
        Workspace.objects.filter(pk=workspace.pk)
        .exclude(require_mfa=required)
        .update(require_mfa=required)
    )
    workspace.require_mfa = required
    if changed:
        # The project keeps no audit table for team settings (moderation's AuditEntry is for
        # moderators' actions); the log line records who changed it and when.
        logger.info(
            "two-factor requirement changed",
            extra={"workspace": workspace.public_id, "actor": actor.pk, "required": required},
        )
    return bool(changed)


# --- API tokens -------------------------------------------------------------------------------


def create_api_token(
    *,
    workspace: Workspace,
    user: User,
    name: str,
    scopes: list[str] | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiToken, str]:
    """A new token; returns (token, raw secret). The secret is not stored and cannot be shown
    again."""
    name = name.strip()
    if not name:
        raise AppError(_("Give the token a name."), field="name")
    scopes = list(scopes or ApiToken.SCOPES)
    unknown = sorted(set(scopes) - set(ApiToken.SCOPES))
    if unknown:
        raise AppError(
            _("Unknown scope: %(items)s.") % {"items": ", ".join(unknown)}, field="scopes"
        )
    if not Membership.objects.filter(workspace=workspace, user=user).exists():
        raise AppError(_("The token's user must be a member of the workspace."), field="user")
    prefix = secrets.token_hex(4)
    raw = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(30)}"
    token = ApiToken.objects.create(
        workspace=workspace,
        user=user,
        name=name[:100],
        prefix=prefix,
        token_hash=hash_token(raw),
        scopes=scopes,
        expires_at=expires_at,
    )
    return token, raw


def revoke_api_token(*, token: ApiToken) -> None:
    type(token).objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
