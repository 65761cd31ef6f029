"""The typed form of price lists and bands (console forms, the command line).

Price lists, one step per line — name, optional ``from MINUTES``, then
``GROUP=PRICE`` an hour for each price group (``guest`` required)::

    day guest=6.00 member=5.00
    day from 30 guest=4.00 member=3.00
    night guest=3.00

Bands, one per line — days, optional time span, price list::

    mon-fri 08:00-18:00 day
    sat+sun night
    fri 22:00-02:00 night        (past midnight: into Saturday)

Prices are read by :func:`ficha.core.money.parse_amount` (in the person's language when
``locale`` is given). Errors name the line.
"""

from __future__ import annotations

import re

from babel.numbers import format_decimal
from django.utils.translation import gettext as _

from ficha.core.money import Money, MoneyError, exponent, parse_amount

from .cafe import DAY_NAMES, GUEST, Band, Rate, Step, TariffError

_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")


def _lines(text: str) -> list[tuple[int, str]]:
    out = []
    for n, raw in enumerate((text or "").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if line:
            out.append((n, line))
    return out


def _err(n: int, message: str) -> TariffError:
    return TariffError(_("Line %(n)d: %(message)s") % {"n": n, "message": message})


def parse_rates(text: str, currency: str, *, locale: str | None = None) -> tuple[Rate, ...]:
    steps: dict[str, dict[int, dict[str, int]]] = {}
    for n, line in _lines(text):
        words = line.split()
        name, rest = words[0], words[1:]
        if "=" in name:
            raise _err(n, _("start with the price list's name (e.g. day guest=6.00)."))
        start = 0
        if rest and rest[0].lower() == "from":
            if len(rest) < 2 or not rest[1].isdigit():
                raise _err(n, _("“from” is followed by minutes (e.g. from 30)."))
            start = int(rest[1]) * 60
            rest = rest[2:]
        prices: dict[str, int] = {}
        for word in rest:
            group, eq, amount = word.partition("=")
            group = group.strip().lower()
            if not eq or not group:
                raise _err(n, _("“%(word)s” is not GROUP=PRICE (e.g. member=5.00).")
                           % {"word": word})
            if group in prices:
                raise _err(n, _("The group %(group)s has two prices.") % {"group": group})
            try:
                prices[group] = parse_amount(amount, currency, locale=locale).minor
            except MoneyError as exc:
                raise _err(n, str(exc)) from None
        if GUEST not in prices:
            raise _err(n, _("give a guest price (what everyone else pays), e.g. guest=6.00."))
        per_rate = steps.setdefault(name, {})
        if start in per_rate:
            raise _err(n, _("price list %(name)s already has a step from %(m)d minutes.")
                       % {"name": name, "m": start // 60})
        per_rate[start] = prices
    if not steps:
        raise TariffError(_("Give at least one price list (e.g. day guest=6.00)."))
    rates = []
    for name, by_start in steps.items():
        if 0 not in by_start:
            raise TariffError(_("Price list %(name)s needs a line without “from” (its price "
                                "from the start).") % {"name": name})
        rates.append(Rate(name, tuple(Step(s, p) for s, p in sorted(by_start.items()))))
    return tuple(rates)


def plain_amount(minor: int, currency: str, locale: str | None = None) -> str:
    """An amount as :func:`parse_amount` reads it back, without grouping: "6.00", "6,00"."""
    money = Money(minor, currency)
    if locale is None:
        return money.major_str()
    exp = exponent(currency)
    return format_decimal(money.to_decimal(), format="0" + ("." + "0" * exp if exp else ""),
                          locale=locale.replace("-", "_"))


def format_rates(rates, currency: str, locale: str | None = None) -> str:
    out = []
    for rate in rates:
        for step in rate.steps:
            head = rate.name if not step.start else f"{rate.name} from {step.start // 60}"
            groups = sorted(step.prices, key=lambda g: (g != GUEST, g))
            out.append(head + " " + " ".join(
                f"{g}={plain_amount(step.prices[g], currency, locale)}" for g in groups))
    return "\n".join(out)


def _minutes(text: str, n: int) -> int:
    m = _TIME.match(text)
    if not m or int(m.group(2)) > 59 or int(m.group(1)) > 24 or (
            int(m.group(1)) == 24 and m.group(2) != "00"):
        raise _err(n, _("“%(text)s” is not a time (HH:MM).") % {"text": text})
    return int(m.group(1)) * 60 + int(m.group(2))


def _days(text: str, n: int) -> frozenset[int]:
    days: set[int] = set()
    for part in text.lower().split("+"):
        first, dash, last = part.partition("-")
        first, last = first.strip()[:3], last.strip()[:3]
        if first not in DAY_NAMES or (dash and last not in DAY_NAMES):
            raise _err(n, _("“%(text)s” is not a day or range of days (mon-fri, sat+sun).")
                       % {"text": part})
        a = DAY_NAMES.index(first)
        b = DAY_NAMES.index(last) if dash else a
        days.add(a)
        while a != b:
            a = (a + 1) % 7
            days.add(a)
    return frozenset(days)


def parse_bands(text: str) -> tuple[Band, ...]:
    bands = []
    for n, line in _lines(text):
        words = line.split()
        if len(words) < 2 or len(words) > 3:
            raise _err(n, _("write DAYS [HH:MM-HH:MM] PRICE-LIST (e.g. mon-fri 08:00-18:00 "
                            "day)."))
        days = _days(words[0], n)
        start, end = 0, 1440
        if len(words) == 3:
            a, dash, b = words[1].partition("-")
            if not dash:
                raise _err(n, _("“%(text)s” is not a time span (HH:MM-HH:MM).")
                           % {"text": words[1]})
            start, end = _minutes(a, n), _minutes(b, n)
            if start == 1440:
                raise _err(n, _("A band cannot start at 24:00."))
            if start == end:
                raise _err(n, _("A band cannot be empty."))
        try:
            bands.append(Band(days, start, end, words[-1]))
        except TariffError as exc:
            raise _err(n, str(exc)) from None
    return tuple(bands)


def _format_days(days) -> str:
    ordered = sorted(days)
    if len(ordered) == 7:
        return "mon-sun"
    parts, start = [], ordered[0]
    prev = start
    for d in [*ordered[1:], None]:
        if d is not None and d == prev + 1:
            prev = d
            continue
        parts.append(DAY_NAMES[start] if start == prev else
                     f"{DAY_NAMES[start]}+{DAY_NAMES[prev]}" if prev == start + 1 else
                     f"{DAY_NAMES[start]}-{DAY_NAMES[prev]}")
        if d is not None:
            start = prev = d
    return "+".join(parts)


def format_bands(bands) -> str:
    out = []
    for b in bands:
        span = "" if (b.start, b.end) == (0, 1440) else (
            f" {b.start // 60:02d}:{b.start % 60:02d}-{b.end // 60:02d}:{b.end % 60:02d}")
        out.append(f"{_format_days(b.days)}{span} {b.rate}")
    return "\n".join(out)
