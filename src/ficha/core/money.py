"""Money: integer minor units and an ISO 4217 currency.

The number of decimals (the *exponent*) comes from Babel's CLDR data: XOF has 0, EUR 2,
KWD 3. Floats never enter; ``Decimal`` is used only to parse and display.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache

from babel.core import Locale
from babel.numbers import format_currency, get_currency_precision, list_currencies
from django.utils.translation import gettext as _


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
    def parse(cls, text: str | int | Decimal, currency: str, *, allow_negative: bool = False
              ) -> Money:
        """Parse an amount in major units as a person types it ("1500", "12.50", "12,50")."""
        exp = exponent(currency)
        if isinstance(text, int) and not isinstance(text, bool):
            value = Decimal(text)
        elif isinstance(text, Decimal):
            value = text
        elif isinstance(text, str):
            cleaned = text.strip().replace(" ", "").replace("\u00a0", "").replace("_", "")
            if cleaned.count(",") == 1 and "." not in cleaned:
                cleaned = cleaned.replace(",", ".")
            try:
                value = Decimal(cleaned)
            except InvalidOperation:
                raise MoneyError(_("“%(text)s” is not an amount.") % {"text": text})
        else:
            raise MoneyError(_("“%(text)s” is not an amount.") % {"text": text})
        if not value.is_finite():
            raise MoneyError(_("“%(text)s” is not an amount.") % {"text": text})
        scaled = value.scaleb(exp)
        if scaled != scaled.to_integral_value():
            raise MoneyError(
                _("%(currency)s amounts have at most %(n)d decimals.")
                % {"currency": currency, "n": exp}
            )
        if scaled < 0 and not allow_negative:
            raise MoneyError(_("The amount cannot be negative."))
        if abs(scaled) >= 10**15:
            raise MoneyError(_("The amount is too large."))
        return cls(int(scaled), currency)

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
        if locale is None:
            from django.utils import translation

            locale = translation.get_language() or "en"
        try:
            loc = Locale.parse(locale.replace("-", "_"))
        except Exception:  # an unknown locale must never break a page
            loc = Locale.parse("en")
        return format_currency(self.to_decimal(), self.currency, locale=loc)

    def __str__(self) -> str:
        return self.format()
