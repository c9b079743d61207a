from django.db import migrations


def seed(apps, schema_editor):
    from catalogue.seed import seed as write

    write(apps.get_model("catalogue", "ImageModel"), apps.get_model("catalogue", "ProviderModel"))


def unseed(apps, schema_editor):
    apps.get_model("catalogue", "ImageModel").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("catalogue", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
