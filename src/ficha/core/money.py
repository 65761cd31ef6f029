"""Money: integer minor units and an ISO 4217 currency.

The number of decimals (the *exponent*) comes from Babel's CLDR data: XOF has 0, EUR 2,
KWD 3. Floats never enter; ``Decimal`` is used only to parse and display.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import cache, lru_cache

from babel.core import Locale
from babel.numbers import (
    format_currency,
    format_decimal,
    get_currency_precision,
    get_currency_symbol,
    get_decimal_symbol,
    get_group_symbol,
    list_currencies,
)
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

MAX_MINOR = 10**15 - 1  # the largest amount, in minor units, that Ficha stores
MAX_TEXT = 64  # longer "amounts" are refused before any work


class MoneyError(ValueError):
    """Raised for an amount a person typed that is not valid money."""


@cache
def _known_currencies() -> frozenset[str]:
    return frozenset(list_currencies())


@cache
def exponent(currency: str) -> int:
    """Number of decimals of ``currency`` (0 for XOF, 2 for EUR, 3 for KWD)."""
    check_currency(currency)
    return get_currency_precision(currency)


def check_currency(currency: str) -> str:
    if not isinstance(currency, str) or currency.upper() != currency or len(currency) != 3:
        raise MoneyError(_("Unknown currency %(code)s.") % {"code": currency})
    if currency not in _known_currencies():
        raise MoneyError(_("Unknown currency %(code)s.") % {"code": currency})
    return currency


@dataclass(frozen=True, slots=True)
class Money:
    minor: int
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.minor, bool) or not isinstance(self.minor, int):
            raise TypeError("Money.minor must be an int of minor units")
        check_currency(self.currency)

    # --- construction -------------------------------------------------------------------
    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @classmethod
    def parse(cls, text: str | int | Decimal, currency: str, *, allow_negative: bool = False,
              locale: str | None = None) -> Money:
        """The amount ``text`` means, in major units of ``currency``.

        ``locale=None`` reads the one locale-independent form of the API and the command line
        (digits, "." as the decimal point, no grouping: "1500", "12.50"); a locale ("en",
        "fr", ...) reads what a person types in that language ("1,500", "1 500", "12,50").
        See :func:`parse_amount`.
        """
        return parse_amount(text, currency, locale=locale, allow_negative=allow_negative)

    # --- arithmetic ---------------------------------------------------------------------
    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError("can only combine Money with Money")
        if other.currency != self.currency:
            raise MoneyError(
                _("Cannot mix %(a)s and %(b)s.") % {"a": self.currency, "b": other.currency}
            )

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.minor < other.minor

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.minor <= other.minor

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.minor > other.minor

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.minor >= other.minor

    def __bool__(self) -> bool:
        return self.minor != 0

    # --- display ------------------------------------------------------------------------
    @property
    def exponent(self) -> int:
        return exponent(self.currency)

    def to_decimal(self) -> Decimal:
        return Decimal(self.minor).scaleb(-self.exponent)

    def major_str(self) -> str:
        """Plain machine-readable major units: "1500", "12.50", "1.250"."""
        exp = self.exponent
        if exp == 0:
            return str(self.minor)
        return f"{self.to_decimal():.{exp}f}"

    def format(self, locale: str | None = None) -> str:
        """Localised display with the currency symbol, e.g. "F CFA 1 500" or "12,50 €"."""
        return _formatted(self.minor, self.currency, _locale(locale))

    def figures(self, locale: str | None = None) -> str:
        """The number alone as the locale writes it, grouped, with every decimal of the
        currency: "1,000,000" (en, XOF), "1 250,50" (fr, EUR). What a form shows back."""
        exp = self.exponent
        pattern = "#,##0" + ("." + "0" * exp if exp else "")
        return format_decimal(self.to_decimal(), format=pattern, locale=_locale(locale))

    def in_words(self, locale: str | None = None) -> str:
        """The amount with the currency's name: "1,000 West African CFA francs"."""
        return format_currency(self.to_decimal(), self.currency, locale=_locale(locale),
                               format_type="name")

    def understood(self, locale: str | None = None) -> str:
        """What a parser understood, unmistakably: "XOF 1,000,000" (code and figures)."""
        return f"{self.currency}\u00a0{self.figures(locale)}"

    def __str__(self) -> str:
        return self.format()


# --- parsing what people and programs type -------------------------------------------------
def _locale(locale: str | None) -> Locale:
    if locale is None:
        from django.utils import translation

        locale = translation.get_language() or "en"
    return _babel_locale(locale)


def format_quantity(value: Decimal | int, locale: str | None = None) -> str:
    """A number that is not money (megabytes, minutes) as the language writes it, every
    decimal kept: "12.5" (en), "12,5" (fr), "1,234.567891" (en)."""
    return format_decimal(value, locale=_locale(locale), decimal_quantization=False)


def format_fraction(value: Decimal, currency: str, locale: str | None = None) -> str:
    """An amount in major units that may hold more decimals than the currency has (a
    price per second, a rate's exact cost before its one rounding), written as
    :meth:`Money.format` writes money: "F CFA 0.1667" (en), "0,1667 F CFA" (fr),
    "1,50 €"; at least the currency's decimals, every further one kept."""
    return _fraction_formatted(value, currency, _locale(locale))


@lru_cache(maxsize=4096)
def _fraction_formatted(value: Decimal, currency: str, locale: Locale) -> str:
    text = format_currency(value, currency, locale=locale, decimal_quantization=False)
    return _currency_spacing(text, get_currency_symbol(currency, locale=locale))


@lru_cache(maxsize=4096)
def _formatted(minor: int, currency: str, locale: Locale) -> str:
    """``Money.format``, remembered: amounts repeat (face values, prices) on every page
    and answer, and babel's formatting is the slow part."""
    text = format_currency(Money(minor, currency).to_decimal(), currency, locale=locale)
    return _currency_spacing(text, get_currency_symbol(currency, locale=locale))


_NBSP = "\u00a0"


def _spaced_from_digits(char: str) -> bool:
    """CLDR's currency spacing: a symbol whose edge is not itself a sign or a space (a
    letter: "F CFA", "CHF", "Ksh") is kept apart from the digits."""
    return not unicodedata.category(char).startswith(("S", "Z"))


def _currency_spacing(text: str, symbol: str) -> str:
    """``text`` with a no-break space between the currency symbol and a digit touching it
    where CLDR asks for one (babel leaves it out: "F CFA250" in English; ICU and CLDR
    write "F CFA 250"); "€12.50" and "12,50 €" stay as they are."""
    at = text.find(symbol) if symbol else -1
    if at < 0:
        return text
    end = at + len(symbol)
    if end < len(text) and text[end].isdigit() and _spaced_from_digits(symbol[-1]):
        text = text[:end] + _NBSP + text[end:]
    if at > 0 and text[at - 1].isdigit() and _spaced_from_digits(symbol[0]):
        text = text[:at] + _NBSP + text[at:]
    return text


@cache
def _babel_locale(locale: str) -> Locale:
    try:
        return Locale.parse(locale.replace("-", "_"))
    except Exception:  # an unknown locale must never break a page
        return Locale.parse("en")


_SPACES = str.maketrans({c: " " for c in "\u00a0\u202f\u2007\u2009\u200a\u2008\u3000"})
_MINUS = str.maketrans({"\u2212": "-", "\u2012": "-", "\u2013": "-", "\ufe63": "-",
                        "\uff0d": "-", "\uff0b": "+"})


@dataclass(frozen=True)
class _Symbols:
    decimal: str
    group: str  # " " stands for every kind of space
    primary: int  # digits in the last group (3)
    secondary: int  # digits in the groups before it (3; 2 in Indian-style grouping)
    thousand: str  # 1000 as the locale writes it, for messages: "1,000"
    example: str  # 12.50 as the locale writes it: "12,50"


@cache
def _symbols(locale: str) -> _Symbols:
    loc = _babel_locale(locale)
    decimal = get_decimal_symbol(loc).translate(_SPACES)
    group = get_group_symbol(loc).translate(_SPACES)
    primary, secondary = loc.decimal_formats[None].grouping
    if primary < 1 or primary > 9 or secondary < 1 or secondary > 9:  # pragma: no cover
        primary = secondary = 3
    thousand = format_decimal(1000, format="#,##0", locale=loc)
    return _Symbols(decimal=decimal, group=group if group else ",", primary=primary,
                    secondary=secondary, thousand=thousand,
                    example=f"12{decimal}50")


def _ascii_digits(text: str) -> str:
    """Digits of any script (Arabic-Indic, full-width...) as ASCII digits."""
    if text.isascii():
        return text
    return "".join(str(unicodedata.decimal(c)) if c.isdecimal() else c for c in text)


def _not_amount(text: str, why: str = "") -> MoneyError:
    message = _("“%(text)s” is not an amount.") % {"text": text}
    return MoneyError(f"{message} {why}" if why else message)


def _refuse_words(raw: str, number: str) -> None:
    """Exponents, NaN and infinities get their own explanation."""
    low = number.lower()
    if re.search(r"\d\s*e\s*[+-]?\s*\d", low):
        raise _not_amount(raw, _("Exponents (“e”) are not accepted: type every digit."))
    if low.lstrip("+-") in ("nan", "snan", "inf", "infinity", "∞"):
        raise _not_amount(raw, _("Type the amount in figures."))


def _check_sign(raw: str, sign: str, allow_negative: bool) -> None:
    if sign == "-" and not allow_negative:
        raise MoneyError(_("The amount cannot be negative."))
    if sign == "+" and not allow_negative:
        raise MoneyError(_("Type the amount without a sign."))


def _too_many_decimals(raw: str, currency: str, exp: int, decimal: str, whole: int,
                       digits: str, locale: str | None) -> MoneyError:
    if exp == 0:
        meant = Money(int(whole) * 10 ** len(digits) + int(digits or "0"), currency) if (
            len(digits) == 3) else None
        if meant is not None and meant.minor <= MAX_MINOR:
            return MoneyError(
                _("%(currency)s has no decimals, and “%(sep)s” is the decimal separator here, "
                  "so “%(text)s” is not a whole amount. For %(meant)s type %(plain)s or "
                  "%(grouped)s.")
                % {"currency": currency, "sep": decimal, "text": raw,
                   "meant": meant.understood(locale if locale else "en"),
                   "plain": meant.minor,
                   "grouped": meant.figures(locale) if locale else meant.minor}
            )
        return MoneyError(
            ngettext("%(currency)s has no decimals: type a whole amount (“%(text)s” has "
                     "%(n)d digit after “%(sep)s”).",
                     "%(currency)s has no decimals: type a whole amount (“%(text)s” has "
                     "%(n)d digits after “%(sep)s”).", len(digits))
            % {"currency": currency, "text": raw, "n": len(digits), "sep": decimal}
        )
    # more digits than the currency's decimals: at least two
    return MoneyError(
        ngettext("%(currency)s amounts have at most %(n)d decimal; “%(text)s” has %(m)d.",
                 "%(currency)s amounts have at most %(n)d decimals; “%(text)s” has %(m)d.",
                 exp)
        % {"currency": currency, "n": exp, "text": raw, "m": len(digits)}
    )


def _build(raw: str, currency: str, sign: str, whole: str, frac: str,
           decimal: str, locale: str | None) -> Money:
    exp = exponent(currency)
    if len(frac) > exp:
        raise _too_many_decimals(raw, currency, exp, decimal, int(whole or "0"), frac, locale)
    minor = int(whole or "0") * 10**exp + int(frac.ljust(exp, "0") or "0")
    if minor > MAX_MINOR:
        raise MoneyError(_("The amount is too large."))
    return Money(-minor if sign == "-" else minor, currency)


_PLAIN = re.compile(r"([+-]?)([0-9]+)(?:\.([0-9]+))?", re.ASCII)


def _parse_plain(raw: str, currency: str, allow_negative: bool) -> Money:
    """The API's and the command line's form: "1500", "12.50", "-3" (signed fields)."""
    text = raw.strip()
    if not text:
        raise MoneyError(_("Enter an amount."))
    match = _PLAIN.fullmatch(text)
    if match is None:
        _refuse_words(raw, text)
        if re.fullmatch(r"[+-]?[0-9][0-9 ,._'\u00a0\u202f]*(\.[0-9]+)?", text):
            raise _not_amount(raw, _(
                "Write the amount with digits only and “.” as the decimal point, without "
                "grouping: “1000”, “12.50”."))
        raise _not_amount(raw)
    sign, whole, frac = match.group(1), match.group(2), match.group(3) or ""
    _check_sign(raw, sign, allow_negative)
    if len(frac) == 3 and exponent(currency) == 0:
        raise MoneyError(
            _("%(currency)s has no decimals, so “%(text)s” is ambiguous: “.” is always the "
              "decimal point here, never a thousands separator. Send digits only: “%(big)s” "
              "or “%(small)s”.")
            % {"currency": currency, "text": raw, "big": whole + frac, "small": whole}
        )
    return _build(raw, currency, sign, whole, frac, ".", None)


@cache
def _currency_marks(currency: str, locale: str) -> tuple[str, ...]:
    """The currency's code and its symbol in ``locale``, longest first."""
    symbol = get_currency_symbol(currency, _babel_locale(locale)).translate(_SPACES)
    return tuple(sorted({m for m in (currency, currency.lower(), symbol) if m}, key=len,
                        reverse=True))


def _strip_currency(text: str, currency: str, locale: str) -> tuple[str, str]:
    """Remove one sign and one currency sign or code around the number; (sign, rest)."""
    marks = _currency_marks(currency, locale)

    def take_sign(s: str) -> tuple[str, str]:
        if s[:1] in ("+", "-"):
            return s[0], s[1:].strip()
        return "", s

    sign, text = take_sign(text)
    for mark in marks:
        if text.startswith(mark):
            text = text[len(mark):].strip()
            break
    if not sign:
        sign, text = take_sign(text)
    for mark in marks:
        if text.endswith(mark):
            text = text[:-len(mark)].strip()
            break
    return sign, text


def _grouping_ok(whole: str, sy: _Symbols) -> bool:
    parts = whole.split(sy.group)
    if not all(p.isdigit() and p.isascii() for p in parts):
        return False
    *head, last = parts
    if len(last) != sy.primary:
        return False
    if not head:
        return True
    first, *middle = head
    if any(len(p) != sy.secondary for p in middle):
        return False
    return 1 <= len(first) <= sy.secondary and first[0] != "0"


def _parse_local(raw: str, currency: str, locale: str, allow_negative: bool) -> Money:
    sy = _symbols(locale)
    text = _ascii_digits(raw.translate(_SPACES).translate(_MINUS)).strip()
    text = re.sub(" +", " ", text)
    if not text:
        raise MoneyError(_("Enter an amount."))
    sign, number = _strip_currency(text, currency, locale)
    _refuse_words(raw, number)
    if not number:
        raise MoneyError(_("Enter an amount."))

    def explain() -> str:  # only when refusing: the rule of this language
        sy = _symbols(locale)
        if sy.group == " ":
            text = _("Here “%(decimal)s” marks decimals (%(example)s) and a space separates "
                     "groups of three digits (%(thousand)s).")
        else:
            text = _("Here “%(decimal)s” marks decimals (%(example)s) and “%(group)s” "
                     "separates groups of three digits (%(thousand)s).")
        return text % {"decimal": sy.decimal, "example": sy.example, "group": sy.group,
                       "thousand": sy.thousand}

    # A space never means decimals: it groups in every language, but one kind of
    # grouping per amount ("1,000 000" is refused).
    group = sy.group if sy.group in number or " " not in number else " "
    if group != sy.group:
        sy = replace(sy, group=" ")
    allowed = set("0123456789") | {sy.decimal, sy.group}
    if any(c not in allowed for c in number):
        if any(c in ".,' " for c in number):
            raise _not_amount(raw, explain())
        raise _not_amount(raw)
    _check_sign(raw, sign, allow_negative)
    whole, _sep, frac = number.partition(sy.decimal)
    if sy.decimal in frac or (_sep and not frac) or sy.group in frac:
        raise _not_amount(raw, explain())
    if not whole and not frac:
        raise _not_amount(raw)
    if sy.group in whole:
        if not _grouping_ok(whole, sy):
            raise _not_amount(raw, explain())
        whole = whole.replace(sy.group, "")
    return _build(raw, currency, sign, whole, frac, sy.decimal, locale)


def parse_amount(text: str | int | Decimal, currency: str, *, locale: str | None = None,
                 allow_negative: bool = False) -> Money:
    """The one amount parser of every door (console, portal, API, command line).

    ``text`` is in major units of ``currency``. With ``locale=None`` it is the
    locale-independent form of the API and the command line: ASCII digits, "." as the
    decimal point, no grouping ("1500", "12.50"). With a locale ("en", "fr", ...) it is
    what a person types in that language: its decimal symbol, its grouping symbol where
    well-formed ("1,000" in English, "1 000" or "1.000" elsewhere; any kind of space where
    the language groups with spaces), optionally the currency's symbol or code.

    Never: exponents, NaN, infinities, a sign unless ``allow_negative`` (then "-" or "+"),
    more decimals than the currency has, a group read as decimals. The error
    (:class:`MoneyError`) says why, and what the text would mean where that helps.
    ``int`` and ``Decimal`` values (from code, not people) are read as major units.
    """
    exp = exponent(currency)
    if isinstance(text, bool):
        raise _not_amount(str(text))
    if isinstance(text, int):
        text = Decimal(text)
    if isinstance(text, Decimal):
        if not text.is_finite():
            raise _not_amount(str(text))
        scaled = text.scaleb(exp)
        if scaled != scaled.to_integral_value():
            raise MoneyError(_("%(currency)s amounts have at most %(n)d decimals.")
                             % {"currency": currency, "n": exp})
        minor = int(scaled)
        if minor < 0 and not allow_negative:
            raise MoneyError(_("The amount cannot be negative."))
        if abs(minor) > MAX_MINOR:
            raise MoneyError(_("The amount is too large."))
        return Money(minor, currency)
    if not isinstance(text, str):
        raise _not_amount(str(text))
    if len(text) > MAX_TEXT:
        raise MoneyError(_("The amount is too long."))
    if locale is None:
        return _parse_plain(text, currency, allow_negative)
    return _parse_local(text, currency, locale, allow_negative)
