"""The database cache's table, for the embedded profile (no REDIS_URL): `migrate` makes it, so
throttles and the providers' circuit breakers are shared by every process with no extra step."""

from typing import Any

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps: Any, schema_editor: Any) -> None:
    # Creates a table for each DatabaseCache in CACHES, if missing; nothing with Redis.
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
