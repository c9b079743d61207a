"""German and Spanish: the catalogues are complete and current, the browser's language is
followed (English without a header), the switcher overrides it, dates read as the language
writes them."""

import re
import shutil
from datetime import date

import polib
import pytest
from django.conf import settings
from django.core.management import call_command
from django.template import Context, Template
from django.utils import translation

from bananasite.translations import MAKEMESSAGES_IGNORE

LANGUAGES = ("de", "es")
DOMAINS = ("django", "djangojs")
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def _catalogue(language: str, domain: str) -> polib.POFile:
    return polib.pofile(str(settings.LOCALE_PATHS[0] / language / "LC_MESSAGES" / f"{domain}.po"))


def _problems(po: polib.POFile) -> list[str]:
    """Each entry a reader would see untranslated, half-translated or with broken placeholders."""
    problems = []
    for entry in po:
        label = repr(entry.msgid[:70])
        if entry.obsolete:
            problems.append(f"obsolete: {label}")
            continue
        if "fuzzy" in entry.flags:
            problems.append(f"fuzzy: {label}")
        translations = list(entry.msgstr_plural.values()) if entry.msgid_plural else [entry.msgstr]
        if not translations or not all(t.strip() for t in translations):
            problems.append(f"untranslated: {label}")
            continue
        wanted = set(PLACEHOLDER.findall(entry.msgid))
        for text in translations:
            if set(PLACEHOLDER.findall(text)) != wanted:
                problems.append(f"placeholders differ: {label} -> {text[:70]!r}")
    return problems


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_every_string_is_translated(language, domain):
    po = _catalogue(language, domain)
    assert len(po) > (300 if domain == "django" else 40)  # the catalogue is really there
    assert po.metadata["Language"] == language
    problems = _problems(po)
    assert not problems, f"{language}/{domain}.po:\n" + "\n".join(problems)


def test_the_catalogues_hold_every_string_the_sources_use(tmp_path, monkeypatch):
    """`make messages` on a copy of locale/: no new string comes out untranslated or fuzzy,
    and no translated string is left that the sources no longer use."""
    if shutil.which("xgettext") is None or shutil.which("msgmerge") is None:
        pytest.fail("GNU gettext is needed to extract strings: apt-get install gettext")
    locale = tmp_path / "locale"
    shutil.copytree(settings.LOCALE_PATHS[0], locale, ignore=shutil.ignore_patterns("*.mo"))
    monkeypatch.chdir(settings.BASE_DIR)
    monkeypatch.setattr(settings, "LOCALE_PATHS", [locale])
    for domain in DOMAINS:
        call_command(
            "makemessages",
            locale=list(LANGUAGES),
            domain=domain,
            ignore_patterns=MAKEMESSAGES_IGNORE,
            no_obsolete=True,
            no_location=True,
            verbosity=0,
        )
    problems = []
    for language in LANGUAGES:
        for domain in DOMAINS:
            kept = {e.msgid for e in _catalogue(language, domain)}
            fresh = polib.pofile(str(locale / language / "LC_MESSAGES" / f"{domain}.po"))
            problems += [f"{language}/{domain}: {p}" for p in _problems(fresh)]
            gone = kept - {e.msgid for e in fresh}
            problems += [f"{language}/{domain}: no source uses {m[:70]!r}" for m in sorted(gone)]
    assert not problems, "Run `make messages` and translate:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("language", "written"),
    [("en", "3 December 2026"), ("de", "3. Dezember 2026"), ("es", "3 de diciembre de 2026")],
)
def test_dates_are_written_the_way_the_language_writes_them(language, written):
    template = Template('{{ day|date:"DATE_FORMAT" }} · {{ day|date:"MONTH_DAY_FORMAT" }}')
    with translation.override(language):
        text = template.render(Context({"day": date(2026, 12, 3)}))
    assert text.startswith(written + " · ")
    assert text.endswith({"en": "Dec 3", "de": "3. Dez", "es": "3 dic"}[language])


@pytest.mark.django_db
def test_the_page_follows_the_browser_and_stays_english_without_a_header(client):
    english = client.get("/").content.decode()
    assert '<html lang="en">' in english and "Combine your photos into one picture." in english

    german = client.get("/", HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9,en;q=0.5").content.decode()
    assert '<html lang="de">' in german
    assert "Kombinieren Sie Ihre Fotos zu einem Bild." in german
    assert "Combine your photos" not in german

    spanish = client.get("/", HTTP_ACCEPT_LANGUAGE="es-MX,es;q=0.9").content.decode()
    assert "Combina tus fotos en una sola imagen." in spanish
    # A language we do not offer falls back to English.
    assert "Combine your photos" in client.get("/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()


@pytest.mark.django_db
def test_the_switcher_overrides_the_browser(client):
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert 'action="/i18n/setlang/"' in page and 'id="language-switch"' in page
    assert '<option value="es" lang="es" >Español</option>' in page

    response = client.post("/i18n/setlang/", {"language": "es", "next": "/accounts/login/"})
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "es"
    page = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "<h1>Iniciar sesión</h1>" in page
    assert '<option value="es" lang="es" selected>Español</option>' in page


@pytest.mark.django_db
def test_a_signed_in_page_and_its_messages_read_in_german(client, owner):
    client.force_login(owner)
    page = client.get("/billing/usage/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "<h1>Credits und Nutzung</h1>" in page
    assert "Letzte 30 Tage" in page and "Last 30 days" not in page

    response = client.post(
        "/workspace/teams/new", {"name": "Atelier"}, HTTP_ACCEPT_LANGUAGE="de", follow=True
    )
    page = response.content.decode()
    assert "Das Team Atelier wurde angelegt; Sie arbeiten jetzt darin." in page


@pytest.mark.django_db
def test_the_scripts_get_their_words_in_the_page_language(client):
    german = client.get("/jsi18n/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Noch keine Fotos." in german and "Wird komponiert" in german
    spanish = client.get("/jsi18n/", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "Todav\\u00eda no hay fotos." in spanish or "Todavía no hay fotos." in spanish
    # English needs no catalogue: the scripts' own words are shown.
    assert "Noch keine" not in client.get("/jsi18n/").content.decode()
