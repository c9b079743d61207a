"""Bulk runs' tasks: thin, they take ids and are safe to run twice (rows are claimed)."""

from .models import Batch
from .services import start_next_row, sweep_batches


def start_next_row_task(batch_id: str) -> None:
    batch = (
        Batch.objects.select_related("version__template", "workspace", "created_by")
        .filter(public_id=batch_id)
        .first()
    )
    if batch is not None:
        start_next_row(batch=batch)


def sweep() -> int:
    """Scheduled every minute (migration 0002)."""
    return sweep_batches()
