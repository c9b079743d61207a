"""Shared set-up for moderation tests: moderators, finished compositions, reports."""

import io

from django.core.management import call_command
from PIL import Image

from compositions.tasks import run_composition
from compositions.tests.factories import compose
from conftest import SAMPLES, give_totp
from moderation.models import Report
from moderation.services import create_report


def make_moderator(make_user, email="mod@example.com"):
    user = make_user(email)
    call_command("grant_moderator", email, stdout=io.StringIO())
    user.refresh_from_db()
    user.totp_secret = give_totp(user)  # moderators reach the queue only with two-factor
    return user


def finished(user, **options):
    """A composition run to the end by the local compositor, in this process."""
    composition = compose(user, **options)
    run_composition(composition.public_id)
    composition.refresh_from_db()
    assert composition.status == "succeeded", composition.error_message
    return composition


def report(reporter, target, reason=Report.Reason.SEXUAL, details=""):
    return create_report(
        reporter=reporter,
        workspace=reporter.current_workspace,
        target_type="result" if target.public_id.startswith("res_") else "upload",
        target_id=target.public_id,
        reason=reason,
        details=details,
    )


def cropped(sample: str, fraction: float = 0.06, fmt: str = "PNG") -> bytes:
    """The sample with a thin strip cut off: the same picture to a person, a few bits away in
    its perceptual hash."""
    img = Image.open(SAMPLES / sample).convert("RGB")
    img = img.crop((int(img.width * fraction), int(img.height * fraction), img.width, img.height))
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def reencoded(sample: str) -> bytes:
    """The sample smaller and as a low-quality JPEG: another file, the same hash."""
    img = Image.open(SAMPLES / sample).convert("RGB")
    img = img.resize((img.width * 3 // 4, img.height * 3 // 4))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=50)
    return buf.getvalue()
