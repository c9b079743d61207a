from allauth.account.models import EmailAddress
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import transaction

from accounts.models import Membership, User, Workspace
from accounts.services import create_user
from billing.services import open_wallet


class Command(BaseCommand):
    help = "Create a verified user with a personal workspace; optionally add them to a team."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--password", help="Without it, the user must reset their password.")
        parser.add_argument("--team", help="Slug of a team workspace (created if absent).")
        parser.add_argument("--role", choices=Membership.Role.values, default="member")

    @transaction.atomic
    def handle(self, *args, email, password, team, role, **options):
        try:
            validate_email(email)
        except ValidationError:
            raise CommandError(f"{email!r} is not an email address.") from None
        if User.objects.filter(email__iexact=email).exists():
            raise CommandError(f"A user with the email {email} already exists.")
        user = create_user(email=email, password=password)
        EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
        personal = user.current_workspace
        self.stdout.write(f"Created user {user.email} with personal workspace {personal.slug}.")
        if team:
            workspace, created = Workspace.objects.get_or_create(
                slug=team, defaults={"name": team.replace("-", " ").title(), "kind": "team"}
            )
            open_wallet(workspace=workspace)
            if workspace.kind != Workspace.Kind.TEAM:
                raise CommandError(f"{team} is a personal workspace, not a team.")
            Membership.objects.create(workspace=workspace, user=user, role=role)
            verb = "Created team" if created else "Added to team"
            self.stdout.write(f"{verb} {workspace.slug} as {role}.")
