from django.db import migrations


class Migration(migrations.Migration):
    """Reports, Idempotency-Keys and webhooks now belong to moderation, api and webhooks. Their
    tables stay; this only takes the models out of compositions' state, after the new apps
    have taken them in."""

    dependencies = [
        ("compositions", "0008_moderation"),
        ("api", "0001_initial"),
        ("moderation", "0003_reports_move_here"),
        ("webhooks", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="IdempotencyKey"),
                migrations.DeleteModel(name="Report"),
                migrations.DeleteModel(name="WebhookDelivery"),
                migrations.DeleteModel(name="Webhook"),
            ],
        ),
    ]
