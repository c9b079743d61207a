"""bananasite settings: one file, every knob from the environment.

The defaults are the embedded profile (SQLite, file storage, django-q2's ORM broker, the local
compositor), so `manage.py runserver` works with nothing set. Every variable is documented in
`.env.example`. A malformed value stops the process at start with a message naming the variable.
"""

import ipaddress
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from bananasite.logs import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}.")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}.") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}.")
    return value


def env_float(name: str, default: float, *, minimum: float = 0) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {raw!r}.") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}.")
    return value


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


# --- Core -----------------------------------------------------------------------------------

DEBUG = env_bool("DJANGO_DEBUG", True)
SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off.")
    # Development only: a fixed key so sessions survive restarts of `make run`.
    SECRET_KEY = "dev-only-insecure-key-bananasite-do-not-use-in-production"

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "django_q",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "bananasite",
    "accounts",
    "billing",
    "catalogue",
    "compositions",
    "moderation",
    "webhooks",
    "sharing",
    "privacy",
    "references",
    "blueprints",
    "api",
    "ops",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files straight from the app server, in both profiles (gunicorn serves the embedded
    # one too); with DEBUG it finds them in the apps, without it in the collected manifest.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Request latency by view for /metrics (static files, served before it, are not counted).
    "ops.middleware.RequestMetricsMiddleware",
    "bananasite.middleware.RequestSizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The browser's Accept-Language chooses the language, unless the switcher set the cookie.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "accounts.middleware.CurrentWorkspaceMiddleware",
    # After the workspace is known: staff without two-factor are kept out of the admin, members
    # of a team that requires it out of the team, until they set it up.
    "accounts.middleware.TwoFactorRequiredMiddleware",
    "bananasite.middleware.AppErrorMiddleware",
]

ROOT_URLCONF = "bananasite.urls"
WSGI_APPLICATION = "bananasite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.workspace",
                "accounts.context_processors.two_factor",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
try:
    _db = dj_database_url.parse(DATABASE_URL)
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {exc}") from None
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL plus IMMEDIATE transactions: without them the ORM broker and the web process lose
    # writes to "database is locked" under bursts (ci-recipe.md).
    _db["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not memory, so a real qcluster process can share the test database; another
    # name lets two checkouts' suites run side by side.
    _db["TEST"] = {"NAME": env_str("BANANASITE_TEST_DB", str(BASE_DIR / "test-db.sqlite3"))}
elif _db["ENGINE"] == "django.db.backends.postgresql":
    # Without a persistent connection every enqueue opens one (ci-recipe.md).
    _db["CONN_MAX_AGE"] = env_int("DATABASE_CONN_MAX_AGE", 60)
    _db["CONN_HEALTH_CHECKS"] = True
else:
    raise ImproperlyConfigured("DATABASE_URL must point at SQLite or PostgreSQL.")
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ----------------------------------------------------------------------------------

REDIS_URL = env_str("REDIS_URL")
CACHES: dict[str, dict[str, object]]
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    # A table in the database (created by `migrate`), not local memory: throttles and the
    # providers' circuit breakers must be shared by the web process and every worker process.
    # Room for every key, so culling never forgets an open circuit.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "bananasite_cache",
            "OPTIONS": {"MAX_ENTRIES": 10_000},
        }
    }

# --- Accounts -------------------------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "compositions:compose"
ACCOUNT_LOGOUT_REDIRECT_URL = "compositions:home"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
_verification = env_str("BANANASITE_EMAIL_VERIFICATION", "optional").lower()
if _verification not in {"none", "optional", "mandatory"}:
    raise ImproperlyConfigured("BANANASITE_EMAIL_VERIFICATION must be none, optional or mandatory.")
ACCOUNT_EMAIL_VERIFICATION = _verification
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_LOGOUT_ON_GET = False

# Two-factor sign-in (allauth.mfa): an authenticator app (TOTP) with recovery codes, and
# passkeys / security keys (WebAuthn). Staff and moderators must have one to reach the admin; a
# team's owner can require one of every member (accounts.middleware).
MFA_ADAPTER = "accounts.adapter.MFAAdapter"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
# A passkey added as "passwordless" signs in on its own (it proves possession and the device's
# PIN or biometrics); the login page offers it beside the password.
MFA_PASSKEY_LOGIN_ENABLED = env_bool("BANANASITE_PASSKEY_LOGIN", True)
MFA_TOTP_ISSUER = "bananasite"
# WebAuthn binds a passkey to the relying party id, a domain: by default the host name of the
# request (so http://localhost:8000 works in development: browsers count localhost as secure,
# but 127.0.0.1 is not a valid id). In production set it to the registrable domain the site is
# served under (e.g. bananasite.example), and serve the site over HTTPS: a passkey made under
# one id never works under another, so choose it once.
BANANASITE_WEBAUTHN_RP_ID = env_str("BANANASITE_WEBAUTHN_RP_ID")
BANANASITE_WEBAUTHN_RP_NAME = env_str("BANANASITE_WEBAUTHN_RP_NAME", "bananasite")

# --- Mail -----------------------------------------------------------------------------------

DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "bananasite <no-reply@bananasite.local>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
_smtp_host = env_str("SMTP_HOST")
if _smtp_host:
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": _smtp_host,
                "port": env_int("SMTP_PORT", 587, minimum=1),
                "username": env_str("SMTP_USER"),
                "password": env_str("SMTP_PASSWORD"),
                "use_tls": env_bool("SMTP_USE_TLS", True),
                "timeout": 20,
            },
        }
    }
else:
    # Development: mail (verification, password reset) is printed to the console.
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}

# --- Internationalisation -------------------------------------------------------------------

# English is the default (and what a request without Accept-Language gets); German and Spanish
# catalogues live in locale/ and are compiled at set-up (`make messages` refreshes them).
LANGUAGE_CODE = "en"
LANGUAGES = [
    ("en", "English"),
    ("de", "Deutsch"),
    ("es", "Español"),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Dates the pages show ("Dec 3, 14:05" / "3. Dez., 14:05") as named formats per language.
FORMAT_MODULE_PATH = ["bananasite.formats"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files and storage ---------------------------------------------------------------

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles"))).resolve()
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media"))).resolve()

AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME")
if AWS_STORAGE_BUCKET_NAME:
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env_str("AWS_S3_ENDPOINT_URL") or None,
            "region_name": env_str("AWS_S3_REGION_NAME") or None,
            "access_key": env_str("AWS_ACCESS_KEY_ID") or None,
            "secret_key": env_str("AWS_SECRET_ACCESS_KEY") or None,
            "addressing_style": env_str("AWS_S3_ADDRESSING_STYLE") or None,
            "signature_version": "s3v4",
            # Private objects, reachable only through short-lived pre-signed URLs handed out by
            # the permission-checked views.
            "default_acl": None,
            "querystring_auth": True,
            "querystring_expire": env_int("BANANASITE_SIGNED_URL_SECONDS", 300, minimum=10),
            "file_overwrite": False,
        },
    }
else:
    # No base_url: files are never served from a public path, only through the views.
    _default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT), "base_url": None},
    }
STORAGES = {
    "default": _default_storage,
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Uploads --------------------------------------------------------------------------------

# A photo uploaded but never used as an input (a composer tab closed before Compose, an API
# upload never referenced) is deleted with its files after this many days.
BANANASITE_UNUSED_UPLOAD_DAYS = env_int("BANANASITE_UNUSED_UPLOAD_DAYS", 7, minimum=1)
# A workspace's data export (privacy app) can be downloaded once, within this many hours.
BANANASITE_EXPORT_HOURS = env_int("BANANASITE_EXPORT_HOURS", 24, minimum=1)
BANANASITE_MAX_UPLOAD_BYTES = env_int("BANANASITE_MAX_UPLOAD_BYTES", 25 * 1024 * 1024, minimum=1)
BANANASITE_MAX_REQUEST_BYTES = env_int(
    "BANANASITE_MAX_REQUEST_BYTES", 160 * 1024 * 1024, minimum=1024
)
BANANASITE_MAX_IMAGE_PIXELS = env_int("BANANASITE_MAX_IMAGE_PIXELS", 64_000_000, minimum=1)
# All the photos one request decodes, added up from their headers before any is decoded: 14
# phone photos of 12 MP (168 MP) pass, as do three photos at the per-photo limit (192 MP).
BANANASITE_MAX_REQUEST_PIXELS = env_int(
    "BANANASITE_MAX_REQUEST_PIXELS", 200_000_000, minimum=BANANASITE_MAX_IMAGE_PIXELS
)
BANANASITE_MAX_FRAMES = env_int("BANANASITE_MAX_FRAMES", 300, minimum=1)
# Words or phrases refused in prompts (matched after Unicode normalisation and case folding).
BANANASITE_BLOCKED_TERMS = env_list("BANANASITE_BLOCKED_TERMS")
BANANASITE_MIN_INPUT_IMAGES = 2
BANANASITE_MAX_INPUT_IMAGES = 14
BANANASITE_MAX_PROMPT_CHARS = 4000
# Anything larger goes to a temporary file rather than memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FILES = BANANASITE_MAX_INPUT_IMAGES + 10

# --- Moderation -----------------------------------------------------------------------------

# Words or phrases that do not refuse a prompt but hold its composition for a moderator.
BANANASITE_FLAGGED_TERMS = env_list("BANANASITE_FLAGGED_TERMS")
# Perceptual hashes (64 bits) of removed content: an upload within BLOCK_DISTANCE bits of one
# is refused; within HOLD_DISTANCE its composition waits for a moderator.
BANANASITE_HASH_BLOCK_DISTANCE = env_int("BANANASITE_HASH_BLOCK_DISTANCE", 4, minimum=0)
BANANASITE_HASH_HOLD_DISTANCE = env_int("BANANASITE_HASH_HOLD_DISTANCE", 12, minimum=0)
# A new account's first N compositions are held for review (0: none).
BANANASITE_HOLD_FIRST_COMPOSITIONS = env_int("BANANASITE_HOLD_FIRST_COMPOSITIONS", 0, minimum=0)
# This many provider refusals (safety blocks) within the window hold the account's new
# compositions (0: never).
BANANASITE_HOLD_AFTER_REFUSALS = env_int("BANANASITE_HOLD_AFTER_REFUSALS", 3, minimum=0)
BANANASITE_REFUSAL_WINDOW_HOURS = env_int("BANANASITE_REFUSAL_WINDOW_HOURS", 24, minimum=1)

# --- Compositions and the task queue --------------------------------------------------------

_default_model_env = env_str("BANANASITE_DEFAULT_MODEL")
# A worker holds a composition on a short lease that it renews (a heartbeat every
# BANANASITE_HEARTBEAT_SECONDS) while it lives; the sweep (every minute) re-queues a
# composition whose lease ran out, so a crashed worker's work restarts within about two minutes.
BANANASITE_LEASE_SECONDS = env_int("BANANASITE_LEASE_SECONDS", 60, minimum=10)
BANANASITE_HEARTBEAT_SECONDS = env_float(
    "BANANASITE_HEARTBEAT_SECONDS", BANANASITE_LEASE_SECONDS / 3, minimum=1
)
if BANANASITE_HEARTBEAT_SECONDS * 2 > BANANASITE_LEASE_SECONDS:
    raise ImproperlyConfigured(
        "BANANASITE_HEARTBEAT_SECONDS must be at most half of BANANASITE_LEASE_SECONDS, or a "
        "live worker's lease runs out between two heartbeats."
    )
# The hard wall-clock limit of one attempt's provider work: every route, retry and backoff.
BANANASITE_ATTEMPT_SECONDS = env_int("BANANASITE_ATTEMPT_SECONDS", 300, minimum=10)
BANANASITE_MAX_ATTEMPTS = env_int("BANANASITE_MAX_ATTEMPTS", 3, minimum=1)
# A queued composition no worker has picked up after this long is enqueued again (the Redis
# broker loses the tasks a killed worker had taken).
BANANASITE_REQUEUE_AFTER_SECONDS = env_int("BANANASITE_REQUEUE_AFTER_SECONDS", 90, minimum=30)
# Run tasks inline in the calling process (tests, debugging); never in production.
BANANASITE_TASKS_SYNC = env_bool("BANANASITE_TASKS_SYNC", False)

# POST /v1/images/edits (OpenAI-compatible) waits this long for its composition to end before
# answering 504 with the composition's id (the composition keeps running). The web server's own
# request timeout (gunicorn --timeout) must be longer.
BANANASITE_OPENAI_WAIT_SECONDS = env_float("BANANASITE_OPENAI_WAIT_SECONDS", 120, minimum=0)
# How many /v1/images/edits requests of one workspace may wait at once (each holds a thread).
BANANASITE_OPENAI_WAITS_PER_WORKSPACE = env_int(
    "BANANASITE_OPENAI_WAITS_PER_WORKSPACE", 2, minimum=1
)

# The batch tier (`"priority": "batch"`, the Gemini API's Batch Mode): each image's credits
# times this factor, rounded up (Google charges half the standard price), and the hours a
# batch may wait at the provider before it fails with `batch_expired` (credits released).
BANANASITE_BATCH_MAX_HOURS = env_int("BANANASITE_BATCH_MAX_HOURS", 24, minimum=1)

# The broker's own limits agree with the lease: a task runs at most its attempt plus time to
# prepare and store (then django-q2 kills it, the lease lapses and the sweep re-queues); a task
# is redelivered only after that (`retry`), and a redelivery finds nothing to claim.
_task_timeout = env_int("BANANASITE_TASK_TIMEOUT", BANANASITE_ATTEMPT_SECONDS + 120, minimum=30)
if _task_timeout <= BANANASITE_ATTEMPT_SECONDS:
    raise ImproperlyConfigured(
        "BANANASITE_TASK_TIMEOUT must exceed BANANASITE_ATTEMPT_SECONDS (the provider work "
        "plus time to prepare the inputs and store the results)."
    )
# Webhook deliveries run on a queue of their own, served by a cluster of their own
# (`Q_CLUSTER_NAME=webhooks manage.py qcluster`), so a slow endpoint never delays a composition.
BANANASITE_WEBHOOK_QUEUE = "webhooks"
BANANASITE_WEBHOOK_WORKERS = env_int("BANANASITE_WEBHOOK_WORKERS", 2, minimum=1)
# Seconds one delivery may take, from looking up the endpoint's name to its answer's last byte.
BANANASITE_WEBHOOK_TIMEOUT = env_int("BANANASITE_WEBHOOK_TIMEOUT", 10, minimum=1)
# Endpoints one workspace may register.
BANANASITE_WEBHOOK_LIMIT = env_int("BANANASITE_WEBHOOK_LIMIT", 10, minimum=1)
# Rows one bulk run of a template may have (each row is one composition).
BANANASITE_BATCH_MAX_ROWS = env_int("BANANASITE_BATCH_MAX_ROWS", 500, minimum=1)
Q_CLUSTER = {
    "name": "bananasite",
    "workers": env_int("BANANASITE_WORKERS", 2, minimum=1),
    "timeout": _task_timeout,
    # django-q2 requires retry > timeout, or tasks are delivered twice while still running.
    "retry": _task_timeout + 60,
    "max_attempts": 3,
    "save_limit": 500,
    "catch_up": False,
    "label": "Task queue",
    # What the webhooks cluster changes (django-q2 reads it when Q_CLUSTER_NAME names it).
    "ALT_CLUSTERS": {
        BANANASITE_WEBHOOK_QUEUE: {
            "workers": BANANASITE_WEBHOOK_WORKERS,
            "timeout": BANANASITE_WEBHOOK_TIMEOUT + 50,
            "retry": BANANASITE_WEBHOOK_TIMEOUT + 110,
        }
    },
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    # 50 ms instead of 200 ms between polls of an empty queue (ci-recipe.md).
    Q_CLUSTER["poll"] = 0.05

# --- Security -------------------------------------------------------------------------------

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    # The TLS-terminating proxy in front must set X-Forwarded-Proto (overwriting any the client
    # sent); without it every request looks like plain HTTP and the redirect below loops.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("BANANASITE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("BANANASITE_HSTS_SECONDS", 31_536_000)
    # Off by default: both reach beyond this site (every subdomain of its host; browsers'
    # built-in lists, slow to leave), so only the operator can choose them. Their deploy-check
    # warnings are silenced for that reason, not to hide a missing setting.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("BANANASITE_HSTS_INCLUDE_SUBDOMAINS", False)
    SECURE_HSTS_PRELOAD = env_bool("BANANASITE_HSTS_PRELOAD", False)
    SILENCED_SYSTEM_CHECKS = [
        *([] if SECURE_HSTS_INCLUDE_SUBDOMAINS else ["security.W005"]),
        *([] if SECURE_HSTS_PRELOAD else ["security.W021"]),
    ]

# --- Logging --------------------------------------------------------------------------------

# Plain text by default; BANANASITE_LOG_JSON=true writes one JSON object a line (for a log
# shipper). Either way a line written while a composition runs names it (`composition`).
BANANASITE_LOG_JSON = env_bool("BANANASITE_LOG_JSON", False)
LOGGING = logging_config(json=BANANASITE_LOG_JSON, level=env_str("LOG_LEVEL", "INFO").upper())

# --- Content Credentials (C2PA) -----------------------------------------------------------
# Every stored result is signed with a C2PA manifest. In production: the operator's certificate
# chain (PEM, the signing certificate first, then its intermediates) and its private key (PEM),
# from a CA whose roots verifiers trust. Unset, the development certificate that
# `manage.py make_dev_certificate` writes (`make run` does) under BANANASITE_C2PA_DEV_DIR signs
# instead: valid, but untrusted by verifiers such as contentcredentials.org.
BANANASITE_C2PA_CERT_CHAIN = env_str("BANANASITE_C2PA_CERT_CHAIN")
BANANASITE_C2PA_PRIVATE_KEY = env_str("BANANASITE_C2PA_PRIVATE_KEY")
if bool(BANANASITE_C2PA_CERT_CHAIN) != bool(BANANASITE_C2PA_PRIVATE_KEY):
    raise ImproperlyConfigured(
        "Set both BANANASITE_C2PA_CERT_CHAIN and BANANASITE_C2PA_PRIVATE_KEY, or neither."
    )
for _name in ("BANANASITE_C2PA_CERT_CHAIN", "BANANASITE_C2PA_PRIVATE_KEY"):
    if globals()[_name] and not Path(globals()[_name]).is_file():
        raise ImproperlyConfigured(f"{_name}: {globals()[_name]!r} is not a readable file.")
BANANASITE_C2PA_DEV_DIR = Path(
    env_str("BANANASITE_C2PA_DEV_DIR", str(BASE_DIR / "var" / "c2pa"))
).resolve()
# A time-stamp authority (RFC 3161) countersigns each signature, so it stays valid after the
# certificate expires. Empty: none, and signing needs no network.
BANANASITE_C2PA_TSA_URL = env_str("BANANASITE_C2PA_TSA_URL")
# Extra trust anchors (a PEM bundle of root certificates, e.g. the C2PA trust list) for reading
# credentials: a signer under one of them is reported as trusted.
BANANASITE_C2PA_TRUST_ANCHORS = env_str("BANANASITE_C2PA_TRUST_ANCHORS")
if BANANASITE_C2PA_TRUST_ANCHORS and not Path(BANANASITE_C2PA_TRUST_ANCHORS).is_file():
    raise ImproperlyConfigured(
        f"BANANASITE_C2PA_TRUST_ANCHORS: {BANANASITE_C2PA_TRUST_ANCHORS!r} is not a readable file."
    )
# Thumbnails of the result and of every input inside each result's manifest (verifiers show
# them). Off by default: on this (shared, loaded) machine they took a 12 MP result from 0.2-1 s to
# 2.4-3 s and added 400-500 KB to every result (benchmarks/c2pa_sign.py); the hashes
# identify the inputs without them.
BANANASITE_C2PA_THUMBNAILS = env_bool("BANANASITE_C2PA_THUMBNAILS", False)

# --- Providers --------------------------------------------------------------------------------
# A provider is configured when its key is set; base URLs default to the real hosts and exist so
# that tests can point the real clients at local fakes.
BANANASITE_PROVIDERS = {}
if env_str("GEMINI_API_KEY"):
    BANANASITE_PROVIDERS["gemini"] = {
        "api_key": env_str("GEMINI_API_KEY"),
        "base_url": env_str("GEMINI_BASE_URL"),
    }
if env_str("VERTEX_API_KEY") or env_str("VERTEX_ACCESS_TOKEN"):
    BANANASITE_PROVIDERS["vertex"] = {
        "api_key": env_str("VERTEX_API_KEY"),
        "access_token": env_str("VERTEX_ACCESS_TOKEN"),
        "project": env_str("VERTEX_PROJECT"),
        "location": env_str("VERTEX_LOCATION", "global"),
        "base_url": env_str("VERTEX_BASE_URL"),
    }
    if BANANASITE_PROVIDERS["vertex"]["access_token"] and not env_str("VERTEX_PROJECT"):
        raise ImproperlyConfigured("VERTEX_PROJECT is required with VERTEX_ACCESS_TOKEN.")
if env_str("OPENROUTER_API_KEY"):
    BANANASITE_PROVIDERS["openrouter"] = {
        "api_key": env_str("OPENROUTER_API_KEY"),
        "base_url": env_str("OPENROUTER_BASE_URL"),
        "site_url": env_str("OPENROUTER_SITE_URL"),
    }
if env_str("RUNWARE_API_KEY"):
    BANANASITE_PROVIDERS["runware"] = {
        "api_key": env_str("RUNWARE_API_KEY"),
        "base_url": env_str("RUNWARE_BASE_URL"),
    }
if env_str("AIMLAPI_API_KEY"):
    BANANASITE_PROVIDERS["aimlapi"] = {
        "api_key": env_str("AIMLAPI_API_KEY"),
        "base_url": env_str("AIMLAPI_BASE_URL"),
    }

# A provider's circuit opens after this many failed calls in a row (all processes count
# together, in the cache), and stays open this long before one probe call goes through.
BANANASITE_CIRCUIT_THRESHOLD = env_int("BANANASITE_CIRCUIT_THRESHOLD", 3, minimum=1)
BANANASITE_CIRCUIT_COOLDOWN_SECONDS = env_int("BANANASITE_CIRCUIT_COOLDOWN_SECONDS", 60, minimum=1)

# --- Models -----------------------------------------------------------------------------------
# The catalogue lives in the database (the `catalogue` app, edited in the admin; README "The model
# catalogue"): each model is served by the configured providers that have it, then the local
# compositor. BANANASITE_MODELS, when set to a list (bananasite/model_catalog.py builds one),
# replaces the database catalogue: tests use it to pin a catalogue.
BANANASITE_MODELS: list[dict] | None = None
# The default: the operator's choice, else the first model a configured provider serves.
BANANASITE_DEFAULT_MODEL = _default_model_env
# Health routing (compositions/routing.py): among the providers serving a model, each
# composition goes to the one with the lowest score, a weighted sum of its recent error rate
# (0-1), its p95 latency (in units of BANANASITE_ROUTING_LATENCY_SECONDS) and its price per image
# (relative to the dearest candidate), measured over the last BANANASITE_ROUTING_WINDOW_SECONDS.
BANANASITE_ROUTING_WEIGHTS = {
    "error_rate": env_float("BANANASITE_ROUTING_WEIGHT_ERRORS", 4.0),
    "latency": env_float("BANANASITE_ROUTING_WEIGHT_LATENCY", 1.0),
    "price": env_float("BANANASITE_ROUTING_WEIGHT_PRICE", 1.0),
}
BANANASITE_ROUTING_LATENCY_SECONDS = env_float("BANANASITE_ROUTING_LATENCY_SECONDS", 30.0)
BANANASITE_ROUTING_WINDOW_SECONDS = env_int("BANANASITE_ROUTING_WINDOW_SECONDS", 60, minimum=10)

# --- Payments (Stripe Checkout for credit packs) ---------------------------------------------
STRIPE_SECRET_KEY = env_str("STRIPE_SECRET_KEY")
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET")
STRIPE_API_BASE = env_str("STRIPE_API_BASE")  # tests point the real client at a local fake
STRIPE_CURRENCY = env_str("STRIPE_CURRENCY", "usd").lower()
# Credit packs are data: id, credits, price in the currency's smallest unit.
BANANASITE_CREDIT_PACKS = [
    {"id": "pack-100", "credits": 100, "amount": 500, "name": "100 credits"},
    {"id": "pack-500", "credits": 500, "amount": 2000, "name": "500 credits"},
    {"id": "pack-2000", "credits": 2000, "amount": 6000, "name": "2,000 credits"},
]

# --- REST API ---------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.auth.BearerTokenAuthentication",
        "api.auth.WorkspaceSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["api.auth.HasScope"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.TokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api": env_str("BANANASITE_API_RATE", "300/minute")},
    "EXCEPTION_HANDLER": "api.problems.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "bananasite API",
    "DESCRIPTION": "Compose images from photos with Nano Banana models. Errors are "
    "application/problem+json with a stable `code`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",  # served from this site, no CDN
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "InputRoleEnum": "compositions.models.Role",
        # Two choice sets named `kind`: a saved reference's and a region edit's.
        "ReferenceKindEnum": "references.models.Reference.Kind",
        "RegionKindEnum": "compositions.models.RegionEdit.Kind",
    },
}

# --- Fetching URLs given by users (image inputs, webhooks) -----------------------------------
BANANASITE_FETCH_ALLOW_NETWORKS = env_list("BANANASITE_FETCH_ALLOW_NETWORKS")
BANANASITE_FETCH_TIMEOUT = env_int("BANANASITE_FETCH_TIMEOUT", 15, minimum=1)
for _cidr in BANANASITE_FETCH_ALLOW_NETWORKS:
    try:
        import ipaddress as _ipaddress

        _ipaddress.ip_network(_cidr, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"BANANASITE_FETCH_ALLOW_NETWORKS: {_cidr!r} is not a network (CIDR)."
        ) from None

# --- Operations: metrics and health -----------------------------------------------------------
# /metrics answers only from these networks (CIDRs; loopback by default; `any` for every address,
# allowed only with a token) and, when the token is set, only with `Authorization: Bearer <it>`.
# Anything else gets the site's 404.
BANANASITE_METRICS_TOKEN = env_str("BANANASITE_METRICS_TOKEN")
_metrics_allow = env_list("BANANASITE_METRICS_ALLOW", "127.0.0.0/8,::1/128")
BANANASITE_METRICS_ALLOW: list[ipaddress.IPv4Network | ipaddress.IPv6Network] | None
if [item.lower() for item in _metrics_allow] == ["any"]:
    if not BANANASITE_METRICS_TOKEN:
        raise ImproperlyConfigured(
            "BANANASITE_METRICS_ALLOW=any needs BANANASITE_METRICS_TOKEN, or /metrics is public."
        )
    BANANASITE_METRICS_ALLOW = None
else:
    try:
        BANANASITE_METRICS_ALLOW = [ipaddress.ip_network(c, strict=False) for c in _metrics_allow]
    except ValueError as exc:
        raise ImproperlyConfigured(f"BANANASITE_METRICS_ALLOW: {exc}.") from None
# Seconds /readyz waits for the database, the broker and the storage (checked side by side).
# The database's figures on /metrics (whole-table counts) are computed at most once in this many
# seconds and shared through the cache by every process and scraper; 0 computes every scrape.
BANANASITE_METRICS_DB_SECONDS = env_int("BANANASITE_METRICS_DB_SECONDS", 10)
BANANASITE_READY_TIMEOUT = env_float("BANANASITE_READY_TIMEOUT", 2, minimum=0.1)
# Probes and scrapes come over plain HTTP from inside the network, not through the TLS proxy.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
