
import bananasite.ids
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from bananasite.migration_ops import move_content_types


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0003_suspension'),
        ('compositions', '0008_moderation'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('moderation', '0002_audit_log_append_only'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # Reports move from compositions to moderation. The table stays where it is; only
        # Django's idea of which app owns the model changes.
        migrations.SeparateDatabaseAndState(
            state_operations=[
            migrations.CreateModel(
                name='Report',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('public_id', models.CharField(default=bananasite.ids.PublicId('rep'), editable=False, max_length=32, unique=True)),
                    ('target_type', models.CharField(choices=[('result', 'Result'), ('upload', 'Upload')], max_length=10)),
                    ('reason', models.CharField(choices=[('sexual', 'Sexual content'), ('minor_safety', 'Child safety'), ('violence', 'Violence'), ('hate', 'Hate'), ('harassment', 'Harassment'), ('self_harm', 'Self-harm'), ('illegal', 'Illegal content'), ('copyright', 'Copyright'), ('privacy', 'Privacy'), ('spam', 'Spam'), ('other', 'Other')], max_length=20)),
                    ('details', models.TextField(blank=True, max_length=2000)),
                    ('status', models.CharField(choices=[('open', 'Open'), ('dismissed', 'Dismissed'), ('actioned', 'Actioned')], default='open', max_length=10)),
                    ('created_at', models.DateTimeField(auto_now_add=True)),
                    ('resolved_at', models.DateTimeField(blank=True, null=True)),
                    ('reporter', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='reports', to=settings.AUTH_USER_MODEL)),
                    ('result', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='reports', to='compositions.result')),
                    ('upload', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='reports', to='compositions.upload')),
                    ('workspace', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='reports_made', to='accounts.workspace')),
                ],
                options={
                    'db_table': 'compositions_report',
                    'ordering': ['created_at'],
                },
            ),
            migrations.AddConstraint(
                model_name='report',
                constraint=models.CheckConstraint(condition=models.Q(models.Q(('result__isnull', False), ('target_type', 'result'), ('upload__isnull', True)), models.Q(('result__isnull', True), ('target_type', 'upload'), ('upload__isnull', False)), _connector='OR'), name='report_one_target'),
            ),
            migrations.AddConstraint(
                model_name='report',
                constraint=models.UniqueConstraint(condition=models.Q(('result__isnull', False), ('status', 'open')), fields=('reporter', 'result'), name='report_one_open_per_result'),
            ),
            migrations.AddConstraint(
                model_name='report',
                constraint=models.UniqueConstraint(condition=models.Q(('status', 'open'), ('upload__isnull', False)), fields=('reporter', 'upload'), name='report_one_open_per_upload'),
            ),
            ],
        ),
        move_content_types("compositions", "moderation", ["report"]),
        # The queue's proxy follows its model (a proxy has no table).
        migrations.DeleteModel(name="ModerationQueue"),
        migrations.CreateModel(
            name="ModerationQueue",
            fields=[],
            options={
                "verbose_name": "moderation queue",
                "verbose_name_plural": "moderation queue",
                "proxy": True,
                "indexes": [],
                "constraints": [],
            },
            bases=("moderation.report",),
        ),
        # Two proxies nothing used.
        migrations.DeleteModel(
            name='HeldComposition',
        ),
        migrations.DeleteModel(
            name='SuspendedAccount',
        ),
    ]
