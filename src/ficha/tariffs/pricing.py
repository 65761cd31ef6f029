"""The price of time and data: one engine for café time and Wi-Fi time (pure, no database).

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

Cumulative billing (hotspot accounting, café sessions) charges ``charge(total usage)``
and debits the difference to what was already charged: one rounding per session, not one
per interim update, so the sum of debits is exactly the price of the whole usage.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext

from django.utils.translation import gettext as _

HOUR = 3600
MB = 1_000_000
MAX_PRICE = 10**12  # minor units: refuse anything larger (a typo, not a price)
MAX_INCREMENT = 24 * HOUR
# A credit never buys more than this many seconds (about 68 years): keeps searches short.
MAX_SECONDS = 2**31 - 1
MAX_OCTETS = 2**63 - 1


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
    seconds = _usage(seconds, "seconds")
    inc = tariff.increment
    return -(-seconds // inc) * inc


def exact_cost(tariff: Tariff, seconds: int = 0, octets: int = 0) -> Decimal:
    """The cost before the single rounding, in minor units (exact)."""
    billed = billed_seconds(tariff, seconds)
    octets = _usage(octets, "octets")
    # Numerators are integers: one exact division each, with precision to spare.
    with localcontext() as ctx:
        ctx.prec = 60
        cost = (Decimal(tariff.price_per_hour * billed) / HOUR
                + Decimal(tariff.price_per_mb * octets) / MB)
        if (billed or octets) and cost < tariff.minimum:
            cost = Decimal(tariff.minimum)
        return cost


def charge(tariff: Tariff, seconds: int = 0, octets: int = 0) -> int:
    """What ``seconds`` of time and ``octets`` of data cost, in minor units, rounded once."""
    with localcontext() as ctx:
        ctx.prec = 60
        return int(exact_cost(tariff, seconds, octets).quantize(Decimal(1), ROUND_HALF_UP))


@dataclass(frozen=True)
class Breakdown:
    """How a price was computed, to show the customer (rounding disputes)."""

    seconds: int
    billed_seconds: int
    octets: int
    time_cost: Decimal
    data_cost: Decimal
    minimum_applied: bool
    total: int


def explain(tariff: Tariff, seconds: int = 0, octets: int = 0) -> Breakdown:
    billed = billed_seconds(tariff, seconds)
    octets = _usage(octets, "octets")
    with localcontext() as ctx:
        ctx.prec = 60
        time_cost = Decimal(tariff.price_per_hour * billed) / HOUR
        data_cost = Decimal(tariff.price_per_mb * octets) / MB
        minimum = bool(billed or octets) and time_cost + data_cost < tariff.minimum
    return Breakdown(max(0, seconds), billed, octets, time_cost, data_cost, minimum,
                     charge(tariff, seconds, octets))


def _largest(fits, hi: int, guess: int | None = None) -> int:
    """The largest n in [0, hi] with fits(n), for a monotone ``fits`` with fits(0).
    A ``guess`` near the answer (checked, never trusted) narrows the search first: when
    it is the answer, two calls of ``fits`` decide instead of log2(hi)."""
    lo = 0
    if guess is not None:
        guess = min(guess, hi)
    if guess is not None and guess > 0:
        if fits(guess):
            if guess == hi or not fits(guess + 1):
                return guess
            lo = guess + 1
        else:
            hi = guess - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def seconds_for(tariff: Tariff, credit: int, *, octets: int = 0) -> int | None:
    """The most seconds ``credit`` buys (a multiple of the increment), with ``octets``
    of data already used counted in; ``None`` when time is free (no limit from money).

    ``charge(s, octets) ≤ credit`` and ``charge(s + increment, octets) > credit``
    (unless ``s`` reached :data:`MAX_SECONDS`). 0 when the credit does not even cover
    the minimum charge.
    """
    credit = _usage(credit, "credit")
    octets = _usage(octets, "octets")
    inc = tariff.increment
    if not tariff.charges_time:
        return None if charge(tariff, inc, octets) <= credit else 0
    # Past this many increments the exact cost exceeds credit + 1 whatever the rounding.
    per_inc = tariff.price_per_hour * inc
    hi = min(((credit + 1) * HOUR) // per_inc + 2, MAX_SECONDS // inc)
    # The time a credit buys without rounding, minimum or data: usually the answer.
    data = tariff.price_per_mb * octets // MB
    guess = max(0, (credit - data) * HOUR // per_inc)
    n = _largest(lambda k: charge(tariff, k * inc, octets) <= credit, hi, guess)
    return n * inc


def octets_for(tariff: Tariff, credit: int, *, seconds: int = 0) -> int | None:
    """The most bytes ``credit`` buys with ``seconds`` of time already used counted in;
    ``None`` when data is free. ``charge(seconds, b) ≤ credit < charge(seconds, b + 1)``."""
    credit = _usage(credit, "credit")
    seconds = _usage(seconds, "seconds")
    if not tariff.charges_data:
        return None if charge(tariff, seconds, 1) <= credit else 0
    hi = min(((credit + 1) * MB) // tariff.price_per_mb + 2, MAX_OCTETS)
    spent = tariff.price_per_hour * billed_seconds(tariff, seconds) // HOUR
    guess = max(0, (credit - spent) * MB // tariff.price_per_mb)
    return _largest(lambda b: charge(tariff, seconds, b) <= credit, hi, guess)
