"""Reports, webhooks and Idempotency-Keys moved to their own apps without moving a table: a
database that holds them (and ledger rows about the same composition) keeps every row, every
link, its permissions and its schedules across the migrations, on SQLite and PostgreSQL."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django_q.models import Schedule

from api.models import IdempotencyKey
from billing.models import LedgerEntry
from moderation.models import Report
from webhooks.models import Webhook, WebhookDelivery

BEFORE = [
    ("compositions", "0008_moderation"),
    ("moderation", "0002_audit_log_append_only"),
    ("billing", "0003_schedule_monthly_grants"),
    ("api", None),
    ("webhooks", None),
]


def _latest(executor: MigrationExecutor) -> None:
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.fixture
def before_the_moves():
    executor = MigrationExecutor(connection)
    try:
        executor.migrate(BEFORE)
        executor.loader.build_graph()
        yield executor.loader.project_state([n for n in BEFORE if n[1]]).apps
    finally:
        _latest(MigrationExecutor(connection))


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_rows_links_permissions_and_schedules_survive_the_moves(before_the_moves):
    apps = before_the_moves
    user = apps.get_model("accounts", "User").objects.create(email="old@example.com")
    workspace = apps.get_model("accounts", "Workspace").objects.create(
        slug="old", name="Old", kind="team"
    )
    plan = apps.get_model("billing", "Plan").objects.create(
        code="old", name="Old", daily_images_per_member=9, monthly_images_per_workspace=9
    )
    wallet = apps.get_model("billing", "Wallet").objects.create(
        workspace=workspace, plan=plan, balance=5
    )
    composition = apps.get_model("compositions", "Composition").objects.create(
        public_id="cmp_old",
        workspace=workspace,
        created_by=user,
        prompt="p",
        model="local",
        provider="local",
        num_images=2,
        status="succeeded",
        credits_reserved=2,
    )
    upload = apps.get_model("compositions", "Upload").objects.create(
        public_id="up_old",
        workspace=workspace,
        file="ws/x/up.png",
        width=1,
        height=1,
        content_type="image/png",
        bytes=1,
        sha256="0" * 64,
    )
    result = apps.get_model("compositions", "Result").objects.create(
        public_id="res_old",
        composition=composition,
        position=1,
        file="ws/x/res.png",
        thumbnail="ws/x/res.webp",
        width=1,
        height=1,
        content_type="image/png",
        bytes=1,
        sha256="1" * 64,
    )
    old_report = apps.get_model("compositions", "Report")
    old_report.objects.create(
        public_id="rep_result",
        reporter=user,
        workspace=workspace,
        target_type="result",
        result=result,
        reason="spam",
        details="kept",
    )
    old_report.objects.create(
        public_id="rep_upload",
        reporter=user,
        workspace=workspace,
        target_type="upload",
        upload=upload,
        reason="privacy",
    )
    hook = apps.get_model("compositions", "Webhook").objects.create(
        public_id="wh_old",
        workspace=workspace,
        url="https://example.com/h",
        events=["x"],
        secret="s",
    )
    apps.get_model("compositions", "WebhookDelivery").objects.create(
        public_id="msg_old", webhook=hook, event="composition.succeeded", payload={"a": 1}
    )
    apps.get_model("compositions", "IdempotencyKey").objects.create(
        workspace=workspace, key="k1", fingerprint="f", response_status=202, response_body={"b": 2}
    )
    entries = apps.get_model("billing", "LedgerEntry").objects
    entries.create(wallet=wallet, kind="grant", amount=6, reference="old")  # the ledger sums to 5
    for kind, amount in (("reserve", -2), ("release", 2), ("capture", -1)):
        entries.create(
            wallet=wallet,
            kind=kind,
            amount=amount,
            composition=composition,
            composition_ref="cmp_old",
            created_by=user if kind == "reserve" else None,
        )
    # A group that holds the old "view report" permission keeps it.
    content_types = apps.get_model("contenttypes", "ContentType")
    report_type, _ = content_types.objects.get_or_create(app_label="compositions", model="report")
    view_report, _ = apps.get_model("auth", "Permission").objects.get_or_create(
        content_type=report_type, codename="view_report", defaults={"name": "Can view report"}
    )
    apps.get_model("auth", "Group").objects.create(name="Old readers").permissions.add(view_report)
    assert Schedule.objects.filter(func="compositions.webhooks.deliver_due").exists()

    _latest(MigrationExecutor(connection))

    reports = {r.public_id: r for r in Report.objects.select_related("result", "upload")}
    assert reports["rep_result"].result.public_id == "res_old"
    assert reports["rep_result"].details == "kept"
    assert reports["rep_upload"].upload.public_id == "up_old"
    delivery = WebhookDelivery.objects.select_related("webhook").get(public_id="msg_old")
    assert delivery.webhook == Webhook.objects.get(public_id="wh_old")
    assert delivery.payload == {"a": 1}
    key = IdempotencyKey.objects.get(key="k1")
    assert (key.response_status, key.response_body) == (202, {"b": 2})
    ledger = LedgerEntry.objects.filter(composition_ref="cmp_old")
    assert sorted(ledger.values_list("kind", "amount")) == [
        ("capture", -1),
        ("release", 2),
        ("reserve", -2),
    ]
    assert ledger.get(kind="reserve").images == 2  # backfilled from the composition

    moved = ContentType.objects.get_by_natural_key("moderation", "report")
    assert moved.pk == report_type.pk  # the same row, relabelled: permissions follow it
    assert Permission.objects.get(pk=view_report.pk).content_type == moved
    assert Group.objects.get(name="Old readers").permissions.filter(pk=view_report.pk).exists()
    assert not ContentType.objects.filter(app_label="compositions", model="report").exists()

    funcs = set(Schedule.objects.values_list("func", flat=True))
    assert {"webhooks.tasks.deliver_due", "api.tasks.purge_idempotency_keys"} <= funcs
    assert not funcs & {
        "compositions.webhooks.deliver_due",
        "compositions.tasks.purge_idempotency_keys",
    }
