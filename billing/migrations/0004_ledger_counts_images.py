"""The ledger counts for itself: billing names compositions by public id only.

LedgerEntry loses its foreign key to compositions.Composition (whose SET_NULL was an UPDATE of
an append-only row) and gains `images` (reserve: asked for; capture: delivered) and `outcome`
(on the release row: how the composition ended). Existing rows are filled in from the
compositions tables, matched on `composition_ref`; rows of deleted compositions keep 0 / "".

Every schema change runs before the data change, in both directions: on PostgreSQL, updating
a foreign key column (created_by) queues deferred constraint checks, and ALTER TABLE on a table
with pending checks fails. The updates are single UPDATE ... SET col = (subquery) statements on
the historical models' plain managers, which do not go through the append-only guard. No
database trigger guards the ledger (only moderation's audit log has one), so nothing refuses
them.
"""

from django.db import migrations, models
from django.db.models import Count, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce

COMPOSITION_KINDS = ["reserve", "capture", "release"]
OUTCOMES = ["succeeded", "failed", "canceled"]


def backfill(apps, schema_editor):
    LedgerEntry = apps.get_model("billing", "LedgerEntry")
    Composition = apps.get_model("compositions", "Composition")
    Result = apps.get_model("compositions", "Result")
    entries = LedgerEntry._base_manager.all()
    composition = Composition._base_manager.filter(public_id=OuterRef("composition_ref"))
    number = models.PositiveIntegerField()

    entries.filter(kind="reserve").update(
        images=Coalesce(Subquery(composition.values("num_images")[:1]), 0, output_field=number)
    )
    # Every result it delivered, including those a moderator removed since: they were charged.
    delivered = (
        Result._base_manager.filter(composition__public_id=OuterRef("composition_ref"))
        .order_by()
        .values("composition")
        .annotate(n=Count("pk"))
        .values("n")
    )
    entries.filter(kind="capture").update(
        images=Coalesce(Subquery(delivered), 0, output_field=number)
    )
    entries.filter(kind="release").update(
        outcome=Coalesce(
            Subquery(composition.filter(status__in=OUTCOMES).values("status")[:1]),
            Value(""),
            output_field=models.CharField(),
        )
    )
    existing = Composition._base_manager.values("public_id")
    entries.filter(kind__in=COMPOSITION_KINDS, composition_ref__in=existing).update(
        created_by_id=Subquery(composition.values("created_by_id")[:1])
    )


def relink(apps, schema_editor):
    """Backwards: point the restored foreign key at the compositions that still exist."""
    LedgerEntry = apps.get_model("billing", "LedgerEntry")
    Composition = apps.get_model("compositions", "Composition")
    composition = Composition._base_manager.filter(public_id=OuterRef("composition_ref"))
    LedgerEntry._base_manager.exclude(composition_ref="").update(
        composition_id=Subquery(composition.values("pk")[:1])
    )


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0003_schedule_monthly_grants"),
        ("compositions", "0008_moderation"),
    ]

    operations = [
        # Backwards this runs last, once the foreign key is back.
        migrations.RunPython(migrations.RunPython.noop, relink),
        migrations.RemoveField(model_name="ledgerentry", name="composition"),
        migrations.AddField(
            model_name="ledgerentry",
            name="images",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="ledgerentry",
            name="outcome",
            field=models.CharField(
                blank=True,
                choices=[("succeeded", "Succeeded"), ("failed", "Failed"), ("canceled", "Canceled")],
                max_length=10,
            ),
        ),
        migrations.AddConstraint(
            model_name="ledgerentry",
            constraint=models.CheckConstraint(
                condition=models.Q(images=0) | models.Q(kind__in=["reserve", "capture"]),
                name="ledger_images_only_on_reserve_and_capture",
            ),
        ),
        migrations.AddConstraint(
            model_name="ledgerentry",
            constraint=models.CheckConstraint(
                condition=models.Q(outcome="") | models.Q(kind="release"),
                name="ledger_outcome_only_on_release",
            ),
        ),
        # Forwards this runs last, after every change to the table.
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
