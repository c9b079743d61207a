"""Start-up checks: the operator's default model must be one the catalogue serves here."""

from typing import Any

from django.conf import settings
from django.core.checks import Warning, register
from django.db import DatabaseError

from .catalog import find_model, get_model


@register()
def default_model_is_served(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    wanted = settings.BANANASITE_DEFAULT_MODEL
    if not wanted:
        return []
    try:
        served, known = get_model(wanted), find_model(wanted)
    except DatabaseError:  # before `migrate` has made the catalogue's tables
        return []
    if served:
        return []
    why = "is shut down" if known else "is not in the catalogue or no configured provider has it"
    return [
        Warning(
            f"BANANASITE_DEFAULT_MODEL={wanted!r} {why}; the first served model is used instead.",
            id="bananasite.W101",
        )
    ]
