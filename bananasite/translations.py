"""The German and Spanish catalogues in locale/: compiled to .mo with polib at set-up.

Django's `compilemessages` needs GNU gettext's msgfmt on the machine; polib is pure Python, so
`make run` works on a fresh machine without system packages. Only `make messages` (xgettext,
to extract new strings) needs gettext installed.
"""

import os
import tempfile
from pathlib import Path

import polib
from django.conf import settings
from django.utils.translation import get_language

# `make messages` and the catalogue test extract with these, so both see the same strings.
MAKEMESSAGES_IGNORE = ["staticfiles/*", "media/*", "benchmarks/*", "scripts/*", "*/tests/*"]


def catalogues() -> list[Path]:
    """Every .po file under LOCALE_PATHS."""
    return sorted(
        p for root in settings.LOCALE_PATHS for p in Path(root).glob("*/LC_MESSAGES/*.po")
    )


def compile_catalogues(*, force: bool = False) -> list[Path]:
    """Write each catalogue's .mo beside it when missing or older than the .po; return those
    written. Fuzzy entries are left out, as msgfmt does."""
    written = []
    for po_path in catalogues():
        mo_path = po_path.with_suffix(".mo")
        if not force and mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        # Written beside and renamed over, so parallel test workers never read half a file.
        with tempfile.NamedTemporaryFile(dir=po_path.parent, suffix=".mo", delete=False) as tmp:
            temporary = Path(tmp.name)
        polib.pofile(str(po_path)).save_as_mofile(str(temporary))
        os.replace(temporary, mo_path)
        written.append(mo_path)
    return written


# Languages whose nouns keep their capital inside a sentence.
CAPITALISED_NOUNS = {"de"}


def in_sentence(label) -> str:
    """A choice's label for use mid-sentence: "as member" in English and Spanish, "als
    Mitglied" in German, where nouns keep their capital."""
    text = str(label)
    language = (get_language() or "en").split("-")[0]
    return text if language in CAPITALISED_NOUNS else text.lower()
