from django.db import migrations, models

PURGE = "compositions.tasks.purge_expired_compositions"


def schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        func=PURGE,
        defaults={
            "name": "Purge compositions past their retention",
            "schedule_type": "H",  # hourly
            "repeats": -1,
        },
    )


def unschedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(func=PURGE).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("compositions", "0014_model_options"),
        ("accounts", "0005_workspace_retention"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="composition",
            name="keep_until",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(schedule, unschedule),
    ]
