"""The main pages in German, as a browser set to German sees them (Chromium's locale de-DE,
so its Accept-Language): German words where a person reads and acts (headings, navigation,
buttons, labels, the scripts' messages), none of the English ones left, and German's longer
words fit a phone without scrolling sideways. Screenshots in artifacts/screenshots/.
Then the footer's switcher turns the site Spanish, on a phone."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.urls import reverse

from bananasite.tests.browser import DESKTOP, PHONE, new_context, overflow, shot, sign_in_context
from bananasite.tests.test_browser_pages import Site, site  # noqa: F401  # the fixture

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

# Where words a person reads and acts on live; user content (prompts, names) is not in these.
UI = ".account a, h1, h2, h3, nav a, button, label, legend, summary, th, .hint, .stat-label"
# English UI words that must not be left as they are on a German page (each an element's
# whole text: a German sentence may well quote "image 1").
ENGLISH = {
    "Compose", "History", "Credits and usage", "Workspace", "Sign in", "Sign up", "Sign out",
    "Skip to content", "Menu", "Language", "Change", "Photos", "Choose photos", "Preset",
    "Style", "Model", "Aspect ratio", "Image size", "Number of images", "Results", "Inputs",
    "Download", "Full view", "Use as input", "Delete", "Cancel", "Variations", "Compare",
    "Lineage", "Search", "Any", "From", "To", "Collection", "Balance", "Plan", "Buy credits",
    "Members", "Email", "Role", "Since", "Actions", "API tokens", "Create token", "New team",
    "Create team", "Add endpoint", "Password", "Remember Me", "Share…", "Report",
    "Send report", "New composition", "Keep and share", "Add", "Remove", "Revoke",
}  # fmt: skip


@dataclass(frozen=True)
class GermanPage:
    name: str
    path: str | Callable[[Site], str]
    signed_in: bool
    says: tuple[str, ...]  # German words that must be on the page

    def url(self, where: Site) -> str:
        return self.path(where) if callable(self.path) else self.path


PAGES = [
    GermanPage(
        "home",
        "/",
        False,
        ("Kombinieren Sie Ihre Fotos zu einem Bild.", "Konto anlegen", "Die Reihenfolge zählt"),
    ),
    GermanPage(
        "sign-in", "/accounts/login/", False, ("Anmelden", "Passwort", "Neu bei bananasite?")
    ),
    GermanPage("sign-up", "/accounts/signup/", False, ("Konto anlegen", "Registrieren")),
    GermanPage(
        "compose",
        "/compose/",
        True,
        # "Noch keine Fotos." is written by static/js/composer.js from the JavaScript catalogue.
        ("Komponieren", "Fotos auswählen", "Vorlage", "Seitenverhältnis", "Noch keine Fotos."),
    ),
    GermanPage(
        "composition",
        lambda s: s.composition.get_absolute_url(),
        True,
        ("Ergebnisse", "Eingaben", "Herunterladen", "Als Eingabe verwenden", "Vergleichen"),
    ),
    GermanPage(
        "history",
        "/history/",
        True,
        ("Verlauf", "Neue Komposition", "Erfolgreich", "Nur meine Favoriten"),
    ),
    GermanPage(
        "usage",
        "/billing/usage/",
        True,
        ("Credits und Nutzung", "Guthaben", "Letzte 30 Tage", "Was jede Komposition gekostet hat"),
    ),
    GermanPage(
        "workspace",
        "/workspace/",
        True,
        ("Mitglieder", "Jemanden einladen", "API-Tokens", "Neues Team", "Letzte Zustellungen"),
    ),
    GermanPage(
        "invitation",
        lambda s: reverse("accounts:invitation", args=[s.invitation_token]),
        False,
        ("Konto anlegen und annehmen", "Ich habe bereits ein Konto"),
    ),
    GermanPage(
        "collections", "/sharing/", True, ("Sammlungen und geteilte Links", "Geteilte Links")
    ),
]


def _english_left(page: Any) -> list[str]:
    texts = page.eval_on_selector_all(
        UI,
        "els => els.filter(e => e.offsetParent !== null)"
        ".map(e => e.innerText.replace(/\\s+/g, ' ').trim())",
    )
    return sorted({t for t in texts if t in ENGLISH})


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=lambda v: str(v["width"]))
def test_the_main_pages_read_in_german_and_fit(browser, live_server, site, viewport):  # noqa: F811
    from playwright.sync_api import expect

    problems = []
    contexts = {}
    for signed_in in (False, True):
        contexts[signed_in] = new_context(browser, viewport, locale="de-DE")
        if signed_in:
            sign_in_context(contexts[signed_in], live_server.url, site.owner)
    tabs = {signed_in: context.new_page() for signed_in, context in contexts.items()}
    try:
        for spec in PAGES:
            page = tabs[spec.signed_in]
            response = page.goto(live_server.url + spec.url(site))
            assert response is not None and response.status == 200, spec.name
            expect(page.locator("html")).to_have_attribute("lang", "de")
            body = page.locator("body")
            for words in spec.says:
                try:
                    expect(body).to_contain_text(words, timeout=3000)
                except AssertionError:
                    problems.append(f"{spec.name}: no “{words}”")
            if left := _english_left(page):
                problems.append(f"{spec.name}: English left: {left}")
            if why := overflow(page):
                problems.append(f"{spec.name} at {viewport['width']} px scrolls sideways: {why}")
            shot(page, f"de-{spec.name}-{viewport['width']}")
    finally:
        for context in contexts.values():
            context.close()
    assert not problems, "\n".join(problems)


def test_the_switcher_turns_the_site_spanish_on_a_phone(browser, live_server, site):  # noqa: F811
    from playwright.sync_api import expect

    context = new_context(browser, PHONE, locale="de-DE")
    sign_in_context(context, live_server.url, site.owner)
    page = context.new_page()
    page.goto(live_server.url + "/history/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Verlauf")
    # In the footer, outside the folded menu: a labelled select and a button, no menu to open.
    switcher = page.get_by_label("Sprache")
    expect(switcher).to_be_visible()
    switcher.select_option("es")
    page.get_by_role("button", name="Ändern").click()
    page.wait_for_url(f"{live_server.url}/history/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Historial")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.get_by_label("Idioma")).to_have_value("es")
    # The choice outlives the browser's German: the next page is Spanish too.
    page.goto(live_server.url + "/compose/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Componer")
    expect(page.locator("#photo-count")).to_have_text("Todavía no hay fotos.")
    assert overflow(page) is None
    shot(page, "es-compose-390")
    context.close()
