"""The `webhooks:write` scope joins the contract. A token created with no scopes was stored with
the whole list of its day, and "no scopes" keeps meaning every scope: such tokens gain the new
one. A token created with a chosen subset does not."""

from django.db import migrations

# The scopes before this migration, spelled out: the model's list keeps growing.
ALL_BEFORE = {
    "compositions:read",
    "compositions:write",
    "uploads:write",
    "reports:write",
    "usage:read",
}
NEW = "webhooks:write"


def add_to_all_scope_tokens(apps, schema_editor):
    ApiToken = apps.get_model("accounts", "ApiToken")
    for token in ApiToken.objects.only("pk", "scopes").iterator():
        scopes = list(token.scopes or [])
        if ALL_BEFORE <= set(scopes) and NEW not in scopes:
            ApiToken.objects.filter(pk=token.pk).update(scopes=[*scopes, NEW])


def remove_from_every_token(apps, schema_editor):
    ApiToken = apps.get_model("accounts", "ApiToken")
    for token in ApiToken.objects.only("pk", "scopes").iterator():
        if NEW in (token.scopes or []):
            ApiToken.objects.filter(pk=token.pk).update(
                scopes=[s for s in token.scopes if s != NEW]
            )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_suspension"),
    ]

    operations = [
        migrations.RunPython(add_to_all_scope_tokens, remove_from_every_token, elidable=True),
    ]
