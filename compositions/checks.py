"""Start-up checks: the operator's default model must be one the catalogue serves here; results
must have a certificate to be signed with, and production a trusted one."""

from typing import Any

from django.conf import settings
from django.core.checks import Warning, register
from django.db import DatabaseError

from .catalog import find_model, get_model
from .credentials import SigningUnavailable, signing_key


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


@register()
def results_can_be_signed(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    try:
        key = signing_key()
    except SigningUnavailable as exc:
        return [
            Warning(
                f"Results will be stored without Content Credentials. {exc}", id="bananasite.W102"
            )
        ]
    if key.development and not settings.DEBUG:
        return [
            Warning(
                "Results are signed with the development C2PA certificate, which verifiers do not"
                " trust; set BANANASITE_C2PA_CERT_CHAIN and BANANASITE_C2PA_PRIVATE_KEY.",
                id="bananasite.W103",
            )
        ]
    return []
