from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("compositions", "0013_schedule_upload_purge")]

    operations = [
        migrations.AddField(
            model_name="composition",
            name="model_options",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="composition",
            name="credits_per_search",
            field=models.PositiveSmallIntegerField(default=0),
        ),
    ]
