"""The reference limits (how many objects and characters a model keeps faithful) become data,
so the composer's prompt linter reads them from the catalogue like every other limit."""

from django.db import migrations, models

from catalogue.seed import REFERENCE_LIMITS


def fill(apps, schema_editor):
    ImageModel = apps.get_model("catalogue", "ImageModel")
    for model in ImageModel.objects.filter(id__in=REFERENCE_LIMITS):
        if not model.reference_limits:
            model.reference_limits = REFERENCE_LIMITS[model.id]
            model.save(update_fields=["reference_limits"])


class Migration(migrations.Migration):
    dependencies = [("catalogue", "0002_seed")]

    operations = [
        migrations.AddField(
            model_name="imagemodel",
            name="reference_limits",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
