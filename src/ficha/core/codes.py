"""Recharge codes: generation (digits from ``secrets``, optional Damm check digit) and
:func:`parse`, the one reading of a code a person typed, for every door (portal,
console, API, CLI, and later the RADIUS server and the station agent)."""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Iterable

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

# Damm's totally anti-symmetric quasigroup of order 10 (H. Michael Damm, 2004).
_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)

MIN_LENGTH = 8
MAX_LENGTH = 16


def damm_digit(digits: str) -> str:
    """The Damm check digit of a string of decimal digits."""
    interim = 0
    for ch in digits:
        interim = _DAMM[interim][ord(ch) - 48]
    return chr(48 + interim)


def damm_valid(code: str) -> bool:
    """True when ``code`` (digits with its check digit last) passes the Damm check."""
    return code.isdigit() and damm_digit(code) == "0"


def random_code(length: int, check_digit: bool) -> str:
    """One code of exactly ``length`` digits (the check digit, if any, included)."""
    if not MIN_LENGTH <= length <= MAX_LENGTH:
        raise ValueError(f"code length must be {MIN_LENGTH}..{MAX_LENGTH}")
    body_len = length - 1 if check_digit else length
    # Leading zeros are allowed: every code has exactly `length` digits.
    body = str(secrets.randbelow(10**body_len)).zfill(body_len)
    return body + damm_digit(body) if check_digit else body


MAX_INPUT = 64  # longer input is not a code (and is not read further)
# What people put between digit groups: spaces of every kind, dashes and hyphens, dots.
_SEPARATORS = re.compile(r"[\s\-.\u00a0\u2010-\u2015\u2212]+")


class CodeError(ValueError):
    """A typed code that cannot be one; ``str(exc)`` says why, for people.

    ``reason``: ``empty``, ``chars`` (something other than digits and separators, or
    too long), ``length`` (a length no code has) or ``check`` (the check digit fails:
    a typo).
    """

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def _digits(text: str) -> str | None:
    """ASCII digits of ``text`` without separators, or None if another character is
    in it. A decimal digit of any script (Arabic-Indic "٠١٢", Devanagari, full-width …)
    counts as that digit."""
    compact = _SEPARATORS.sub("", text)
    if not all(ch.isdecimal() for ch in compact):
        return None
    return "".join(str(unicodedata.decimal(ch)) for ch in compact)


def parse(text, formats: Iterable[tuple[int, bool]] | None = None) -> str:
    """A code as a person typed it → its digits ("1234 5678", "1234-5678", "١٢٣٤٥٦٧٨"
    → "12345678"), or :class:`CodeError`.

    ``formats``: the (length, check digit) pairs codes are issued in; when given, a
    length none of them has is refused, and so is a failed check digit when every
    format of that length has one. Without it only the characters are checked.
    """
    raw = "" if text is None else str(text).strip()
    if not raw:
        raise CodeError("empty", _("Enter the code printed on your card."))
    if len(raw) > MAX_INPUT:
        raise CodeError("chars", _("This is not a recharge code."))
    code = _digits(raw)
    if code is None:
        raise CodeError("chars", _("A recharge code has digits only; check what you typed."))
    if not code:
        raise CodeError("empty", _("Enter the code printed on your card."))
    if formats is not None:
        formats = set(formats)
        lengths = sorted({n for n, _c in formats})
        if lengths and len(code) not in lengths:
            raise CodeError("length", ngettext(
                "A code has %(digits)s digit; check what you typed.",
                "A code has %(digits)s digits; check what you typed.", lengths[-1],
            ) % {"digits": _(" or ").join(str(n) for n in lengths)})
        if (lengths and all(check for n, check in formats if n == len(code))
                and not damm_valid(code)):
            raise CodeError("check", _("This code has a typo; check each digit."))
    return code


def normalize(text: str) -> str:
    """The digits of what a person typed, leniently (for searching by a code's start):
    every decimal digit of any script read as its ASCII digit, anything else dropped
    ("1234 5678", "١٢٣٤-5678" → "12345678")."""
    return "".join(str(unicodedata.decimal(ch)) for ch in str(text)[:MAX_INPUT]
                   if ch.isdecimal())


def group(code: str, size: int = 4) -> str:
    """Display form: "12345678" → "1234 5678"."""
    return " ".join(code[i : i + size] for i in range(0, len(code), size))
