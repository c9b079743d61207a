
import bananasite.ids
import django.db.models.deletion
from django.db import migrations, models

from bananasite.migration_ops import move_content_types, rename_scheduled_task


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('accounts', '0003_suspension'),
        ('compositions', '0008_moderation'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('django_q', '0018_task_success_index'),
    ]

    operations = [
        # The table stays where the compositions app created it; only Django's idea of
        # which app owns the model changes.
        migrations.SeparateDatabaseAndState(
            state_operations=[
            migrations.CreateModel(
                name='Webhook',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('public_id', models.CharField(default=bananasite.ids.PublicId('wh'), editable=False, max_length=32, unique=True)),
                    ('url', models.URLField(max_length=500)),
                    ('events', models.JSONField(default=list)),
                    ('secret', models.CharField(max_length=100)),
                    ('created_at', models.DateTimeField(auto_now_add=True)),
                    ('workspace', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='webhooks', to='accounts.workspace')),
                ],
                options={
                    'db_table': 'compositions_webhook',
                    'ordering': ['created_at'],
                },
            ),
            migrations.CreateModel(
                name='WebhookDelivery',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('public_id', models.CharField(default=bananasite.ids.PublicId('msg'), editable=False, max_length=32, unique=True)),
                    ('event', models.CharField(max_length=40)),
                    ('payload', models.JSONField()),
                    ('status', models.CharField(choices=[('pending', 'Pending'), ('succeeded', 'Delivered'), ('failed', 'Failed')], default='pending', max_length=10)),
                    ('attempts', models.PositiveSmallIntegerField(default=0)),
                    ('next_attempt_at', models.DateTimeField(blank=True, null=True)),
                    ('last_status_code', models.PositiveSmallIntegerField(blank=True, null=True)),
                    ('last_error', models.CharField(blank=True, max_length=300)),
                    ('created_at', models.DateTimeField(auto_now_add=True)),
                    ('delivered_at', models.DateTimeField(blank=True, null=True)),
                    ('webhook', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='webhooks.webhook')),
                ],
                options={
                    'db_table': 'compositions_webhookdelivery',
                    'ordering': ['-created_at', '-id'],
                    'indexes': [models.Index(fields=['status', 'next_attempt_at'], name='delivery_due')],
                },
            ),
            ],
        ),
        move_content_types("compositions", "webhooks", ["webhook", "webhookdelivery"]),
        rename_scheduled_task("compositions.webhooks.deliver_due", "webhooks.tasks.deliver_due"),
    ]
