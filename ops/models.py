from compositions.models import Composition


class OperationsOverview(Composition):
    """The operations page's place in the admin index (no table of its own): the last day per
    provider and the queue now, for staff."""

    class Meta:
        proxy = True
        verbose_name = verbose_name_plural = "operations overview"
