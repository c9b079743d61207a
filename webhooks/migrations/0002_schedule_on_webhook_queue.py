"""Retrying due deliveries is scheduled on the webhook queue's own cluster, not the main one."""

from typing import Any

from django.db import migrations

FUNC = "webhooks.tasks.deliver_due"
QUEUE = "webhooks"  # settings.BANANASITE_WEBHOOK_QUEUE, fixed here as a migration must be


def to_webhook_queue(apps: Any, schema_editor: Any) -> None:
    apps.get_model("django_q", "Schedule").objects.filter(func=FUNC).update(cluster=QUEUE)


def to_main_queue(apps: Any, schema_editor: Any) -> None:
    apps.get_model("django_q", "Schedule").objects.filter(func=FUNC).update(cluster=None)


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0001_initial"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(to_webhook_queue, to_main_queue)]
