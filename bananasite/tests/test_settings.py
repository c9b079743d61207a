"""Settings come from the environment, and bad values stop the process with a clear message."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRINT = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'storage': s.STORAGES['default'], 'db': s.DATABASES['default']['ENGINE'], "
    "'q': sorted(s.Q_CLUSTER), 'debug': s.DEBUG, 'cache': s.CACHES['default']['BACKEND']}))"
)


def load(**env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DJANGO_", "REDIS"))}
    clean.pop("DATABASE_URL", None)
    clean["DJANGO_SETTINGS_MODULE"] = "bananasite.settings"
    return subprocess.run(
        [sys.executable, "-c", PRINT],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_embedded_defaults():
    out = json.loads(load().stdout)
    assert out["storage"]["BACKEND"] == "django.core.files.storage.FileSystemStorage"
    assert out["storage"]["OPTIONS"]["base_url"] is None  # no public media URL
    assert out["db"] == "django.db.backends.sqlite3"
    assert "orm" in out["q"] and "redis" not in out["q"]
    assert out["debug"] is True


def test_distributed_profile_from_the_environment():
    out = json.loads(
        load(
            DATABASE_URL="postgres://u:p@127.0.0.1:5432/bananasite",
            REDIS_URL="redis://127.0.0.1:6379/0",
            AWS_STORAGE_BUCKET_NAME="media",
            AWS_S3_ENDPOINT_URL="http://127.0.0.1:9000",
            AWS_S3_ADDRESSING_STYLE="path",
        ).stdout
    )
    options = out["storage"]["OPTIONS"]
    assert out["storage"]["BACKEND"] == "storages.backends.s3.S3Storage"
    assert options["bucket_name"] == "media" and options["endpoint_url"] == "http://127.0.0.1:9000"
    assert options["querystring_auth"] is True and options["default_acl"] is None
    assert options["signature_version"] == "s3v4" and options["addressing_style"] == "path"
    assert out["db"] == "django.db.backends.postgresql"
    assert "redis" in out["q"] and "orm" not in out["q"]
    assert out["cache"].endswith("RedisCache")


def test_bad_values_fail_at_start_naming_the_variable():
    for env, message in [
        ({"DJANGO_DEBUG": "perhaps"}, "DJANGO_DEBUG must be true or false"),
        ({"BANANASITE_WORKERS": "two"}, "BANANASITE_WORKERS must be a whole number"),
        ({"DJANGO_DEBUG": "false"}, "DJANGO_SECRET_KEY must be set"),
        ({"DATABASE_URL": "mysql://x@y/z"}, "DATABASE_URL must point at SQLite or PostgreSQL"),
        ({"BANANASITE_EMAIL_VERIFICATION": "sometimes"}, "BANANASITE_EMAIL_VERIFICATION"),
    ]:
        result = load(**env)
        assert result.returncode != 0, env
        assert message in result.stderr, (env, result.stderr[-500:])
