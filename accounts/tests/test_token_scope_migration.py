"""`webhooks:write` joined the scopes: tokens created with every scope of their day gain it,
tokens created with a chosen subset do not."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from accounts.models import ApiToken

BEFORE = [("accounts", "0003_suspension")]
AFTER = [("accounts", "0004_apitoken_webhooks_scope")]
OLD_ALL = [
    "compositions:read",
    "compositions:write",
    "uploads:write",
    "reports:write",
    "usage:read",
]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


@pytest.fixture
def before():
    try:
        yield _migrate(BEFORE)
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_all_scope_tokens_gain_webhooks_write_and_subsets_do_not(before):
    apps = before
    user = apps.get_model("accounts", "User").objects.create(email="old@example.com")
    workspace = apps.get_model("accounts", "Workspace").objects.create(slug="old", name="Old")
    tokens = apps.get_model("accounts", "ApiToken").objects
    for name, scopes in (
        ("all", OLD_ALL),
        ("all-reordered", list(reversed(OLD_ALL))),
        ("subset", ["compositions:read", "usage:read"]),
        ("nearly-all", OLD_ALL[:-1]),
    ):
        tokens.create(
            workspace=workspace,
            user=user,
            name=name,
            prefix=name,
            token_hash=name.ljust(64, "0"),
            scopes=scopes,
        )

    _migrate(AFTER)

    scopes = dict(ApiToken.objects.values_list("name", "scopes"))
    assert scopes["all"] == [*OLD_ALL, "webhooks:write"]
    assert scopes["all-reordered"] == [*reversed(OLD_ALL), "webhooks:write"]
    assert scopes["subset"] == ["compositions:read", "usage:read"]
    assert scopes["nearly-all"] == OLD_ALL[:-1]

    _migrate(BEFORE)  # and back
    assert dict(apps.get_model("accounts", "ApiToken").objects.values_list("name", "scopes")) == {
        "all": OLD_ALL,
        "all-reordered": list(reversed(OLD_ALL)),
        "subset": ["compositions:read", "usage:read"],
        "nearly-all": OLD_ALL[:-1],
    }
