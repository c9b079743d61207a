"""`manage.py check --deploy` on a production environment: no warning with the defaults (HTTPS
only, HSTS), and each knob does what it says. Sign-ins ride on these: the session and CSRF
cookies are only as safe as the HTTPS they travel over.

The settings are read at start, so each case runs `manage.py` in a fresh process."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def operator_certificate(tmp_path_factory):
    """A certificate chain and key given as the operator's (BANANASITE_C2PA_CERT_CHAIN and
    _PRIVATE_KEY), as production must: made like the development one, named like an operator's."""
    from compositions.credentials import DEV_CHAIN, DEV_KEY, make_development_certificate

    directory = tmp_path_factory.mktemp("operator-c2pa")
    make_development_certificate(directory)
    return {
        "BANANASITE_C2PA_CERT_CHAIN": str(directory / DEV_CHAIN),
        "BANANASITE_C2PA_PRIVATE_KEY": str(directory / DEV_KEY),
        # A directory with no development certificate: only the operator's can sign.
        "BANANASITE_C2PA_DEV_DIR": str(directory / "no-dev-certificate"),
    }


def deploy_check(**env):
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "DJANGO_", "REDIS", "BANANASITE_", "SMTP_"))
    }
    clean.pop("DATABASE_URL", None)
    production = {
        "DJANGO_SETTINGS_MODULE": "bananasite.settings",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "bananasite.example.com",
        "SMTP_HOST": "smtp.example.com",
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**clean, **production, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_production_environment_passes_the_deploy_check_with_the_defaults(
    operator_certificate,
):
    result = deploy_check(**operator_certificate)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_without_a_signing_certificate_is_warned_about(tmp_path):
    result = deploy_check(BANANASITE_C2PA_DEV_DIR=str(tmp_path / "none"))
    assert result.returncode != 0 and "bananasite.W102" in result.stderr


@pytest.mark.parametrize(
    ("env", "warning"),
    [
        ({"BANANASITE_SSL_REDIRECT": "false"}, "security.W008"),
        ({"BANANASITE_HSTS_SECONDS": "0"}, "security.W004"),
    ],
)
def test_turning_https_protections_off_is_warned_about(env, warning, operator_certificate):
    result = deploy_check(**operator_certificate, **env)
    assert result.returncode != 0 and warning in result.stderr


def test_hsts_options_reach_the_settings():
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings as s; "
            "print(s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, "
            "s.SECURE_HSTS_PRELOAD, s.SECURE_SSL_REDIRECT)",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bananasite.settings",
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "BANANASITE_HSTS_SECONDS": "600",
            "BANANASITE_HSTS_INCLUDE_SUBDOMAINS": "true",
            "BANANASITE_HSTS_PRELOAD": "true",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.split() == ["600", "True", "True", "True"], result.stderr


def test_a_bad_value_stops_the_process_naming_the_variable():
    result = deploy_check(BANANASITE_HSTS_SECONDS="a year")
    assert result.returncode != 0
    assert "BANANASITE_HSTS_SECONDS must be a whole number" in result.stderr
