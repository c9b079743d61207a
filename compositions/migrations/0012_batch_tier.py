"""The batch tier: a composition waiting in a provider's batch (status `batched`), and the
every-minute poll that ends those the provider has finished."""

from django.db import migrations, models

POLL = "compositions.tasks.poll_batches"


def schedule_poll(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        func=POLL,
        defaults={
            "name": "Poll batch compositions",
            "schedule_type": "I",  # minutes
            "minutes": 1,
            "repeats": -1,
        },
    )


def unschedule_poll(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(func=POLL).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("compositions", "0011_queue_position_index"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [
        migrations.AlterField(
            model_name="composition",
            name="status",
            field=models.CharField(
                choices=[
                    ("held", "Held for review"),
                    ("queued", "Queued"),
                    ("preparing", "Preparing"),
                    ("generating", "Generating"),
                    ("storing", "Storing"),
                    ("batched", "Waiting in the provider's batch"),
                    ("succeeded", "Succeeded"),
                    ("failed", "Failed"),
                    ("canceled", "Canceled"),
                ],
                default="queued",
                max_length=12,
            ),
        ),
        migrations.RunPython(schedule_poll, unschedule_poll),
    ]
