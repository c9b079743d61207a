"""Rows that are written once and never changed: the credit ledger and the audit log."""

from django.db import models


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise ValueError(self.model.append_only_message)

    def delete(self):
        raise ValueError(self.model.append_only_message)


class AppendOnlyModel(models.Model):
    """Saving a row a second time, or deleting it, raises. (Cascades from a deleted parent run
    as SQL, not through these methods; the database decides those.)"""

    append_only_message = "These records are append-only."

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError(self.append_only_message)
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError(self.append_only_message)
