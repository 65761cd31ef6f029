"""Call rating: billed seconds and cost of one call, exact, rounded once (pure, no database).

Prices are integers in *micro-units*: millionths of the currency's major unit (a price of
0.0125 EUR a minute is ``12_500``; 150 XOF a minute is ``150_000_000``). A call's exact
cost is kept as an integer in sixtieths of a micro-unit (prices are per minute, calls
are billed by the second), so nothing is rounded until the very end, where the total is
rounded **once** to the currency's minor unit (``core.money.exponent``) with the deck's
rounding mode (half-up by default).

For a rate row (price per minute ``r``, connect fee ``c``, minimum block ``m`` s,
increment ``i`` s, grace ``g`` s, free seconds ``f``, minimum cost ``k``, optional tiers)
and an answered duration ``d`` in seconds:

* ``d ≤ g``: the call is free (0 billed seconds, cost 0);
* ``d' = max(0, d − f)``;
* billed seconds ``B = 0`` if ``d' = 0``; ``m`` if ``d' ≤ m``; else
  ``m + ceil((d' − m)/i)·i`` (the *block* convention). With the deck's
  "whole duration" switch (A2Billing, MagnusBilling): ``m`` if ``d' ≤ m``, else
  ``ceil(d'/i)·i``. The two differ only when ``m`` is not a multiple of ``i``;
* ``cost = c + r·B/60``, with tiers each tier's price applied to the billed seconds that
  fall in it; ``total = max(cost, k)``; rounded once.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

from ficha.core.money import Money

MICRO = 1_000_000
MICRO_DIGITS = 6
MAX_PRICE_MICRO = 10**15  # a million million major units a minute: refuse anything larger

HALF_UP = "half_up"
HALF_EVEN = "half_even"
UP = "up"
DOWN = "down"
ROUNDING_MODES = (HALF_UP, HALF_EVEN, UP, DOWN)

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class RatingError(ValueError):
    """A price, tier, time window or setting that cannot be used for rating."""


# --- amounts ----------------------------------------------------------------------------
_PLAIN_PRICE = re.compile(r"(\d{1,9})(?:[.,](\d{1,6}))?\Z")


def is_digits(text: str) -> bool:
    """ASCII 0-9 only: str.isdigit() alone also takes "²", "٣" and "３"."""
    return text.isascii() and text.isdigit()


def parse_micro(text: str | int | Decimal) -> int:
    """Parse a price in major units ("0.05", "0,05", "150", "1 500") into micro-units."""
    if type(text) is str:  # the fast path for what deck files hold: digits, one separator
        m = _PLAIN_PRICE.match(text)
        if m is not None:
            whole, frac = m.groups()
            return int(whole) * MICRO + (int(frac.ljust(MICRO_DIGITS, "0")) if frac else 0)
    if isinstance(text, bool):
        raise RatingError(_("“%(text)s” is not a price.") % {"text": text})
    if isinstance(text, int):
        value = Decimal(text)
    elif isinstance(text, Decimal):
        value = text
    else:
        cleaned = str(text).strip().replace(" ", "").replace("\u00a0", "").replace("_", "")
        if "," in cleaned:
            if "." in cleaned or cleaned.count(",") > 1:
                raise RatingError(_("“%(text)s” is not a price.") % {"text": text})
            cleaned = cleaned.replace(",", ".")
        if not cleaned or cleaned.lower() in {"nan", "inf", "infinity", "+inf", "-inf"}:
            raise RatingError(_("“%(text)s” is not a price.") % {"text": text})
        try:
            value = Decimal(cleaned)
        except InvalidOperation:
            raise RatingError(_("“%(text)s” is not a price.") % {"text": text}) from None
    if not value.is_finite():
        raise RatingError(_("“%(text)s” is not a price.") % {"text": text})
    if value < 0:
        raise RatingError(_("A price cannot be negative."))
    scaled = value.scaleb(MICRO_DIGITS)
    if scaled != scaled.to_integral_value():
        raise RatingError(_("A price has at most 6 decimals."))
    if scaled >= MAX_PRICE_MICRO:
        raise RatingError(_("The price is too large."))
    return int(scaled)


def format_micro(micro: int) -> str:
    """A micro-unit amount as plain major units, trailing zeros dropped: "0.0125", "150"."""
    sign = "-" if micro < 0 else ""
    whole, frac = divmod(abs(micro), MICRO)
    if not frac:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:06d}".rstrip("0")


def _format_sixtieths(v60: int) -> str:
    """An exact cost in sixtieths of a micro-unit, shown in major units ("≈" if inexact)."""
    micro, rest = divmod(v60, 60)
    if not rest:
        return format_micro(micro)
    return "≈" + format_micro(micro + (1 if rest * 2 >= 60 else 0))


def round_sixtieths(v60: int, exponent: int, mode: str = HALF_UP) -> int:
    """Round an exact amount in sixtieths of a micro-unit to minor units (``exponent``)."""
    if not 0 <= exponent <= MICRO_DIGITS:
        raise RatingError(_("Currencies with more than 6 decimals cannot be rated."))
    div = 60 * 10 ** (MICRO_DIGITS - exponent)
    q, r = divmod(v60, div)
    if mode == HALF_UP:  # costs are never negative: half-up is half away from zero
        return q + (2 * r >= div)
    if mode == HALF_EVEN:
        return q + (2 * r > div or (2 * r == div and q % 2 == 1))
    if mode == UP:
        return q + (r > 0)
    if mode == DOWN:
        return q
    raise RatingError(_("Unknown rounding mode %(mode)s.") % {"mode": mode})


# --- tiers and time windows -------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Tier:
    """From billed second ``start`` on, the price per minute is ``price`` (micro-units)."""

    start: int
    price: int


def parse_tiers(text: str) -> tuple[Tier, ...]:
    """``"60:0.10|300:0.08"``: from second 60 on 0.10 a minute, from second 300 on 0.08."""
    text = (text or "").strip()
    if not text:
        return ()
    tiers: list[Tier] = []
    for part in text.split("|"):
        part = part.strip()
        start_text, sep, price_text = part.partition(":")
        if not sep or not is_digits(start_text.strip()):
            raise RatingError(
                _("Tier “%(part)s” is not SECONDS:PRICE (e.g. 60:0.10).") % {"part": part})
        start = int(start_text)
        if start <= 0:
            raise RatingError(_("A tier starts after second 0."))
        if tiers and start <= tiers[-1].start:
            raise RatingError(_("Tiers must be listed in increasing order of seconds."))
        tiers.append(Tier(start, parse_micro(price_text)))
    return tuple(tiers)


def format_tiers(tiers: Iterable[Tier]) -> str:
    return "|".join(f"{t.start}:{format_micro(t.price)}" for t in tiers)


@dataclass(frozen=True, slots=True)
class Window:
    """Days of the week (0 = Monday) and a local time span in minutes [start, end).

    ``end < start`` spans midnight: it covers the listed days from ``start`` to 24:00 and
    the following days from 00:00 to ``end``.
    """

    days: frozenset[int]
    start: int
    end: int

    def contains(self, weekday: int, minute: int) -> bool:
        if self.start < self.end:
            return weekday in self.days and self.start <= minute < self.end
        if minute >= self.start:
            return weekday in self.days
        return minute < self.end and (weekday - 1) % 7 in self.days


_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")


def _minutes(text: str) -> int:
    m = _TIME.match(text)
    if not m or int(m.group(2)) > 59 or int(m.group(1)) > 24 or (
            int(m.group(1)) == 24 and m.group(2) != "00"):
        raise RatingError(_("“%(text)s” is not a time (HH:MM).") % {"text": text})
    return int(m.group(1)) * 60 + int(m.group(2))


def _days(text: str) -> frozenset[int]:
    days: set[int] = set()
    for part in text.lower().split("+"):
        first, dash, last = part.partition("-")
        try:
            a = DAY_NAMES.index(first.strip()[:3]) if len(first.strip()) >= 3 else -1
            b = DAY_NAMES.index(last.strip()[:3]) if dash else a
        except ValueError:
            a = b = -1
        if a < 0 or b < 0:
            raise RatingError(
                _("“%(text)s” is not a day or range of days (mon-fri, sat+sun).")
                % {"text": part})
        d = a
        days.add(d)
        while d != b:
            d = (d + 1) % 7
            days.add(d)
    return frozenset(days)


def parse_windows(text: str) -> tuple[Window, ...]:
    """``"mon-fri 08:00-18:00|sat+sun"``: when a rate row applies (venue local time)."""
    text = (text or "").strip()
    if not text:
        return ()
    windows: list[Window] = []
    for part in text.split("|"):
        words = part.split()
        days = frozenset(range(7))
        start, end = 0, 24 * 60
        if not words or len(words) > 2:
            raise RatingError(
                _("Time window “%(part)s” is not DAYS HH:MM-HH:MM (e.g. mon-fri 08:00-18:00).")
                % {"part": part.strip()})
        for word in words:
            if ":" in word:
                a, dash, b = word.partition("-")
                if not dash:
                    raise RatingError(
                        _("“%(text)s” is not a time span (HH:MM-HH:MM).") % {"text": word})
                start, end = _minutes(a), _minutes(b)
                if start == end:
                    raise RatingError(_("A time window cannot be empty."))
                if start == 24 * 60:
                    raise RatingError(_("A time window cannot start at 24:00."))
                if end == 24 * 60:
                    end = 24 * 60
            else:
                days = _days(word)
        windows.append(Window(days, start, end))
    return tuple(windows)


def _format_days(days: frozenset[int]) -> str:
    """Runs of consecutive days as ranges: {0,1,2,3,4} → "mon-fri", {0,2} → "mon+wed"."""
    parts, ordered = [], sorted(days)
    start = prev = ordered[0]
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


def format_windows(windows: Iterable[Window]) -> str:
    out = []
    for w in windows:
        days = _format_days(w.days)
        span = f"{w.start // 60:02d}:{w.start % 60:02d}-{w.end // 60:02d}:{w.end % 60:02d}"
        out.append(span if len(w.days) == 7 else f"{days} {span}")
    return "|".join(out)


# --- rate terms -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Terms:
    """One rate row's terms, as rating needs them (amounts in micro-units)."""

    prefix: str
    description: str
    price: int
    connect_fee: int = 0
    min_block: int = 60
    increment: int = 60
    grace: int = 0
    free_seconds: int = 0
    min_cost: int = 0
    tiers: tuple[Tier, ...] = ()
    windows: tuple[Window, ...] = ()
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    rate_id: int | None = None

    def __post_init__(self) -> None:
        if self.increment < 1:
            raise RatingError(_("The increment is at least 1 second."))
        for name in ("min_block", "grace", "free_seconds"):
            if getattr(self, name) < 0:
                raise RatingError(_("Seconds cannot be negative."))
        for name in ("price", "connect_fee", "min_cost"):
            if getattr(self, name) < 0:
                raise RatingError(_("A price cannot be negative."))

    @property
    def conditional(self) -> bool:
        """Applies only at some times (windows) or dates (validity)."""
        return bool(self.windows) or self.valid_from is not None or self.valid_to is not None

    def applies(self, when: dt.datetime | None) -> bool:
        """Whether this row applies to a call starting at ``when`` (venue local time)."""
        if not self.conditional:
            return True
        if when is None:
            return not self.windows and self.valid_from is None and self.valid_to is None
        day = when.date()
        if self.valid_from is not None and day < self.valid_from:
            return False
        if self.valid_to is not None and day > self.valid_to:
            return False
        if self.windows:
            weekday, minute = when.weekday(), when.hour * 60 + when.minute
            return any(w.contains(weekday, minute) for w in self.windows)
        return True

    @property
    def billing(self) -> str:
        """The usual "m/i" notation: "60/60", "30/6", "1/1"."""
        return f"{self.min_block}/{self.increment}"


@dataclass(frozen=True, slots=True)
class Policy:
    """How a deck rounds: the currency's decimals, the rounding mode, the convention."""

    currency: str
    exponent: int
    rounding: str = HALF_UP
    whole_duration: bool = False  # A2Billing/MagnusBilling: round the whole duration up

    def __post_init__(self) -> None:
        if self.rounding not in ROUNDING_MODES:
            raise RatingError(_("Unknown rounding mode %(mode)s.") % {"mode": self.rounding})
        if not 0 <= self.exponent <= MICRO_DIGITS:
            raise RatingError(_("Currencies with more than 6 decimals cannot be rated."))


@dataclass(frozen=True, slots=True)
class Rated:
    """What one call costs; ``cost`` (minor units of ``currency``) is what the ledger posts."""

    duration: int
    billed_seconds: int
    cost: int
    currency: str
    exact: int  # the cost before rounding, in sixtieths of a micro-unit
    terms: Terms | None
    lines: tuple[str, ...] = field(default=())

    @property
    def money(self) -> Money:
        return Money(self.cost, self.currency)


# --- the formula ------------------------------------------------------------------------
def billed_seconds(terms: Terms, duration: int, *, whole_duration: bool = False) -> int:
    """Billed seconds of an answered call of ``duration`` seconds (see the module doc)."""
    if duration <= terms.grace:
        return 0
    d = duration - terms.free_seconds
    if d <= 0:
        return 0
    m, i = terms.min_block, terms.increment
    if d <= m:
        return m
    if whole_duration:
        return -(-d // i) * i
    return m + -(-(d - m) // i) * i


def cost_sixtieths(terms: Terms, billed: int) -> int:
    """``c + r·B/60`` (tiers summed per tier), in sixtieths of a micro-unit, before ``k``."""
    total = terms.connect_fee * 60
    if not terms.tiers:
        return total + terms.price * billed
    start, price = 0, terms.price
    for tier in terms.tiers:
        if billed <= tier.start:
            break
        total += price * (tier.start - start)
        start, price = tier.start, tier.price
    return total + price * (billed - start)


def rate_call(terms: Terms, duration: int, policy: Policy, *, explain: bool = False) -> Rated:
    """Rate one answered call of ``duration`` seconds with ``terms`` under ``policy``."""
    if isinstance(duration, bool) or not isinstance(duration, int) or duration < 0:
        raise RatingError(_("A duration is a whole, non-negative number of seconds."))
    lines: list[str] = []
    say = lines.append if explain else None
    if say:
        say(_("Rate %(prefix)s %(name)s: %(price)s a minute, connect fee %(fee)s, "
              "billing %(billing)s, grace %(grace)d s, free %(free)d s, minimum cost %(min)s.")
            % {"prefix": terms.prefix, "name": terms.description,
               "price": format_micro(terms.price), "fee": format_micro(terms.connect_fee),
               "billing": terms.billing, "grace": terms.grace, "free": terms.free_seconds,
               "min": format_micro(terms.min_cost)})
        if terms.tiers:
            say(_("Tiers (from billed second: price a minute): %(tiers)s.")
                % {"tiers": format_tiers(terms.tiers)})
        if terms.conditional:
            say(_("Applies %(windows)s, valid %(start)s to %(end)s.")
                % {"windows": format_windows(terms.windows) or _("at any time"),
                   "start": terms.valid_from or "…", "end": terms.valid_to or "…"})
    if duration <= terms.grace:
        if say:
            say(_("Answered %(d)d s ≤ grace %(g)d s: the call is free.")
                % {"d": duration, "g": terms.grace})
            say(_("Total: %(total)s %(currency)s.")
                % {"total": _minor_text(0, policy), "currency": policy.currency})
        return Rated(duration, 0, 0, policy.currency, 0, terms, tuple(lines))
    billed = billed_seconds(terms, duration, whole_duration=policy.whole_duration)
    if say:
        after = max(0, duration - terms.free_seconds)
        if terms.free_seconds:
            say(_("Answered %(d)d s − %(f)d free seconds = %(left)d s.")
                % {"d": duration, "f": terms.free_seconds, "left": after})
        else:
            say(_("Answered %(d)d s.") % {"d": duration})
        m, i = terms.min_block, terms.increment
        if after == 0:
            say(_("Nothing left to bill: 0 billed seconds."))
        elif after <= m:
            say(_("%(left)d s ≤ minimum block %(m)d s: %(b)d s billed.")
                % {"left": after, "m": m, "b": billed})
        elif policy.whole_duration:
            say(_("%(left)d s rounded up to a multiple of %(i)d s (whole-duration convention): "
                  "%(b)d s billed.") % {"left": after, "i": i, "b": billed})
        else:
            say(_("Minimum block %(m)d s + %(n)d × %(i)d s increments (for the %(rest)d s "
                  "after the block) = %(b)d s billed.")
                % {"m": m, "n": (billed - m) // i, "i": i, "rest": after - m, "b": billed})
    exact = cost_sixtieths(terms, billed)
    if say:
        _explain_cost(say, terms, billed, exact)
    if exact < terms.min_cost * 60:
        if say:
            say(_("Below the minimum cost %(k)s: charged %(k)s.")
                % {"k": format_micro(terms.min_cost)})
        exact = terms.min_cost * 60
    cost = round_sixtieths(exact, policy.exponent, policy.rounding)
    if say:
        say(_("Rounded once (%(mode)s, %(n)d decimals): %(total)s %(currency)s.")
            % {"mode": policy.rounding.replace("_", "-"), "n": policy.exponent,
               "total": _minor_text(cost, policy), "currency": policy.currency})
    return Rated(duration, billed, cost, policy.currency, exact, terms, tuple(lines))


MAX_TALK_SECONDS = 86_400  # no prepaid call is authorised for longer than a day


def first_charge(terms: Terms, policy: Policy) -> int:
    """What the shortest billed call costs (minor units): connect fee + minimum block
    (after any free seconds), at least the minimum cost. Prepaid credit below this cannot
    pay for any call past the grace period."""
    return rate_call(terms, terms.grace + terms.free_seconds + 1, policy).cost


def max_talk_time(terms: Terms, credit: int, policy: Policy,
                  cap: int = MAX_TALK_SECONDS) -> int:
    """The longest answered duration (s) whose rounded cost fits ``credit`` (minor units);
    0 when the credit cannot pay :func:`first_charge` (the call must be refused).

    Cost never decreases with duration, so this is a binary search over durations: a call
    cut off at the returned time is debited at most ``credit`` — the balance can never go
    negative, connect fee, minimum block and minimum cost included.
    """
    if credit < first_charge(terms, policy):
        return 0
    if rate_call(terms, cap, policy).cost <= credit:
        return cap
    low, high = terms.grace + terms.free_seconds + 1, cap  # cost(low) fits, cost(high) not
    while high - low > 1:
        mid = (low + high) // 2
        if rate_call(terms, mid, policy).cost <= credit:
            low = mid
        else:
            high = mid
    return low


def _explain_cost(say, terms: Terms, billed: int, exact: int) -> None:
    parts = []
    start, price = 0, terms.price
    bounds = [(t.start, t.price) for t in terms.tiers if t.start < billed]
    for tier_start, tier_price in [*bounds, (billed, None)]:
        seconds = tier_start - start
        if seconds > 0 or not parts:
            parts.append(f"{format_micro(price)} × {seconds}/60")
        start, price = tier_start, tier_price if tier_price is not None else price
    say(_("Connect fee %(fee)s + %(parts)s = %(cost)s.")
        % {"fee": format_micro(terms.connect_fee), "parts": " + ".join(parts),
           "cost": _format_sixtieths(exact)})


def _minor_text(minor: int, policy: Policy) -> str:
    if policy.exponent == 0:
        return str(minor)
    whole, frac = divmod(minor, 10**policy.exponent)
    return f"{whole}.{frac:0{policy.exponent}d}"


# --- a compiled rater: the fast path for many calls --------------------------------------
def compile_terms(terms: Terms, policy: Policy):
    """A function ``duration -> (billed seconds, cost in minor units)`` for ``terms``.

    Same result as :func:`rate_call` (a test checks it), with everything that does not
    depend on the duration computed once.
    """
    g, f, m, i = terms.grace, terms.free_seconds, terms.min_block, terms.increment
    c60, r, k60 = terms.connect_fee * 60, terms.price, terms.min_cost * 60
    whole = policy.whole_duration
    div = 60 * 10 ** (MICRO_DIGITS - policy.exponent)
    if terms.tiers or policy.rounding != HALF_UP:
        def rate(duration: int) -> tuple[int, int]:
            if duration <= g:
                return 0, 0
            billed = billed_seconds(terms, duration, whole_duration=whole)
            exact = cost_sixtieths(terms, billed)
            if exact < k60:
                exact = k60
            return billed, round_sixtieths(exact, policy.exponent, policy.rounding)
        return rate
    half = div // 2  # half-up: floor((v + div/2) / div); div is even (a multiple of 60)

    def rate_simple(duration: int) -> tuple[int, int]:
        if duration <= g:
            return 0, 0
        d = duration - f
        if d <= 0:
            billed = 0
        elif d <= m:
            billed = m
        elif whole:
            billed = -(-d // i) * i
        else:
            billed = m + -(-(d - m) // i) * i
        exact = c60 + r * billed
        if exact < k60:
            exact = k60
        return billed, (exact + half) // div
    return rate_simple
