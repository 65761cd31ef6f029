"""How dates are written: the venue's date format (Settings), for every page and printout.

``VenueSettings.date_format`` picks one of :data:`FORMATS`; it applies to Django's named
formats ``DATE_FORMAT``, ``SHORT_DATE_FORMAT``, ``DATETIME_FORMAT`` and
``SHORT_DATETIME_FORMAT`` in every language, through the format modules in
``ficha/core/formats/<language>/formats.py`` (``FORMAT_MODULE_PATH``). So templates keep
writing ``{{ value|date:"SHORT_DATE_FORMAT" }}`` and Python keeps calling
``formats.date_format(value, "DATE_FORMAT")``: both follow the venue's choice. Times are
24-hour everywhere (``H:i``).
"""

from __future__ import annotations

import datetime as dt

from django.db import DatabaseError
from django.utils import dateformat
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _

DEFAULT = "dmy"

# name -> (label, date pattern); the language-specific separators are in _DATE below.
FORMATS = {
    "dmy": _("Day/month/year"),
    "ymd": _("Year-month-day (ISO 8601)"),
    "d_mon_y": _("Day, month name, year"),
}
# An example whose day cannot be mistaken for a month.
EXAMPLE = dt.date(2026, 12, 31)

_DATE = {
    "dmy": {"de": "d.m.Y", "": "d/m/Y"},
    "ymd": {"": "Y-m-d"},
    "d_mon_y": {"": "j M Y"},
}
_TIME = "H:i"


def venue_format() -> str:
    """The venue's chosen date format (the default before the database exists)."""
    from .services import venue_settings

    try:
        chosen = venue_settings().date_format
    except DatabaseError:
        return DEFAULT
    return chosen if chosen in FORMATS else DEFAULT


def date_pattern(language: str, name: str | None = None) -> str:
    """The Django date pattern (e.g. ``"d/m/Y"``) of format ``name`` in ``language``."""
    table = _DATE[name or venue_format()]
    return table.get((language or "").split("-")[0], table[""])


def pattern(kind: str, language: str) -> str:
    """One of Django's named formats in the venue's date format."""
    date = date_pattern(language)
    return f"{date} {_TIME}" if "DATETIME" in kind else date


def example(name: str, language: str) -> str:
    """:data:`EXAMPLE` written in format ``name``, e.g. "31/12/2026"."""
    return dateformat.format(EXAMPLE, date_pattern(language, name))


_lazy_pattern = lazy(pattern, str)

NAMED = ("DATE_FORMAT", "SHORT_DATE_FORMAT", "DATETIME_FORMAT", "SHORT_DATETIME_FORMAT")


def format_module_values(language: str) -> dict:
    """The named formats for one language's format module; each is read on every use
    (Django caches what a format module holds, so the value is a lazy string)."""
    return {kind: _lazy_pattern(kind, language) for kind in NAMED}
