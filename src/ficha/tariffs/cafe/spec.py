"""The tariff spec: price lists, steps, bands and billing rules (plain data, validated).

A :class:`TariffSpec` says what time at a station costs. It is plain data (integers,
strings, tuples) and never touches the database; :mod:`ficha.tariffs.services` builds one
from the stored tariff of a station group. Pricing it is :mod:`.rating`.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property

from django.utils.translation import gettext as _

from .text import day_label

HOUR = 3600
DAY = 86400
WEEK = 7 * DAY
GUEST = "guest"  # the price every group without its own price pays
MEMBER = "member"
MAX_PRICE = 10**12  # minor units an hour: refuse anything larger (a typo, not a price)
MAX_BLOCK = DAY  # first block and increment: at most a day
MAX_SESSION = 366 * DAY  # price() refuses longer sessions
MAX_SECONDS = 31 * DAY  # seconds_for() never answers more (a credit lasting a month)
MAX_STEPS = 24
MAX_RATES = 24
MAX_BANDS = 100
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
UTC = dt.UTC


class TariffError(ValueError):
    """A tariff that cannot be used for pricing; the message is for people."""


def _int(value, what: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise TariffError(_("%(what)s must be a whole number from %(lo)s to %(hi)s.")
                          % {"what": what, "lo": lo, "hi": hi})
    return value


# --- the spec -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    """From ``start`` seconds of elapsed session time on, these hourly prices apply.

    ``prices`` maps a price group (``accounts.Customer.PriceGroup`` value, or a custom
    group's name) to minor units per hour; ``"guest"`` is required and is what every
    other group pays unless it has its own price.
    """

    start: int
    prices: Mapping[str, int]

    def __post_init__(self):
        _int(self.start, _("A step's start"), 0, MAX_SESSION)
        if GUEST not in self.prices:
            raise TariffError(_("Every price needs a guest price (what everyone else pays)."))
        for group, value in self.prices.items():
            if not isinstance(group, str) or not group.strip() or len(group) > 60:
                raise TariffError(_("A price group is a name of 1 to 60 characters."))
            _int(value, _("An hourly price"), 0, MAX_PRICE)
        object.__setattr__(self, "prices", dict(self.prices))

    def price(self, group: str) -> int:
        return self.prices.get(group, self.prices[GUEST])


@dataclass(frozen=True)
class Rate:
    """A named price list ("day", "night"): hourly prices by elapsed-time step."""

    name: str
    steps: tuple[Step, ...]

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.strip() or len(self.name) > 40 \
                or any(c.isspace() for c in self.name):
            raise TariffError(_("A price list's name is one word of 1 to 40 characters."))
        steps = tuple(self.steps)
        object.__setattr__(self, "steps", steps)
        if not steps or len(steps) > MAX_STEPS:
            raise TariffError(_("Price list %(name)s needs 1 to %(n)d steps.")
                              % {"name": self.name, "n": MAX_STEPS})
        if steps[0].start != 0:
            raise TariffError(_("The first step of price list %(name)s must start at 0.")
                              % {"name": self.name})
        for a, b in zip(steps, steps[1:], strict=False):
            if b.start <= a.start:
                raise TariffError(_("The steps of price list %(name)s must start later and "
                                    "later.") % {"name": self.name})

    def step_at(self, elapsed: int) -> int:
        """Index of the step that applies after ``elapsed`` seconds."""
        i = 0
        for k, step in enumerate(self.steps):
            if step.start <= elapsed:
                i = k
        return i


@dataclass(frozen=True)
class Band:
    """On ``days`` (0 = Monday) from minute ``start`` to minute ``end`` of the day, the
    price list ``rate`` applies. ``end ≤ start`` spans midnight (into the next day);
    ``start = 0, end = 1440`` is the whole day."""

    days: frozenset[int]
    start: int
    end: int
    rate: str

    def __post_init__(self):
        object.__setattr__(self, "days", frozenset(self.days))
        if not self.days or not self.days <= set(range(7)):
            raise TariffError(_("A band needs at least one day of the week."))
        _int(self.start, _("A band's start minute"), 0, 1439)
        _int(self.end, _("A band's end minute"), 0, 1440)

    def minutes_of_week(self) -> Iterable[tuple[int, int]]:
        """[from, to) spans in minutes of the week (Monday 00:00 = 0)."""
        length = self.end - self.start if self.end > self.start else 1440 - self.start + self.end
        for d in sorted(self.days):
            a = d * 1440 + self.start
            b = a + length
            if b <= 7 * 1440:
                yield a, b
            else:  # Sunday night into Monday morning
                yield a, 7 * 1440
                yield 0, b - 7 * 1440


@dataclass(frozen=True)
class TariffSpec:
    """Everything needed to price café time. Amounts in minor units of ``currency``."""

    rates: tuple[Rate, ...]
    fallback: str  # the price list where no band applies
    bands: tuple[Band, ...] = ()
    first_block: int = 0  # seconds: M ("the first M minutes"), 0 = none
    increment: int = 60  # seconds: N ("then every N minutes")
    start_fee: int = 0  # added once to any non-empty session
    minimum: int = 0  # the least a non-empty session costs (start fee included)
    currency: str = ""
    time_zone: str = "UTC"
    name: str = ""

    def __post_init__(self):
        object.__setattr__(self, "rates", tuple(self.rates))
        object.__setattr__(self, "bands", tuple(self.bands))
        if not self.rates or len(self.rates) > MAX_RATES:
            raise TariffError(_("A tariff needs 1 to %(n)d price lists.") % {"n": MAX_RATES})
        names = [r.name for r in self.rates]
        if len(set(names)) != len(names):
            raise TariffError(_("Two price lists have the same name."))
        if self.fallback not in names:
            raise TariffError(_("The fallback price list %(name)s does not exist.")
                              % {"name": self.fallback})
        if len(self.bands) > MAX_BANDS:
            raise TariffError(_("A tariff has at most %(n)d bands.") % {"n": MAX_BANDS})
        for band in self.bands:
            if band.rate not in names:
                raise TariffError(_("A band uses the price list %(name)s, which does not "
                                    "exist.") % {"name": band.rate})
        _int(self.first_block, _("The first block (seconds)"), 0, MAX_BLOCK)
        _int(self.increment, _("The increment (seconds)"), 1, MAX_BLOCK)
        _int(self.start_fee, _("The start fee"), 0, MAX_PRICE)
        _int(self.minimum, _("The minimum"), 0, MAX_PRICE)
        try:
            zoneinfo.ZoneInfo(str(self.time_zone))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise TariffError(_("Unknown time zone.")) from None
        self._week  # noqa: B018 — overlapping bands are refused here, not at first use

    # --- derived, cached ----------------------------------------------------------------
    @cached_property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)

    @cached_property
    def _rate_index(self) -> dict[str, int]:
        return {r.name: i for i, r in enumerate(self.rates)}

    @cached_property
    def _week(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Change points of the week: (starts in seconds of the week, rate indexes)."""
        fallback = self._rate_index[self.fallback]
        spans = sorted((a, b, self._rate_index[band.rate])
                       for band in self.bands for a, b in band.minutes_of_week())
        for (_a1, b1, _i), (a2, _b2, _j) in zip(spans, spans[1:], strict=False):
            if a2 < b1:
                d, hm = divmod(a2, 1440)
                raise TariffError(
                    _("Two bands overlap on %(day)s at %(time)s.")
                    % {"day": day_label(d), "time": f"{hm // 60:02d}:{hm % 60:02d}"})
        starts: list[int] = []
        idxs: list[int] = []

        def put(minute: int, idx: int) -> None:
            if idxs and idxs[-1] == idx:
                return
            if starts and starts[-1] == minute * 60:
                starts.pop()
                idxs.pop()
                if idxs and idxs[-1] == idx:
                    return
            starts.append(minute * 60)
            idxs.append(idx)

        at = 0
        for a, b, idx in spans:
            if a > at:
                put(at, fallback)
            put(a, idx)
            at = b
        if at < 7 * 1440:
            put(at, fallback)
        return tuple(starts), tuple(idxs)

    def rate_at_week_second(self, sow: int) -> tuple[int, int]:
        """(rate index, seconds until the rate may change) at second ``sow`` of the week."""
        starts, idxs = self._week
        k = bisect_right(starts, sow) - 1
        nxt = starts[k + 1] if k + 1 < len(starts) else WEEK
        return idxs[k], nxt - sow

    def grid(self) -> list[list[str]]:
        """The price list name for each day (7 rows) and hour (24 columns), at hh:00."""
        return [[self.rates[self.rate_at_week_second(d * DAY + h * HOUR)[0]].name
                 for h in range(24)] for d in range(7)]

    @property
    def charges_time(self) -> bool:
        return any(p for r in self.rates for s in r.steps for p in s.prices.values())

    def billed_seconds(self, seconds: int) -> int:
        if seconds <= 0:
            return 0
        m, n = self.first_block, self.increment
        if seconds <= m:
            return m
        return m + -(-(seconds - m) // n) * n

    def billed_after(self, k: int) -> int:
        """The k-th possible billed length (k = 0 → 0)."""
        if k <= 0:
            return 0
        first = self.first_block or self.increment
        return first + (k - 1) * self.increment

    def group_prices(self) -> set[str]:
        return {g for r in self.rates for s in r.steps for g in s.prices}


def simple(price_per_hour: int, *, member: int | None = None, first_block: int = 0,
           increment: int = 60, start_fee: int = 0, minimum: int = 0, currency: str = "",
           time_zone: str = "UTC", name: str = "") -> TariffSpec:
    """One price list, no bands, no steps: ``price_per_hour`` for guests."""
    prices = {GUEST: price_per_hour}
    if member is not None:
        prices[MEMBER] = member
    return TariffSpec(rates=(Rate("standard", (Step(0, prices),)),), fallback="standard",
                      first_block=first_block, increment=increment, start_fee=start_fee,
                      minimum=minimum, currency=currency, time_zone=time_zone, name=name)


def from_time_tariff(tariff, *, currency: str = "", time_zone: str = "UTC") -> TariffSpec:
    """The spec that prices time as the hotspot's :class:`ficha.tariffs.pricing.Tariff`
    does (its per-hour price, increment and minimum; data is not café time): for any
    ``seconds``, ``total(spec, start, seconds) == pricing.charge(tariff, seconds)``."""
    return simple(tariff.price_per_hour, increment=tariff.increment, minimum=tariff.minimum,
                  currency=currency, time_zone=time_zone)
