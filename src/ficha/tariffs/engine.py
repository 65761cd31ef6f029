"""The rules of the one pricing engine, shared by café time and Wi-Fi time (pure).

Café time (:mod:`ficha.tariffs.cafe`) and Wi-Fi time and data
(:mod:`ficha.tariffs.pricing`) are priced by the same rules, written once here:

* **Billed time** (:func:`billed_seconds`): 0 for no use; else at least the first block
  ``M``, then whole increments ``N``. A Wi-Fi plan is ``M = 0``.
* **Exact amounts** are integers in ``1/unit`` of a minor unit: café time is counted in
  1/3600 (hourly price × seconds); a Wi-Fi plan, which also prices data per 10^6 bytes,
  in 1/9 000 000 (the least common multiple of 3600 and 10^6). Nothing is rounded on
  its way.
* **Settling** (:func:`settle`): the start fee is added once and the minimum applied to
  any non-empty use (start fee included).
* **Rounded once**, half up, to a whole minor unit (:func:`round_once`).
* **What a credit buys** (:func:`budget`, :func:`affordable`): an exact amount rounds to
  at most ``credit`` iff it is at most ``credit · unit + unit/2 − 1``; the cost grows
  linearly within a piece, so the last affordable unit is one division away.

:class:`Line` and :class:`Charge` explain a price line by line; the café's
:func:`~ficha.tariffs.cafe.price` and the Wi-Fi plan's
:func:`~ficha.tariffs.pricing.explain` write the same kinds of lines with the same words.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.utils.translation import gettext as _

HOUR = 3600
MB = 1_000_000
TIME_UNIT = HOUR  # café exact amounts: 1/3600 minor unit
DATA_UNIT = 9_000_000  # lcm(3600, 10^6): time and data exact amounts together

TIME = "time"
BILLING = "billing"
DATA = "data"
START_FEE = "start_fee"
MINIMUM = "minimum"
ROUNDING = "rounding"


# --- how amounts and durations are written ----------------------------------------------
def day_label(d: int) -> str:
    return [
        _("Monday"),
        _("Tuesday"),
        _("Wednesday"),
        _("Thursday"),
        _("Friday"),
        _("Saturday"),
        _("Sunday"),
    ][d]


def duration_text(seconds: int) -> str:
    h, rest = divmod(seconds, HOUR)
    m, s = divmod(rest, 60)
    parts = []
    if h:
        parts.append(_("%(n)d h") % {"n": h})
    if m or (h and s):
        parts.append(_("%(n)d min") % {"n": m})
    if s or not parts:
        parts.append(_("%(n)d s") % {"n": s})
    return " ".join(parts)


def _exponent(currency: str) -> int:
    if not currency:
        return 2
    from ficha.core.money import exponent

    return exponent(currency)


def format_exact(exact: int, currency: str, unit: int = HOUR) -> str:
    """An amount in 1/unit minor units, in major units, as the active language writes
    money ("F CFA 75", "75 F CFA"; "≈F CFA 0.1667" when not exact: two decimals more
    than the currency has, rounded half up). Without a currency, the number alone."""
    exp = _exponent(currency)
    sign = "-" if exact < 0 else ""
    exact = abs(exact)
    # two more decimals than the currency has, rounded half up
    digits = exp + 2
    scaled, rest = divmod(exact * 100, unit)
    approx = rest != 0
    if approx and rest * 2 >= unit:
        scaled += 1
    whole, frac = divmod(scaled, 10**digits)
    decimals = f"{frac:0{digits}d}"
    # the currency's decimals always when exact; the two extra ones only if not zero
    decimals = decimals[:exp] + decimals[exp:].rstrip("0") if not approx else decimals.rstrip("0")
    text = f"{whole}.{decimals}" if decimals else str(whole)
    if currency:
        from decimal import Decimal

        from ficha.core.money import format_fraction

        text = format_fraction(Decimal(sign + text), currency)
        sign = ""
    return ("≈" if approx else "") + sign + text


def format_minor(minor: int, currency: str) -> str:
    return format_exact(minor * 3600, currency)


# --- billed time --------------------------------------------------------------------------
def billed_seconds(seconds: int, first_block: int, increment: int) -> int:
    """Seconds billed for ``seconds`` of use: 0, else ``M`` if ``seconds ≤ M``, else
    ``M + ⌈(seconds − M) / N⌉ · N``."""
    if seconds <= 0:
        return 0
    if seconds <= first_block:
        return first_block
    return first_block + -(-(seconds - first_block) // increment) * increment


def billed_after(k: int, first_block: int, increment: int) -> int:
    """The k-th possible billed length (k = 0 → 0)."""
    if k <= 0:
        return 0
    return (first_block or increment) + (k - 1) * increment


def longest_billed_within(x: int, first_block: int, increment: int) -> int:
    """The longest billed length ``≤ x`` seconds (0 when even the first block is longer)."""
    first = first_block or increment
    if x < first:
        return 0
    return billed_after(1 + (x - first) // increment, first_block, increment)


# --- money --------------------------------------------------------------------------------
def settle(exact: int, used: bool, start_fee: int, minimum: int, unit: int) -> tuple[int, bool]:
    """``exact`` (1/unit minor units) with the start fee added and raised to the minimum,
    for a non-empty use; nothing for an empty one. Returns (exact, minimum applied)."""
    if not used:
        return exact, False
    exact += start_fee * unit
    if exact < minimum * unit:
        return minimum * unit, True
    return exact, False


def round_once(exact: int, unit: int) -> int:
    """Half up to a whole minor unit (``exact ≥ 0``; ``unit`` even)."""
    return (exact + unit // 2) // unit


def budget(credit: int, unit: int) -> int:
    """The largest exact amount (1/unit minor units) that rounds to at most ``credit``."""
    return credit * unit + unit // 2 - 1


def affordable(limit: int, cost: int, rate: int) -> int:
    """How many units at ``rate`` each fit in ``limit`` after ``cost`` (≥ 0; rate > 0)."""
    return max(-1, (limit - cost) // rate)


# --- explaining a price -------------------------------------------------------------------
@dataclass(frozen=True)
class Line:
    """One line of a charge. ``exact`` is the amount in 1/3600 of a minor unit (an exact
    integer) for café charges — in 1/``unit`` in general; ``amount`` the same in minor
    units as a string with decimals when needed."""

    kind: str  # TIME, BILLING (no amount), DATA, START_FEE, MINIMUM, ROUNDING
    text: str
    exact: int = 0
    rate: str = ""  # price list name (TIME lines)
    step: int = 0  # step index in that price list (TIME lines)
    step_start: int = 0  # elapsed seconds where that step starts
    start: dt.datetime | None = None  # venue-local, TIME lines
    end: dt.datetime | None = None
    seconds: int = 0  # billed seconds in this line
    price_per_hour: int = 0
    unit: int = TIME_UNIT  # ``exact`` is in 1/unit of a minor unit

    @property
    def minutes(self) -> str:
        return duration_text(self.seconds)

    def as_dict(self) -> dict:
        out = {
            "kind": self.kind,
            "text": self.text,
            "exact_3600ths": self.exact,
            "rate": self.rate,
            "step": self.step,
            "step_start": self.step_start,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "seconds": self.seconds,
            "price_per_hour": self.price_per_hour,
        }
        if self.unit != TIME_UNIT:  # a Wi-Fi line (data priced per byte)
            del out["exact_3600ths"]
            out.update(exact=self.exact, unit=self.unit)
        return out


@dataclass(frozen=True)
class Charge:
    total: int  # minor units, rounded once: what is debited
    currency: str
    start: dt.datetime  # venue-local
    seconds: int  # used
    billed_seconds: int
    price_group: str
    lines: tuple[Line, ...] = field(default=())
    exact: int = 0  # 1/3600 minor units after fee and minimum, before rounding
    minimum_applied: bool = False

    def as_dict(self) -> dict:
        return {
            "total": self.total,
            "currency": self.currency,
            "start": self.start.isoformat(),
            "seconds": self.seconds,
            "billed_seconds": self.billed_seconds,
            "price_group": self.price_group,
            "minimum_applied": self.minimum_applied,
            "lines": [line.as_dict() for line in self.lines],
        }


def billing_line(seconds: int, billed: int, first_block: int, increment: int) -> Line:
    if first_block:
        rule = _("first %(m)s, then every %(n)s") % {
            "m": duration_text(first_block),
            "n": duration_text(increment),
        }
    else:
        rule = _("%(n)s steps, rounded up") % {"n": duration_text(increment)}
    return Line(
        BILLING,
        _("Used %(used)s; billed %(billed)s (%(rule)s).")
        % {"used": duration_text(seconds), "billed": duration_text(billed), "rule": rule},
        seconds=billed,
    )


def closing_lines(
    exact: int, used: bool, start_fee: int, minimum: int, currency: str, unit: int = TIME_UNIT
) -> tuple[list[Line], int, bool, int]:
    """The start fee, minimum and rounding lines after the time (and data) lines that sum
    to ``exact``. Returns (lines, exact after fee and minimum, minimum applied, total)."""
    lines: list[Line] = []
    if used and start_fee:
        exact += start_fee * unit
        lines.append(
            Line(
                START_FEE,
                _("Start fee: %(fee)s") % {"fee": format_minor(start_fee, currency)},
                start_fee * unit,
                unit=unit,
            )
        )
    minimum_applied = False
    if used and exact < minimum * unit:
        top_up = minimum * unit - exact
        lines.append(
            Line(
                MINIMUM,
                _("Raised to the minimum of %(min)s: + %(diff)s")
                % {
                    "min": format_minor(minimum, currency),
                    "diff": format_exact(top_up, currency, unit),
                },
                top_up,
                unit=unit,
            )
        )
        exact = minimum * unit
        minimum_applied = True
    result = round_once(exact, unit)
    if result * unit != exact:
        lines.append(
            Line(
                ROUNDING,
                _("Rounded once, half up: %(exact)s → %(total)s")
                % {
                    "exact": format_exact(exact, currency, unit),
                    "total": format_minor(result, currency),
                },
                result * unit - exact,
                unit=unit,
            )
        )
    return lines, exact, minimum_applied, result
