import hashlib

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _

from bananasite.ids import PublicId


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra_fields)


class User(AbstractUser):
    """A person. The email address is the login; there is no username."""

    username = None  # type: ignore[assignment]  # no usernames: the email is the login
    first_name = None  # type: ignore[assignment]
    last_name = None  # type: ignore[assignment]
    email = models.EmailField("email address", unique=True)
    display_name = models.CharField(max_length=150, blank=True)
    current_workspace = models.ForeignKey(
        "accounts.Workspace", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    # Set by a moderator (moderation.services.suspend_account); a suspended account is also
    # inactive, so Django refuses its sessions and the admin, and allauth its logins.
    suspended_at = models.DateTimeField(null=True, blank=True)
    suspension_reason = models.TextField(blank=True)
    # Raised to sign the person out everywhere: it is part of every session's auth hash.
    session_epoch = models.PositiveIntegerField(default=0)

    objects = UserManager()  # type: ignore[misc, assignment]  # email logins, no username

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = []

    class Meta:
        constraints = [models.UniqueConstraint(Lower("email"), name="user_email_ci_unique")]

    def __str__(self):
        return self.email

    def get_full_name(self):
        return self.display_name or self.email

    def get_short_name(self):
        return self.display_name or self.email.split("@")[0]

    @property
    def is_suspended(self) -> bool:
        return self.suspended_at is not None

    def _session_hash(self, secret) -> str:
        if not self.session_epoch:  # the hash Django gives, so no one is signed out by upgrading
            return salted_hmac(
                "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash",
                self.password,
                secret=secret,
                algorithm="sha256",
            ).hexdigest()
        return salted_hmac(
            "accounts.User.get_session_auth_hash",
            f"{self.password}:{self.session_epoch}",
            secret=secret,
            algorithm="sha256",
        ).hexdigest()

    def get_session_auth_hash(self):
        return self._session_hash(settings.SECRET_KEY)

    def get_session_auth_fallback_hash(self):
        for fallback in settings.SECRET_KEY_FALLBACKS:
            yield self._session_hash(fallback)


class WorkspaceQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(memberships__user=user)

    def open(self):
        return self.filter(closed_at__isnull=True)


# How long a workspace may keep its compositions: forever (None) or 1 to this many days.
RETENTION_MAX_DAYS = 3650
RETENTION_CHOICES = [7, 30, 90, 365]


class Workspace(models.Model):
    """Who owns compositions, uploads and (later) credits, plans and tokens."""

    class Kind(models.TextChoices):
        PERSONAL = "personal", _("Personal")
        TEAM = "team", _("Team")

    public_id = models.CharField(max_length=32, unique=True, default=PublicId("ws"), editable=False)
    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=10, choices=Kind, default=Kind.PERSONAL)
    created_at = models.DateTimeField(auto_now_add=True)
    # Compositions (their results, inputs and uploads) older than this many days are purged
    # (`compositions.tasks.purge_expired_compositions`); empty keeps them forever.
    retention_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=_("Days compositions are kept; empty keeps them forever."),
    )
    # A workspace deleted with its owner's account: its content is gone and its name
    # anonymised, but the row stays because its wallet's ledger must (LedgerEntry.wallet is
    # PROTECT, the money rows are never deleted).
    closed_at = models.DateTimeField(null=True, blank=True)
    # A team's owner can require two-factor sign-in of every member: a member without an
    # authenticator is sent to set one up before reaching the team (accounts.middleware).
    # A database default too: rows written by code that predates the column (an older
    # migration's state, another process mid-deploy) get False, not a NOT NULL error.
    require_mfa = models.BooleanField(
        _("require two-factor sign-in"), default=False, db_default=False
    )

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(retention_days__isnull=True)
                | models.Q(retention_days__gte=1, retention_days__lte=RETENTION_MAX_DAYS),
                name="workspace_retention_days_in_bounds",
            )
        ]

    def __str__(self):
        return f"{self.name} ({self.slug})"

    @property
    def retention_label(self) -> str:
        if self.retention_days is None:
            return str(_("forever"))
        return str(_("%(days)d days") % {"days": self.retention_days})


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", _("Owner")
        ADMIN = "admin", _("Admin")
        MEMBER = "member", _("Member")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "user"], name="membership_unique")
        ]

    def __str__(self):
        return f"{self.user} in {self.workspace.slug} as {self.role}"

    @property
    def can_manage(self) -> bool:
        """Owners and admins manage members, invitations, tokens and webhooks."""
        return self.role in (self.Role.OWNER, self.Role.ADMIN)


class Invitation(models.Model):
    """An invitation to join a team, by email. Only a hash of the link's token is stored."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Membership.Role, default=Membership.Role.MEMBER)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.email} to {self.workspace.slug}"


TOKEN_PREFIX = "bns_"  # noqa: S105 (a prefix, not a secret)


def hash_token(raw: str) -> str:
    """Tokens are stored only as this hash; a lookup hashes what the caller sent."""
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=timezone.now())
        )


class ApiToken(models.Model):
    """A workspace's API token. The secret is shown once; only its SHA-256 is kept.

    SHA-256 rather than a slow password hash: the secret is 40 random characters, so there is
    nothing to brute-force, and every API request has to look the token up."""

    SCOPES = [
        "compositions:read",
        "compositions:write",
        "uploads:write",
        "reports:write",
        "usage:read",
        "webhooks:write",
    ]

    public_id = models.CharField(
        max_length=32, unique=True, default=PublicId("tok"), editable=False
    )
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="api_tokens")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    token_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes
