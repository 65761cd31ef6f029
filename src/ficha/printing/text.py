"""Making text printable with what a font or a printer code page actually has."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

# Characters that Unicode decomposition does not reduce to ASCII, with a readable stand-in.
_STAND_INS = {
    "\u00a0": " ", "\u2007": " ", "\u2009": " ", "\u202f": " ", "\u200b": "",
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-",
    "\u2018": "'", "\u2019": "'", "\u201a": ",", "\u201c": '"', "\u201d": '"', "\u201e": '"',
    "\u00ab": '"', "\u00bb": '"', "\u2039": "<", "\u203a": ">", "\u2026": "...", "\u2022": "*",
    "\u00b7": ".", "\u00d7": "x",
    "\u00df": "ss", "\u00e6": "ae", "\u00c6": "AE", "\u0153": "oe", "\u0152": "OE",
    "\u00f8": "o", "\u00d8": "O", "\u0111": "d", "\u0110": "D", "\u0142": "l", "\u0141": "L",
    "\u0131": "i", "\u00f0": "d", "\u00d0": "D", "\u00fe": "th", "\u00de": "Th",
    "\u0127": "h", "\u0126": "H", "\u014b": "ng", "\u014a": "NG",
    "\u0257": "d", "\u018a": "D", "\u0253": "b", "\u0181": "B", "\u0199": "k", "\u0198": "K",
    "\u01b4": "y", "\u01b3": "Y", "\u025b": "e", "\u0190": "E", "\u0254": "o", "\u0186": "O",
    "\u20ac": "EUR", "\u00a3": "GBP", "\u00a5": "JPY", "\u20a6": "NGN", "\u20b5": "GHS",
    "\u20b9": "INR", "\u20b1": "PHP", "\u20bd": "RUB", "\u20b4": "UAH", "\u20ba": "TRY",
    "\u20a9": "KRW", "\u20ab": "VND", "\u20b8": "KZT", "\u20aa": "ILS", "\u00a2": "c",
}


def ascii_stand_in(ch: str) -> str:
    """An ASCII rendering of one character ("é" → "e", "€" → "EUR"); "?" when none."""
    if ch < "\x80":
        return ch
    if ch in _STAND_INS:
        return _STAND_INS[ch]
    decomposed = unicodedata.normalize("NFKD", ch)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    if stripped and all(c < "\x80" for c in stripped):
        return stripped
    if unicodedata.category(ch).startswith("Z"):
        return " "
    return "?"


def fit(text: str, has: Callable[[str], bool]) -> str:
    """``text`` with every character that ``has`` refuses replaced by its ASCII stand-in.

    Control characters are dropped (they could be printer commands).
    """
    out = []
    for ch in text:
        if unicodedata.category(ch) == "Cc":
            continue
        if has(ch):
            out.append(ch)
        else:
            out.append(ascii_stand_in(ch))
    return "".join(out)
