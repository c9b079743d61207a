from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.models import ApiToken, Membership, User, Workspace
from accounts.services import create_api_token
from bananasite.errors import AppError


class Command(BaseCommand):
    help = "Create an API token for a workspace and print it once."

    def add_arguments(self, parser):
        parser.add_argument("workspace", help="The workspace's slug.")
        parser.add_argument("--name", required=True)
        parser.add_argument(
            "--scopes", help=f"Comma-separated, from: {', '.join(ApiToken.SCOPES)}. Default: all."
        )
        parser.add_argument(
            "--user", help="Email of the member the token acts for (default: owner)."
        )
        parser.add_argument("--expires-in-days", type=int)

    def handle(self, *args, workspace, name, scopes, user, expires_in_days, **options):
        ws = Workspace.objects.filter(slug=workspace).first()
        if ws is None:
            raise CommandError(f"There is no workspace with the slug {workspace!r}.")
        if user:
            member = User.objects.filter(email__iexact=user).first()
            if member is None:
                raise CommandError(f"There is no user {user}.")
        else:
            owner = Membership.objects.filter(workspace=ws, role="owner").first()
            if owner is None:
                raise CommandError("The workspace has no owner; name a member with --user.")
            member = owner.user
        expires_at = None
        if expires_in_days is not None:
            if expires_in_days < 1:
                raise CommandError("--expires-in-days must be at least 1.")
            expires_at = timezone.now() + timedelta(days=expires_in_days)
        scope_list = [s.strip() for s in scopes.split(",") if s.strip()] if scopes else None
        try:
            token, raw = create_api_token(
                workspace=ws, user=member, name=name, scopes=scope_list, expires_at=expires_at
            )
        except AppError as exc:
            raise CommandError(exc.message) from None
        self.stderr.write(
            f"Token {token.name!r} for {ws.slug} ({', '.join(token.scopes)}). "
            "It is shown once; store it now."
        )
        self.stdout.write(raw)
