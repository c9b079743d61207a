"""The check behind `scripts/run-production --check`: the quick start's flow against a running
profile, from outside. Signs the demo account in through the login form, serves a static file
(WhiteNoise, hashed name), composes two samples with the local compositor through the API and
downloads the result (a redirect to a signed URL of the S3 stand-in). Exits non-zero, saying
which step failed, on the first problem.

Run with the profile's environment (it creates a short-lived API token in its database):
    PROBE_URL=http://127.0.0.1:8001 .venv/bin/python scripts/lib/probe.py
"""

import os
import re
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
DEMO_EMAIL, DEMO_PASSWORD = "demo@bananasite.local", "banana-demo-2026"


def fail(step: str, detail: object) -> None:
    sys.exit(f"production check failed at {step}: {detail}")


def demo_token() -> str:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bananasite.settings")
    import django

    django.setup()
    from django.utils import timezone

    from accounts.models import User
    from accounts.services import create_api_token

    user = User.objects.get(email=DEMO_EMAIL)
    _token, raw = create_api_token(
        workspace=user.current_workspace,
        user=user,
        name="production check",
        scopes=None,
        expires_at=timezone.now() + timedelta(days=1),
    )
    return raw


def main() -> None:
    base = os.environ["PROBE_URL"].rstrip("/")
    with httpx.Client(base_url=base, timeout=30) as browser:
        page = browser.get("/accounts/login/")
        csrf = browser.cookies.get("csrftoken")
        if page.status_code != 200 or not csrf:
            fail("the login page", page.status_code)
        signed_in = browser.post(
            "/accounts/login/",
            data={"login": DEMO_EMAIL, "password": DEMO_PASSWORD, "csrfmiddlewaretoken": csrf},
            headers={"Referer": f"{base}/accounts/login/"},
        )
        if signed_in.status_code != 302:
            fail("signing in", signed_in.status_code)
        compose_page = browser.get(signed_in.headers["location"])
        if compose_page.status_code != 200:
            fail("the compose page", compose_page.status_code)
        css = re.search(r'href="(/static/css/site\.[0-9a-f]{12}\.css)"', compose_page.text)
        if not css or browser.get(css.group(1)).status_code != 200:
            fail("static files through WhiteNoise", css and css.group(1))

    token = demo_token()
    with httpx.Client(
        base_url=f"{base}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=60
    ) as api:
        uploads = []
        for name in ("astronaut.png", "rocket.jpg"):
            with (ROOT / "samples" / name).open("rb") as photo:
                answer = api.post("/uploads", files={"file": photo})
            if answer.status_code != 201:
                fail("uploading a photo", answer.text)
            uploads.append(answer.json()["id"])
        answer = api.post(
            "/compositions",
            json={
                "prompt": "The astronaut from image 1 in front of the launch pad in image 2",
                "model": "local",
                "inputs": [{"upload": uploads[0]}, {"upload": uploads[1]}],
            },
        )
        if answer.status_code != 202:
            fail("submitting a composition", answer.text)
        composition = answer.json()
        deadline = time.monotonic() + 120
        while composition["status"] not in ("succeeded", "failed", "canceled"):
            if time.monotonic() > deadline:
                fail("waiting for the worker", composition["status"])
            time.sleep(0.5)
            composition = api.get(f"/compositions/{composition['id']}").json()
        if composition["status"] != "succeeded":
            fail("composing", composition.get("error"))
        image = api.get(composition["results"][0]["url"])
        if image.status_code != 302 or not image.headers["location"].startswith(
            os.environ["AWS_S3_ENDPOINT_URL"]
        ):
            fail("the result's signed URL", image.status_code)
        data = httpx.get(image.headers["location"], timeout=30)
        if data.status_code != 200 or len(data.content) < 1000:
            fail("downloading the result from S3", data.status_code)
    print(
        f"production check passed: signed in, composed {composition['id']}, "
        f"{len(data.content)} bytes from S3"
    )


if __name__ == "__main__":
    main()
