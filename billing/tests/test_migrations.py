"""Migration 0004 fills the ledger's new columns from the compositions it was written about."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = ("billing", "0003_schedule_monthly_grants")
AFTER = ("billing", "0004_ledger_counts_images")


def migrate(to_billing):
    """Every app at its latest migration, billing at `to_billing`; the state's models."""
    executor = MigrationExecutor(connection)
    targets = [n for n in executor.loader.graph.leaf_nodes() if n[0] != "billing"]
    targets.append(to_billing)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


def latest():
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.fixture
def at_0003():
    try:
        yield migrate(BEFORE)
    finally:
        latest()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_0004_backfills_images_outcomes_and_authors_and_0003_gets_its_links_back(at_0003):
    apps = at_0003
    User = apps.get_model("accounts", "User")
    Workspace = apps.get_model("accounts", "Workspace")
    Plan = apps.get_model("billing", "Plan")
    Wallet = apps.get_model("billing", "Wallet")
    LedgerEntry = apps.get_model("billing", "LedgerEntry")
    Composition = apps.get_model("compositions", "Composition")
    Result = apps.get_model("compositions", "Result")

    alice = User.objects.create(email="alice@example.com")
    bob = User.objects.create(email="bob@example.com")
    workspace = Workspace.objects.create(slug="mig", name="Migration", kind="team")
    plan = Plan.objects.create(
        code="mig", name="Mig", daily_images_per_member=10, monthly_images_per_workspace=10
    )
    wallet = Wallet.objects.create(workspace=workspace, plan=plan, balance=0)
    LedgerEntry.objects.create(wallet=wallet, kind="grant", amount=50, reference="signup:mig")

    def composition(ref, status, num_images, by=alice):
        return Composition.objects.create(
            public_id=ref,
            workspace=workspace,
            created_by=by,
            prompt="p",
            model="local",
            provider="local",
            num_images=num_images,
            status=status,
        )

    def entry(ref, kind, amount, made=None, by=None):
        LedgerEntry.objects.create(
            wallet=wallet,
            kind=kind,
            amount=amount,
            composition=made,
            composition_ref=ref,
            created_by=by,
        )

    done = composition("cmp_done", "succeeded", 3)
    for position, removed in ((1, None), (2, "2026-11-20T10:00:00Z")):
        Result.all_objects.create(
            composition=done,
            position=position,
            width=1,
            height=1,
            content_type="image/png",
            bytes=1,
            sha256="0" * 64,
            removed_at=removed,  # removed by a moderator later: it was still delivered
        )
    failed = composition("cmp_failed", "failed", 2)
    canceled = composition("cmp_canceled", "canceled", 4, by=bob)
    running = composition("cmp_running", "generating", 1)
    for ref, made, held, charge in (
        ("cmp_done", done, 3, 2),
        ("cmp_failed", failed, 2, None),
        ("cmp_canceled", canceled, 4, None),
        ("cmp_running", running, 1, None),
        ("cmp_gone", None, 2, 2),  # deleted since: the foreign key was set to NULL
    ):
        entry(ref, "reserve", -held, made, by=bob if ref in ("cmp_canceled", "cmp_gone") else alice)
        if ref != "cmp_running":
            entry(ref, "release", held, made)
        if charge is not None:
            entry(ref, "capture", -charge, made)
    Wallet.objects.filter(pk=wallet.pk).update(balance=50 - 2 - 1 - 2)

    apps = migrate(AFTER)
    LedgerEntry = apps.get_model("billing", "LedgerEntry")
    assert "composition" not in {f.name for f in LedgerEntry._meta.get_fields()}
    filled = {
        (e.composition_ref, e.kind): (e.images, e.outcome, e.created_by_id)
        for e in LedgerEntry.objects.exclude(composition_ref="")
    }
    assert filled == {
        ("cmp_done", "reserve"): (3, "", alice.pk),
        ("cmp_done", "release"): (0, "succeeded", alice.pk),
        ("cmp_done", "capture"): (2, "", alice.pk),
        ("cmp_failed", "reserve"): (2, "", alice.pk),
        ("cmp_failed", "release"): (0, "failed", alice.pk),
        ("cmp_canceled", "reserve"): (4, "", bob.pk),
        ("cmp_canceled", "release"): (0, "canceled", bob.pk),
        ("cmp_running", "reserve"): (1, "", alice.pk),
        ("cmp_gone", "reserve"): (0, "", bob.pk),
        ("cmp_gone", "release"): (0, "", None),
        ("cmp_gone", "capture"): (0, "", None),
    }
    grant = LedgerEntry.objects.get(kind="grant")
    assert (grant.images, grant.outcome) == (0, "")

    # Backwards, the foreign key points at the compositions that still exist.
    apps = migrate(BEFORE)
    LedgerEntry = apps.get_model("billing", "LedgerEntry")
    links = dict(
        LedgerEntry.objects.filter(kind="reserve").values_list("composition_ref", "composition")
    )
    assert links == {
        "cmp_done": done.pk,
        "cmp_failed": failed.pk,
        "cmp_canceled": canceled.pk,
        "cmp_running": running.pk,
        "cmp_gone": None,
    }
