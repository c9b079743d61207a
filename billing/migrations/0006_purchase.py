"""Purchases: what each Stripe Checkout Session sold, recorded when it is created, so the
webhook credits that and not whatever the pack costs by the time the payment arrives."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0005_plans_say_paid"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Purchase",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("session_id", models.CharField(max_length=255, unique=True)),
                (
                    "pack",
                    models.CharField(help_text="The pack's id when it was bought.", max_length=60),
                ),
                ("name", models.CharField(max_length=120)),
                ("credits", models.PositiveIntegerField()),
                (
                    "amount",
                    models.PositiveIntegerField(help_text="In the currency's smallest unit."),
                ),
                ("currency", models.CharField(max_length=3)),
                (
                    "status",
                    models.CharField(
                        choices=[("open", "Awaiting payment"), ("credited", "Credited")],
                        default="open",
                        max_length=10,
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("credited_at", models.DateTimeField(blank=True, null=True)),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "wallet",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="purchases",
                        to="billing.wallet",
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-id"],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("credits__gt", 0)), name="purchase_credits_positive"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("credited_at__isnull", True), ("status", "open")),
                            models.Q(("credited_at__isnull", False), ("status", "credited")),
                            _connector="OR",
                        ),
                        name="purchase_credited_at_matches_status",
                    ),
                ],
            },
        ),
    ]
