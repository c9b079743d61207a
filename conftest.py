"""Fixtures shared by every app's tests: people, workspaces, images, private storage."""

import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from bananasite.translations import compile_catalogues

SAMPLES = Path(__file__).resolve().parent / "samples"


@pytest.fixture(scope="session")
def browser_type_launch_args():
    """Every browser test's Chromium: Debian's (Playwright's downloads do not work here), one
    set of flags for the whole session, so no module's order decides how the browser starts."""
    return {
        "executable_path": "/usr/bin/chromium",
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
        ],
    }


@pytest.fixture(scope="session")
def c2pa_dev_dir(tmp_path_factory):
    """A development C2PA certificate for the session, so results are signed as in `make run`."""
    from compositions.credentials import make_development_certificate  # needs Django set up

    directory = tmp_path_factory.mktemp("c2pa")
    make_development_certificate(directory)
    return directory


@pytest.fixture(scope="session", autouse=True)
def _compiled_translations():
    """The German and Spanish catalogues as .mo, as `make translations` builds them at set-up
    (they are not committed), before any test asks for another language."""
    compile_catalogues()


@pytest.fixture(autouse=True)
def _isolated_storage(settings, tmp_path, c2pa_dev_dir):
    """Each test gets its own media directory, and tasks run inline unless a test says not."""
    media = tmp_path / "media"
    media.mkdir()
    settings.MEDIA_ROOT = media
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(media), "base_url": None},
        },
    }
    settings.BANANASITE_TASKS_SYNC = True
    settings.BANANASITE_C2PA_DEV_DIR = c2pa_dev_dir
    # Real hashing costs a third of a second per user; tests do not need that strength.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES["staticfiles"] = {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
    }
    return media


@pytest.fixture(autouse=True)
def _ledger_invariant(request):
    """After every test that touched the database: each balance equals its ledger's sum."""
    marker = request.node.get_closest_marker("django_db")
    uses_db = marker is not None or {"db", "transactional_db"} & set(request.fixturenames)
    if uses_db:
        transactional = marker is not None and marker.kwargs.get("transaction")
        request.getfixturevalue("transactional_db" if transactional else "db")
    if uses_db:
        _seed_catalogue()
    yield
    if uses_db:
        from django.db.models import Sum

        from billing.models import Wallet

        for wallet in Wallet.objects.annotate(total=Sum("entries__amount")):
            assert wallet.balance == (wallet.total or 0), (
                f"{wallet}: balance {wallet.balance} but the ledger sums to {wallet.total}"
            )
            assert wallet.balance >= 0


def _seed_catalogue():
    """The model catalogue is rows its data migration writes; a transactional test's flush
    empties the table, so write them again for the next test (catalogue/seed.py)."""
    from catalogue.models import ImageModel, ProviderModel
    from catalogue.seed import seed

    seed(ImageModel, ProviderModel)


@pytest.fixture(autouse=True)
def _fresh_cache(settings):
    """Rate limits and circuits live in the cache (Redis in the services run): start every test
    clean. Without Redis, a local-memory cache per test: the embedded profile's database cache
    would need the database in every test (bananasite/tests/test_cache.py covers that one)."""
    if not settings.REDIS_URL:
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def media_files(_isolated_storage):
    """A callable listing every file currently in storage."""

    def files():
        return sorted(p for p in _isolated_storage.rglob("*") if p.is_file())

    return files


@pytest.fixture
def make_user(db):
    from accounts.services import create_user

    def make(email="owner@example.com", password="correct horse battery"):  # noqa: S107
        return create_user(email=email, password=password)

    return make


def give_totp(user) -> str:
    """Give `user` an authenticator app, as if they had set one up; returns its secret. Staff
    and moderators need one to reach the admin (accounts.middleware)."""
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import generate_totp_secret

    secret = generate_totp_secret()
    Authenticator.objects.create(user=user, type=Authenticator.Type.TOTP, data={"secret": secret})
    return secret


def totp_code(secret: str, at: float | None = None, *, period: int = 30, digits: int = 6) -> str:
    """The code an authenticator app shows for `secret` at `at` (now by default): RFC 6238,
    HMAC-SHA1 over the 30-second step, written out here rather than borrowed from allauth."""
    import base64
    import hashlib
    import hmac
    import time

    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    step = int((time.time() if at is None else at) // period)
    digest = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


@pytest.fixture
def owner(make_user):
    return make_user("owner@example.com")


@pytest.fixture
def stranger(make_user):
    return make_user("stranger@example.com")


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def stranger_client(stranger):
    from django.test import Client

    other = Client()
    other.force_login(stranger)
    return other


def image_bytes(fmt="PNG", size=(64, 48), color=(200, 40, 40), mode="RGB", **save_args):
    img = Image.new(mode, size, color)
    buf = io.BytesIO()
    img.save(buf, fmt, **save_args)
    return buf.getvalue()


def sample_bytes(name):
    return (SAMPLES / name).read_bytes()


def png_header_only(width, height):
    """A PNG whose header claims width×height pixels, with a tiny body (a decompression bomb)."""

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def uploaded():
    """Build Django uploaded files: uploaded("a.png", data) or uploaded(sample="coffee.png")."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    def make(name=None, data=None, *, sample=None, content_type="image/png"):
        if sample:
            return SimpleUploadedFile(sample, sample_bytes(sample), content_type=content_type)
        return SimpleUploadedFile(name, data, content_type=content_type)

    return make


def database_url() -> str:
    """The test database as a DATABASE_URL, for processes started by a test."""
    from urllib.parse import quote

    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = quote(db["USER"] or "")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"])
    return f"postgres://{auth}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


class Worker:
    """A real `manage.py qcluster` on the test database and storage; its output goes to a log."""

    def __init__(self, media, log_path, extra_env=None):
        import os
        import subprocess
        import sys

        from django.conf import settings

        self.log_path = log_path
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "MEDIA_ROOT": str(media),
            "BANANASITE_WORKERS": "1",
            **(extra_env or {}),
        }
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "qcluster"],
                cwd=settings.BASE_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: `kill` takes every process
            )

    def kill(self):
        """SIGKILL the whole cluster (sentinel, workers, pusher, monitor) at once: a crash."""
        import os
        import signal

        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self):
        import contextlib
        import os
        import signal

        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):  # nothing of the cluster outlives the test
            os.killpg(self.process.pid, signal.SIGKILL)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


@pytest.fixture
def start_worker(settings, _isolated_storage, tmp_path):
    """Start a real worker with extra environment (provider keys, base URLs)."""
    settings.BANANASITE_TASKS_SYNC = False
    started = []

    def start(extra_env):
        log = tmp_path / f"qcluster-{len(started) + 1}.log"
        started.append(Worker(_isolated_storage, log, extra_env))
        return started[-1]

    yield start
    for one in started:
        one.stop()


@pytest.fixture
def worker(settings, _isolated_storage, tmp_path):
    """Start a real worker; tasks are then enqueued to the broker instead of run inline.

    Needs a test marked django_db(transaction=True), so that the worker sees committed rows."""
    settings.BANANASITE_TASKS_SYNC = False
    started = Worker(_isolated_storage, tmp_path / "qcluster.log")
    yield started
    started.stop()
