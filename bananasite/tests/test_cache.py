"""The cache every process shares: Redis when configured, else a table in the database, which
`migrate` creates (local memory would give each worker process its own throttles and circuits)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
DATABASE_CACHE = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "bananasite_cache",
    }
}


def cache_settings(**env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "REDIS"))}
    clean.pop("DATABASE_URL", None)
    clean["DJANGO_SETTINGS_MODULE"] = "bananasite.settings"
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        "print(json.dumps(settings.CACHES['default']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def test_the_embedded_profile_caches_in_the_database_and_the_distributed_one_in_redis():
    embedded = cache_settings()
    assert embedded["BACKEND"] == "django.core.cache.backends.db.DatabaseCache"
    assert embedded["LOCATION"] == "bananasite_cache"
    distributed = cache_settings(REDIS_URL="redis://127.0.0.1:6379/0")
    assert distributed["BACKEND"] == "django.core.cache.backends.redis.RedisCache"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_migrate_creates_the_cache_table(settings):
    settings.CACHES = DATABASE_CACHE
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bananasite_cache")
    assert "bananasite_cache" not in connection.introspection.table_names()
    call_command("migrate", "bananasite", "zero", verbosity=0)
    call_command("migrate", "bananasite", verbosity=0)
    assert "bananasite_cache" in connection.introspection.table_names()
    cache.set("k", "v")
    assert cache.get("k") == "v"
