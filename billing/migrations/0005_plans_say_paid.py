"""Plans say whether they are paid: teams get the monthly grant only on a paid plan.

Every plan but the default one (Free) is marked paid, so Pro, Team and any plan an operator
added keep granting teams as before; teams on the default plan stop getting credits each month.
Personal workspaces keep their grant on every plan.
"""

from django.db import migrations, models


def mark_paid(apps, schema_editor):
    apps.get_model("billing", "Plan").objects.filter(is_default=False).update(is_paid=True)


class Migration(migrations.Migration):
    dependencies = [("billing", "0004_ledger_counts_images")]

    operations = [
        migrations.AddField(
            model_name="plan",
            name="is_paid",
            field=models.BooleanField(
                default=False,
                help_text="Bought, not given. Teams get the monthly grant only on a paid plan; "
                "personal workspaces get it on every plan. The default plan cannot be paid.",
            ),
        ),
        migrations.RunPython(mark_paid, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="plan",
            constraint=models.CheckConstraint(
                condition=models.Q(("is_default", False), ("is_paid", False), _connector="OR"),
                name="plan_default_not_paid",
            ),
        ),
    ]
