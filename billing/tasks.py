"""Scheduled billing work (django-q2)."""

import logging

from . import services

logger = logging.getLogger(__name__)


def grant_monthly_credits() -> int:
    """Runs hourly; each wallet still gets its grant only once per calendar month."""
    granted = services.grant_monthly_credits()
    if granted:
        logger.info("Granted monthly credits to %s workspaces", granted)
    return granted
