from django.db import migrations

PURGE = "references.tasks.purge_lapsed_consents"


def schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        func=PURGE,
        defaults={
            "name": "Purge the images of people whose consent ended",
            "schedule_type": "H",  # hourly
            "repeats": -1,
        },
    )


def unschedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(func=PURGE).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("references", "0001_saved_references"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
