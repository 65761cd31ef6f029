"""The price of Wi-Fi time and data: the hotspot's face of the one pricing engine (pure).

A :class:`Tariff` holds integers only: a price per hour and a price per megabyte
(10^6 bytes) in the currency's minor units, a minimum charge in minor units, and a
billing increment in seconds. The cost of a usage (``seconds``, ``octets``) is

* billed seconds ``B = ceil(seconds / increment) · increment`` (0 for no time);
* exact cost ``price_per_hour · B / 3600 + price_per_mb · octets / 10^6`` — kept as an
  exact fraction (``Decimal`` with enough precision, never a float);
* if anything was used at all, at least the minimum charge;
* rounded **once**, half up, to a whole minor unit.

``charge`` is monotone: more time or more data never costs less. :func:`seconds_for`
answers "how many seconds does this credit buy" with the same function, so for the
answer ``s`` (a multiple of the increment) ``charge(s) ≤ credit`` and
``charge(s + increment) > credit``. :func:`octets_for` does the same for data.

The rules (billed time, minimum, one half-up rounding, what a credit buys) are
:mod:`ficha.tariffs.engine`'s, the same the café uses: a plan is the café's flat case —
one price list, no bands, no steps, no first block, no start fee
(:func:`ficha.tariffs.cafe.from_time_tariff`) — plus a price per megabyte. Exact amounts
are integers in 1/9 000 000 of a minor unit (time and data together), so nothing here
needs ``Decimal`` except :func:`explain`'s fields.

Cumulative billing (hotspot accounting, café sessions) charges ``charge(total usage)``
and debits the difference to what was already charged: one rounding per session, not one
per interim update, so the sum of debits is exactly the price of the whole usage.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, localcontext

from django.utils.translation import gettext as _

from . import engine
from .engine import DATA_UNIT, MB, Line

HOUR = 3600
MAX_PRICE = 10**12  # minor units: refuse anything larger (a typo, not a price)
MAX_INCREMENT = 24 * HOUR
# A credit never buys more than this many seconds (about 68 years): keeps searches short.
MAX_SECONDS = 2**31 - 1
MAX_OCTETS = 2**63 - 1
TIME_SCALE = DATA_UNIT // HOUR  # price an hour × seconds → 1/DATA_UNIT minor units
DATA_SCALE = DATA_UNIT // MB  # price per MB × bytes → 1/DATA_UNIT minor units


class TariffError(ValueError):
    """A price or setting that cannot be used for charging; the message is for people."""


@dataclass(frozen=True)
class Tariff:
    price_per_hour: int = 0  # minor units per hour of (billed) time
    price_per_mb: int = 0  # minor units per 10^6 bytes
    minimum: int = 0  # minor units: the least a non-empty usage costs
    increment: int = 60  # seconds: time is billed in whole increments

    def __post_init__(self):
        for name in ("price_per_hour", "price_per_mb", "minimum"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TariffError(f"{name} must be an integer of minor units")
            if value < 0 or value > MAX_PRICE:
                raise TariffError(_("A price must be between 0 and %(max)s.")
                                  % {"max": MAX_PRICE})
        inc = self.increment
        if isinstance(inc, bool) or not isinstance(inc, int) or not 1 <= inc <= MAX_INCREMENT:
            raise TariffError(_("The billing increment must be between 1 second and 24 hours."))
        # The compiled form the hot path uses: prices scaled to the exact unit once.
        object.__setattr__(self, "_time_rate", self.price_per_hour * TIME_SCALE)
        object.__setattr__(self, "_data_rate", self.price_per_mb * DATA_SCALE)

    @property
    def charges_time(self) -> bool:
        return self.price_per_hour > 0

    @property
    def charges_data(self) -> bool:
        return self.price_per_mb > 0

    @property
    def is_free(self) -> bool:
        return not (self.price_per_hour or self.price_per_mb or self.minimum)


def _usage(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TariffError(f"{name} must be an integer")
    return max(0, value)


def billed_seconds(tariff: Tariff, seconds: int) -> int:
    """Seconds charged for ``seconds`` of use: rounded up to whole increments."""
    return engine.billed_seconds(_usage(seconds, "seconds"), 0, tariff.increment)


def _exact(tariff: Tariff, seconds, octets) -> tuple[int, int, int, bool]:
    """(billed seconds, octets, exact cost in 1/DATA_UNIT after the minimum, minimum
    applied)."""
    billed = engine.billed_seconds(_usage(seconds, "seconds"), 0, tariff.increment)
    octets = _usage(octets, "octets")
    exact, minimum = engine.settle(tariff._time_rate * billed + tariff._data_rate * octets,
                                   bool(billed or octets), 0, tariff.minimum, DATA_UNIT)
    return billed, octets, exact, minimum


def exact_cost(tariff: Tariff, seconds: int = 0, octets: int = 0) -> Decimal:
    """The cost before the single rounding, in minor units (exact)."""
    with localcontext() as ctx:
        ctx.prec = 60
        return Decimal(_exact(tariff, seconds, octets)[2]) / DATA_UNIT


def charge(tariff: Tariff, seconds: int = 0, octets: int = 0) -> int:
    """What ``seconds`` of time and ``octets`` of data cost, in minor units, rounded once."""
    return engine.round_once(_exact(tariff, seconds, octets)[2], DATA_UNIT)


@dataclass(frozen=True)
class Breakdown:
    """How a price was computed, to show the customer (rounding disputes). ``lines`` are
    the café's :class:`~ficha.tariffs.engine.Line` kinds and words (amounts in
    1/9 000 000 of a minor unit, ``unit``)."""

    seconds: int
    billed_seconds: int
    octets: int
    time_cost: Decimal
    data_cost: Decimal
    minimum_applied: bool
    total: int
    lines: tuple[Line, ...] = ()

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


def _megabytes(octets: int) -> str:
    """Octets in megabytes, exactly, as the active language writes numbers."""
    from ficha.core.money import format_quantity

    whole, frac = divmod(octets, MB)
    return format_quantity(Decimal(f"{whole}.{frac:06d}".rstrip("0").rstrip(".")))


def explain(tariff: Tariff, seconds: int = 0, octets: int = 0, currency: str = ""
            ) -> Breakdown:
    """:func:`charge` line by line, as the café's charges are written."""
    billed, octets, _e, _m = _exact(tariff, seconds, octets)
    seconds = max(0, seconds)
    time_exact = tariff._time_rate * billed
    data_exact = tariff._data_rate * octets
    with localcontext() as ctx:
        ctx.prec = 60
        time_cost = Decimal(time_exact) / DATA_UNIT
        data_cost = Decimal(data_exact) / DATA_UNIT
    lines: list[Line] = []
    if billed:
        lines.append(engine.billing_line(seconds, billed, 0, tariff.increment))
        if tariff.charges_time:
            lines.append(Line(engine.TIME, _("Time: %(dur)s × %(price)s an hour = %(amount)s")
                              % {"dur": engine.duration_text(billed),
                                 "price": engine.format_minor(tariff.price_per_hour, currency),
                                 "amount": engine.format_exact(time_exact, currency,
                                                               DATA_UNIT)},
                              time_exact, seconds=billed,
                              price_per_hour=tariff.price_per_hour, unit=DATA_UNIT))
    if octets and tariff.charges_data:
        lines.append(Line(engine.DATA, _("Data: %(mb)s MB × %(price)s per MB = %(amount)s")
                          % {"mb": _megabytes(octets),
                             "price": engine.format_minor(tariff.price_per_mb, currency),
                             "amount": engine.format_exact(data_exact, currency, DATA_UNIT)},
                          data_exact, unit=DATA_UNIT))
    closing, _exact_total, minimum, total = engine.closing_lines(
        time_exact + data_exact, bool(billed or octets), 0, tariff.minimum, currency,
        DATA_UNIT)
    return Breakdown(seconds, billed, octets, time_cost, data_cost, minimum, total,
                     tuple(lines + closing))


def seconds_for(tariff: Tariff, credit: int, *, octets: int = 0) -> int | None:
    """The most seconds ``credit`` buys (a multiple of the increment), with ``octets``
    of data already used counted in; ``None`` when time is free (no limit from money).

    ``charge(s, octets) ≤ credit`` and ``charge(s + increment, octets) > credit``
    (unless ``s`` reached :data:`MAX_SECONDS`). 0 when the credit does not even cover
    the minimum charge. One division (:func:`ficha.tariffs.engine.budget`), as the café's.
    """
    credit = _usage(credit, "credit")
    octets = _usage(octets, "octets")
    inc = tariff.increment
    if not tariff.charges_time:
        return None if charge(tariff, inc, octets) <= credit else 0
    if tariff.minimum > credit:
        return 0
    limit = engine.budget(credit, DATA_UNIT) - tariff._data_rate * octets
    if limit < 0:
        return 0
    last = limit // tariff._time_rate  # the last affordable second
    return min(engine.longest_billed_within(last, 0, inc), MAX_SECONDS // inc * inc)


def octets_for(tariff: Tariff, credit: int, *, seconds: int = 0) -> int | None:
    """The most bytes ``credit`` buys with ``seconds`` of time already used counted in;
    ``None`` when data is free. ``charge(seconds, b) ≤ credit < charge(seconds, b + 1)``."""
    credit = _usage(credit, "credit")
    seconds = _usage(seconds, "seconds")
    if not tariff.charges_data:
        return None if charge(tariff, seconds, 1) <= credit else 0
    if tariff.minimum > credit:
        return 0
    billed = engine.billed_seconds(seconds, 0, tariff.increment)
    limit = engine.budget(credit, DATA_UNIT) - tariff._time_rate * billed
    if limit < 0:
        return 0
    return min(limit // tariff._data_rate, MAX_OCTETS)
