"""Scheduled work on saved references (thin: the services do it)."""

from .services import purge_lapsed_references


def purge_lapsed_consents() -> int:
    """Hourly: the images of people whose consent expired or was withdrawn leave storage."""
    return purge_lapsed_references()
