"""The agent's strings, through Python's gettext.

Every string the customer reads is written ``_("...")`` (or ``N_("...")`` where it is
translated later, e.g. a widget's label) so that ``xgettext``/``pybabel`` can extract it.
The translations for the console's languages (fr, es, it, pt, de) are built in
(:mod:`ficha_agent.catalog`: the agent is one file on Windows, no .mo to lose); another
language falls back to a compiled catalog in ``locale/`` next to this module when there is
one, else to English. The venue's language comes from the server (``welcome``), so
:func:`activate` is called again once connected.
"""

from __future__ import annotations

import gettext
import locale
from pathlib import Path

from .catalog import FRENCH, TABLES

__all__ = ["FRENCH", "TABLES", "N_", "_", "activate", "current", "normalize", "system_language"]

_DIR = Path(__file__).with_name("locale")
# Windows' locale names (``locale.getlocale()`` gives "Portuguese_Brazil", "German_Switzerland")
_WINDOWS_NAMES = {
    "english": "en",
    "french": "fr",
    "spanish": "es",
    "italian": "it",
    "portuguese": "pt",
    "german": "de",
}


class _Table(gettext.NullTranslations):
    def __init__(self, table: dict[str, str]):
        super().__init__()
        self.table = table

    def gettext(self, message: str) -> str:
        return self.table.get(message, message)


_current: gettext.NullTranslations = gettext.NullTranslations()
_language = "en"


def normalize(language: str) -> tuple[str, str]:
    """``"pt_BR.UTF-8"`` → ``("pt_BR", "pt")``, ``"de-CH"`` → ``("de_CH", "de")``,
    ``"Portuguese_Brazil"`` → ``("pt_BR", "pt")``; ``"C"``/``""`` → ``("en", "en")``."""
    lang = language.strip().split(".")[0].split("@")[0].replace("-", "_")
    head, _sep, region = lang.partition("_")
    short = _WINDOWS_NAMES.get(head.lower(), head.lower())
    if not short.isalpha() or len(short) not in (2, 3) or short in ("c", "posix"):
        return "en", "en"
    full = f"{short}_{region.upper()}" if len(region) == 2 and region.isalpha() else short
    return full, short


def system_language() -> str:
    return normalize(locale.getlocale()[0] or "en")[1]


def activate(language: str | None) -> str:
    """Switch the agent's language (``fr``, ``fr-FR``, ``pt_BR``...); returns the one used:
    a built-in table's code, a code with a catalog in ``locale/``, or ``"en"``."""
    global _current, _language
    full, short = normalize(language or system_language())
    if short == "en":
        _current, _language = gettext.NullTranslations(), "en"
        return "en"
    if short in TABLES:
        _current, _language = _Table(TABLES[short]), short
        return short
    try:
        _current = gettext.translation("ficha_agent", localedir=_DIR, languages=[full, short])
        _language = short
    except OSError:  # no catalog for it: English
        _current, _language = gettext.NullTranslations(), "en"
    return _language


def current() -> str:
    return _language


def _(message: str) -> str:
    return _current.gettext(message)


def N_(message: str) -> str:
    """Mark a string for translation without translating it now (gettext's convention)."""
    return message
