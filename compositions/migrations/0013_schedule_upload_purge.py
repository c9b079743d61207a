from django.db import migrations

PURGE = "compositions.tasks.purge_unused_uploads"


def schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        func=PURGE,
        defaults={
            "name": "Purge uploads never used as inputs",
            "schedule_type": "D",  # daily
            "repeats": -1,
        },
    )


def unschedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(func=PURGE).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("compositions", "0012_batch_tier"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
