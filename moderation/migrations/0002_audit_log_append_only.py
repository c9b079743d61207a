"""The database refuses changes to the audit log too, not only the model and the admin.

PostgreSQL (production) refuses UPDATE and DELETE. SQLite refuses UPDATE only: Django's test
flush empties tables with DELETE there (PostgreSQL uses TRUNCATE, which row triggers skip)."""

from django.db import migrations

POSTGRES = [
    """
    CREATE FUNCTION moderation_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'The audit log is append-only.';
    END $$;
    """,
    """
    CREATE TRIGGER moderation_audit_append_only BEFORE UPDATE OR DELETE
    ON moderation_auditentry FOR EACH ROW EXECUTE FUNCTION moderation_audit_append_only();
    """,
]
POSTGRES_REVERSE = [
    "DROP TRIGGER IF EXISTS moderation_audit_append_only ON moderation_auditentry;",
    "DROP FUNCTION IF EXISTS moderation_audit_append_only();",
]
SQLITE = [
    """
    CREATE TRIGGER moderation_audit_no_update BEFORE UPDATE ON moderation_auditentry
    BEGIN SELECT RAISE(ABORT, 'The audit log is append-only.'); END;
    """
]
SQLITE_REVERSE = ["DROP TRIGGER IF EXISTS moderation_audit_no_update;"]


def _run(statements):
    def run(apps, schema_editor):
        vendor = schema_editor.connection.vendor
        for sql in statements.get(vendor, []):
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("moderation", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"postgresql": POSTGRES, "sqlite": SQLITE}),
            _run({"postgresql": POSTGRES_REVERSE, "sqlite": SQLITE_REVERSE}),
        )
    ]
