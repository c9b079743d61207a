"""Background work of the privacy app (django-q2): thin, taking ids."""

import logging

from . import services

logger = logging.getLogger(__name__)


def build_export(export_id: int) -> str:
    return services.build_export(export_id=export_id)


def purge_exports() -> int:
    """Scheduled hourly: exports past their download window lose their file."""
    gone = services.purge_exports()
    if gone:
        logger.info("Removed %d downloaded or expired exports from storage", gone)
    return gone
