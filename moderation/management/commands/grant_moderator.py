from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from moderation.apps import MODERATORS_GROUP


class Command(BaseCommand):
    help = "Let an account work the moderation queue in the admin (staff + the Moderators group)."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--revoke", action="store_true", help="Take the role away again.")

    def handle(self, email, revoke=False, **options):
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            raise CommandError(f"No account with the address {email}.")
        group = Group.objects.get(name=MODERATORS_GROUP)
        if revoke:
            user.groups.remove(group)
            if not user.is_superuser and not user.groups.exists():
                user.is_staff = False
                user.save(update_fields=["is_staff"])
            self.stdout.write(f"{user.email} is no longer a moderator.")
            return
        user.is_staff = True
        user.save(update_fields=["is_staff"])
        user.groups.add(group)
        self.stdout.write(f"{user.email} can now work the moderation queue at /admin/.")
