from contextlib import ExitStack
from pathlib import Path

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.test.utils import override_settings

from accounts.models import User
from accounts.services import create_user
from compositions.models import Composition
from compositions.options import CompositionOptions, NewImage
from compositions.services import create_composition

SAMPLES = Path(settings.BASE_DIR) / "samples"

DEMOS = [
    (
        ["astronaut.png", "rocket.jpg"],
        "product_in_scene",
        "The astronaut from image 1 standing in front of the launch pad at night from image 2.",
        "16:9",
    ),
    (
        ["coffee.png", "logo.png"],
        "logo_placement",
        "Print the logo from image 2 on the espresso cup in image 1, matching the warm light.",
        "1:1",
    ),
    (
        ["chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg"],
        "collage",
        "A cheerful collage of all four photos with even spacing.",
        "4:3",
    ),
    (
        ["chelsea.png", "rocket.jpg"],
        "thumbnail",
        'A bold video thumbnail: the cat from image 1 in front of image 2, titled "Cats in space".',
        "16:9",
    ),
]


class Command(BaseCommand):
    help = "Create a demo account with credits-free sample compositions made from samples/."

    def add_arguments(self, parser):
        parser.add_argument("--email", default="demo@bananasite.local")
        parser.add_argument("--password", default="banana-demo-2026")
        parser.add_argument(
            "--moderator",
            default="moderator@bananasite.local",
            help="Also a moderator account (same password) for the queue at /admin/; '' for none.",
        )

    def _account(self, email, password):
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            user = create_user(email=email, password=password)
            EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
        else:
            user.set_password(password)
            user.save(update_fields=["password"])
        return user

    def handle(self, *args, email, password, moderator, **options):
        user = self._account(email, password)
        if moderator:
            self._account(moderator, password)
            call_command("grant_moderator", moderator, stdout=self.stdout)
        workspace = user.current_workspace
        if not Composition.objects.filter(workspace=workspace).exists():
            # Run the demos inline so they are finished before the server starts.
            with override_settings(BANANASITE_TASKS_SYNC=True):
                for files, preset, prompt, ratio in DEMOS:
                    with ExitStack() as stack:
                        handles = [stack.enter_context(open(SAMPLES / n, "rb")) for n in files]
                        create_composition(
                            workspace=workspace,
                            user=user,
                            options=CompositionOptions(
                                prompt=prompt,
                                preset=preset,
                                model="local",
                                aspect_ratio=ratio,
                                image_size="1K",
                            ),
                            images=[
                                NewImage(name=name, fileobj=fh, size=None)
                                for name, fh in zip(files, handles, strict=True)
                            ],
                        )
            done = Composition.objects.filter(workspace=workspace, status="succeeded").count()
            self.stdout.write(f"Made {done} sample compositions.")
        self.stdout.write(self.style.SUCCESS(f"Demo account: {email}  password: {password}"))
        if moderator:
            self.stdout.write(
                self.style.SUCCESS(f"Moderator (at /admin/): {moderator}  password: {password}")
            )
