
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
                name='IdempotencyKey',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('key', models.CharField(max_length=255)),
                    ('fingerprint', models.CharField(max_length=64)),
                    ('response_status', models.PositiveSmallIntegerField(null=True)),
                    ('response_body', models.JSONField(null=True)),
                    ('created_at', models.DateTimeField(auto_now_add=True)),
                    ('workspace', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.workspace')),
                ],
                options={
                    'db_table': 'compositions_idempotencykey',
                    'indexes': [models.Index(fields=['created_at'], name='idempotency_created')],
                    'constraints': [models.UniqueConstraint(fields=('workspace', 'key'), name='idempotency_key_once')],
                },
            ),
            ],
        ),
        move_content_types("compositions", "api", ["idempotencykey"]),
        rename_scheduled_task(
            "compositions.tasks.purge_idempotency_keys", "api.tasks.purge_idempotency_keys"
        ),
    ]
