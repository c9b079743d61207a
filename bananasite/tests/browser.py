"""Shared pieces for browser tests: Debian's Chromium through Playwright (one browser per
session), signing a browser context in without the form, axe-core checks and screenshots kept
in artifacts/screenshots/ (CI keeps artifacts/).

Use from a test module with `from bananasite.tests.browser import *  # noqa: F403` (the
fixtures must be visible in the module) or import the names one by one."""

import os
from pathlib import Path
from typing import Any

from django.conf import settings

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # sync Playwright runs an event loop

SHOTS = Path(settings.BASE_DIR) / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"  # Debian's; Playwright's own browser downloads do not work here
# The browser's launch arguments are one session fixture in the root conftest.py, for every module.
PHONE = {"width": 390, "height": 844}
SMALL_PHONE = {"width": 360, "height": 780}
DESKTOP = {"width": 1366, "height": 900}
# axe-core impact levels that fail a test; "moderate" and "minor" are reported, not failed.
BLOCKING_IMPACTS = ("serious", "critical")

__all__ = [
    "BLOCKING_IMPACTS",
    "CHROMIUM",
    "DESKTOP",
    "PHONE",
    "SHOTS",
    "SMALL_PHONE",
    "axe_problems",
    "new_context",
    "overflow",
    "shot",
    "sign_in_context",
]


def new_context(browser: Any, viewport: dict[str, int], **kwargs: Any) -> Any:
    """A fresh context (own cookies) at this viewport; phones get touch and a phone's scale."""
    phone = viewport["width"] < 700
    return browser.new_context(
        viewport=viewport,
        device_scale_factor=2 if phone else 1,
        is_mobile=phone,
        has_touch=phone,
        **kwargs,
    )


def sign_in_context(context: Any, base_url: str, user: Any) -> None:
    """Sign the context in as `user` through a real session cookie (no form to fill)."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": base_url}]
    )


def shot(page: Any, name: str, *, full_page: bool = True) -> Path:
    """Save a screenshot to artifacts/screenshots/<name>.png and return its path."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def overflow(page: Any) -> str | None:
    """Why the page scrolls sideways (its widest offenders), or None when it does not.

    Compared with the viewport's width, not `innerWidth`: a phone (is_mobile) zooms out to fit
    wide content, and then `innerWidth` grows with the page and would hide the overflow."""
    return page.evaluate(
        """(width) => {
          const doc = document.documentElement;
          if (doc.scrollWidth <= width) return null;
          const wide = [...document.querySelectorAll("body *")]
            .filter((el) => el.getBoundingClientRect().right > width + 0.5)
            .filter((el) => !el.closest("[hidden]"))
            .slice(0, 5)
            .map((el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
                 (el.className && typeof el.className === "string"
                   ? "." + el.className.trim().split(/\\s+/).join(".") : ""));
          return `scrollWidth ${doc.scrollWidth} > viewport ${width}: ` + wide.join(", ");
        }""",
        page.viewport_size["width"],
    )


_AXE: Any = None


def axe_problems(page: Any, impacts: tuple[str, ...] = BLOCKING_IMPACTS) -> list[str]:
    """axe-core's violations of these impacts on the page as it is now, one line each."""
    global _AXE  # the script is read once per session
    if _AXE is None:
        from axe_playwright_python.sync_playwright import Axe

        _AXE = Axe()
    results = _AXE.run(page)
    problems = []
    for violation in results.response["violations"]:
        if violation.get("impact") not in impacts:
            continue
        targets = [" ".join(map(str, node["target"])) for node in violation["nodes"][:4]]
        problems.append(
            f"{violation['impact']} {violation['id']}: {violation['help']} ({'; '.join(targets)})"
        )
    return problems
