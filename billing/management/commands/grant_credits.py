from django.core.management.base import BaseCommand, CommandError

from bananasite.errors import AppError
from billing.models import Wallet
from billing.services import adjust_credits, grant_credits


class Command(BaseCommand):
    help = "Grant credits to a workspace (or take them away with a negative amount)."

    def add_arguments(self, parser):
        parser.add_argument("workspace", help="The workspace's slug.")
        parser.add_argument("amount", type=int)
        parser.add_argument("--reason", required=True, help="Recorded in the ledger.")

    def handle(self, *args, workspace, amount, reason, **options):
        # Through the wallet, not accounts' models: billing sits below accounts. Every
        # workspace has its wallet from the start (accounts opens it with the workspace).
        wallet = (
            Wallet.objects.select_related("workspace").filter(workspace__slug=workspace).first()
        )
        if wallet is None:
            raise CommandError(f"There is no workspace with the slug {workspace!r}.")
        try:
            if amount > 0:
                grant_credits(wallet=wallet, amount=amount, reason=reason)
            else:
                adjust_credits(wallet=wallet, amount=amount, reason=reason)
        except AppError as exc:
            raise CommandError(exc.message) from None
        wallet.refresh_from_db()
        self.stdout.write(
            f"{amount:+d} credits for {wallet.workspace.slug}: the balance is now {wallet.balance}."
        )
