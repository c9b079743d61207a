from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from compositions.credentials import make_development_certificate


class Command(BaseCommand):
    help = (
        "Create the development certificate that signs results' Content Credentials when no "
        "operator certificate is configured (idempotent; renewed 30 days before it expires)."
    )
    requires_system_checks: list[str] = []  # its own warning (no certificate) is what it fixes

    def handle(self, *args: Any, **options: Any) -> None:
        directory = Path(settings.BANANASITE_C2PA_DEV_DIR)
        if settings.BANANASITE_C2PA_CERT_CHAIN:
            self.stdout.write(
                "An operator certificate is configured (BANANASITE_C2PA_CERT_CHAIN); "
                "the development certificate is not used."
            )
            return
        if make_development_certificate(directory):
            self.stdout.write(
                self.style.SUCCESS(f"Development C2PA certificate written to {directory}.")
            )
        else:
            self.stdout.write(f"Development C2PA certificate in {directory} is current.")
