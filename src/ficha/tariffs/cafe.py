"""Café time tariffs: bands, steps, rounding, price groups (pure, no database).

A :class:`TariffSpec` says what time at a station costs. It is plain data (integers,
strings, tuples) and never touches the database; :mod:`ficha.tariffs.services` builds one
from the stored tariff of a station group (:func:`~ficha.tariffs.services.spec_for`).

The price of a session that started at ``start`` and lasted ``seconds``
(:func:`price`) is computed like this:

1. **Billed time.** ``B = 0`` for no time; else at least the first block ``M`` (the
   "first M minutes"), then whole increments ``N`` ("then every N minutes"):
   ``B = M`` if ``seconds ≤ M``, else ``M + ceil((seconds − M) / N) · N``. With ``M = 0``,
   ``B = ceil(seconds / N) · N``.
2. **Time cost.** The billed interval ``[start, start + B)`` is cut where the price
   changes: at band boundaries (weekday × time of day in the venue's time zone; where no
   band applies, the fallback price list) and at step boundaries (elapsed time since the
   start: "from 30 minutes on"). Each piece costs ``hourly price · seconds / 3600`` for
   the customer's price group (a group without its own price pays the guest price). The
   pieces are summed exactly (integers in 1/3600 of a minor unit).
3. **Start fee** (added once to any non-empty session) and **minimum** (the least a
   non-empty session costs, start fee included).
4. **Rounded once**, half up, to a whole minor unit.

Every step is a line of the :class:`Charge`, so the console and the station agent show a
customer how the total was computed. The exact line amounts plus the rounding line sum
to the total.

**Monotone.** More time never costs less: ``B`` grows with ``seconds``, every piece's
price is ≥ 0 and the minimum and the rounding are monotone.

**Cumulative metering.** A running session is metered by pricing the whole elapsed
time and debiting the difference to what was already debited (:func:`due`):
``debit_k = price(t_k) − price(t_{k−1})``. Debits are never negative (monotone) and
their sum is exactly ``price(t_last)`` — one rounding per session, not one per minute.

:func:`seconds_for` answers "how long does this credit last from ``start``", crossing
bands and steps: the answer ``s`` is a billed length, so ``price(s) ≤ credit`` and
``price(s + 1) > credit`` (unless capped at :data:`MAX_SECONDS`).

Time zones: bands are in the venue's wall-clock time (``time_zone``). ``start`` must be
an aware datetime (any zone); it is converted to the venue's. In a zone with daylight
saving, the skipped or repeated hour is priced by the band its wall time falls in.
Sub-second parts of ``start`` are dropped.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

from django.utils.translation import gettext as _

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


def day_label(d: int) -> str:
    return [_("Monday"), _("Tuesday"), _("Wednesday"), _("Thursday"), _("Friday"),
            _("Saturday"), _("Sunday")][d]


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


# --- the charge -----------------------------------------------------------------------------
TIME = "time"
BILLING = "billing"
START_FEE = "start_fee"
MINIMUM = "minimum"
ROUNDING = "rounding"


@dataclass(frozen=True)
class Line:
    """One line of a charge. ``exact`` is the amount in 1/3600 of a minor unit (an exact
    integer); ``amount`` the same in minor units as a string with decimals when needed."""

    kind: str  # TIME, BILLING (explains the billed time; no amount), START_FEE, MINIMUM, ROUNDING
    text: str
    exact: int = 0
    rate: str = ""  # price list name (TIME lines)
    step: int = 0  # step index in that price list (TIME lines)
    step_start: int = 0  # elapsed seconds where that step starts
    start: dt.datetime | None = None  # venue-local, TIME lines
    end: dt.datetime | None = None
    seconds: int = 0  # billed seconds in this line
    price_per_hour: int = 0

    @property
    def minutes(self) -> str:
        return duration_text(self.seconds)

    def as_dict(self) -> dict:
        return {"kind": self.kind, "text": self.text, "exact_3600ths": self.exact,
                "rate": self.rate, "step": self.step, "step_start": self.step_start,
                "start": self.start.isoformat() if self.start else None,
                "end": self.end.isoformat() if self.end else None,
                "seconds": self.seconds, "price_per_hour": self.price_per_hour}


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
        return {"total": self.total, "currency": self.currency,
                "start": self.start.isoformat(), "seconds": self.seconds,
                "billed_seconds": self.billed_seconds, "price_group": self.price_group,
                "minimum_applied": self.minimum_applied,
                "lines": [line.as_dict() for line in self.lines]}


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


def format_exact(exact: int, currency: str) -> str:
    """An amount in 1/3600 minor units, in major units ("≈0.1667" when not exact)."""
    exp = _exponent(currency)
    sign = "-" if exact < 0 else ""
    exact = abs(exact)
    # two more decimals than the currency has, rounded half up
    digits = exp + 2
    scaled, rest = divmod(exact * 100, 3600)
    approx = rest != 0
    if approx and rest * 2 >= 3600:
        scaled += 1
    whole, frac = divmod(scaled, 10**digits)
    text = f"{whole}.{frac:0{digits}d}" if digits else str(whole)
    if not approx:  # drop the two extra zeros
        text = text[:-2] if exp else str(whole)
    elif text.endswith("0") and "." in text:
        text = text.rstrip("0").rstrip(".")
    return ("≈" if approx else "") + sign + text + (f" {currency}" if currency else "")


def format_minor(minor: int, currency: str) -> str:
    return format_exact(minor * 3600, currency)


def _local(spec: TariffSpec, start: dt.datetime) -> dt.datetime:
    if not isinstance(start, dt.datetime) or start.tzinfo is None \
            or start.utcoffset() is None:
        raise TariffError("start must be an aware datetime")
    return start.replace(microsecond=0).astimezone(spec.tz)


def _pieces(spec: TariffSpec, start_utc: dt.datetime, end: int):
    """(from, to, rate index, step index) pieces of [0, end) elapsed seconds, in order;
    consecutive pieces may share a price list and step (see :func:`_segments`)."""
    tz = spec.tz
    t = 0
    while t < end:
        local = (start_utc + dt.timedelta(seconds=t)).astimezone(tz)
        sow = local.weekday() * DAY + local.hour * HOUR + local.minute * 60 + local.second
        idx, until = spec.rate_at_week_second(sow)
        nxt = t + until
        if until < WEEK:  # wall-clock distance; fix it for an offset change (DST)
            later = (start_utc + dt.timedelta(seconds=nxt)).astimezone(tz)
            nxt -= int((later.utcoffset() - local.utcoffset()).total_seconds())
            if nxt <= t:
                nxt = t + 1
        rate = spec.rates[idx]
        k = rate.step_at(t)
        if k + 1 < len(rate.steps):
            nxt = min(nxt, rate.steps[k + 1].start)
        b = min(nxt, end)
        yield t, b, idx, k
        t = b


def _segments(spec: TariffSpec, start_utc: dt.datetime, billed: int) -> list[list[int]]:
    """The pieces of [0, billed), neighbours with the same price list and step merged."""
    out: list[list[int]] = []
    for a, b, idx, k in _pieces(spec, start_utc, billed):
        if out and out[-1][2] == idx and out[-1][3] == k:
            out[-1][1] = b
        else:
            out.append([a, b, idx, k])
    return out


def _check(seconds, group) -> None:
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
        raise TariffError(_("A duration is a whole, non-negative number of seconds."))
    if seconds > MAX_SESSION:
        raise TariffError(_("A session cannot be priced beyond a year."))
    if not isinstance(group, str):
        raise TariffError("price_group must be a str")


def _cost(spec: TariffSpec, start_utc: dt.datetime, seconds: int, group: str) -> int:
    """The exact cost of ``seconds`` in 1/3600 minor units after fee and minimum."""
    billed = spec.billed_seconds(seconds)
    if not billed:
        return 0
    total = spec.start_fee * HOUR
    for a, b, idx, k in _pieces(spec, start_utc, billed):
        total += spec.rates[idx].steps[k].price(group) * (b - a)
    return max(total, spec.minimum * HOUR)


def _round(exact: int) -> int:
    return (exact + HOUR // 2) // HOUR  # half up; never negative


def total(spec: TariffSpec, start: dt.datetime, seconds: int, price_group: str = GUEST) -> int:
    """Just the rounded total of :func:`price` (no lines): for metering loops."""
    _check(seconds, price_group)
    return _round(_cost(spec, _local(spec, start).astimezone(UTC), seconds, price_group))


def price(spec: TariffSpec, start: dt.datetime, seconds: int,
          price_group: str = GUEST) -> Charge:
    """What ``seconds`` from ``start`` cost for ``price_group``, line by line."""
    _check(seconds, price_group)
    local = _local(spec, start)
    start_utc = local.astimezone(UTC)
    billed = spec.billed_seconds(seconds)
    cur = spec.currency
    lines: list[Line] = []
    if billed:
        if spec.first_block:
            rule = _("first %(m)s, then every %(n)s") % {
                "m": duration_text(spec.first_block), "n": duration_text(spec.increment)}
        else:
            rule = _("every %(n)s started") % {"n": duration_text(spec.increment)}
        lines.append(Line(BILLING, _("Used %(used)s; billed %(billed)s (%(rule)s).") % {
            "used": duration_text(seconds), "billed": duration_text(billed), "rule": rule},
            seconds=billed))
    exact = 0
    for a, b, idx, k in _segments(spec, start_utc, billed) if billed else ():
        rate = spec.rates[idx]
        step = rate.steps[k]
        pph = step.price(price_group)
        amount = pph * (b - a)
        exact += amount
        t0 = (start_utc + dt.timedelta(seconds=a)).astimezone(spec.tz)
        t1 = (start_utc + dt.timedelta(seconds=b)).astimezone(spec.tz)
        if len(rate.steps) == 1:
            where = rate.name
        elif step.start == 0:
            where = _("%(rate)s, from the start") % {"rate": rate.name}
        else:
            where = _("%(rate)s, from %(from)s on") % {"rate": rate.name,
                                                       "from": duration_text(step.start)}
        text = _("%(day)s %(t0)s–%(t1)s, %(where)s: %(dur)s × %(price)s an hour = "
                 "%(amount)s") % {
            "day": day_label(t0.weekday()), "t0": t0.strftime("%H:%M:%S"),
            "t1": t1.strftime("%H:%M:%S"), "where": where, "dur": duration_text(b - a),
            "price": format_minor(pph, cur), "amount": format_exact(amount, cur)}
        lines.append(Line(TIME, text, amount, rate=rate.name, step=k, step_start=step.start,
                          start=t0, end=t1, seconds=b - a, price_per_hour=pph))
    if billed and spec.start_fee:
        exact += spec.start_fee * HOUR
        lines.append(Line(START_FEE, _("Start fee: %(fee)s") % {
            "fee": format_minor(spec.start_fee, cur)}, spec.start_fee * HOUR))
    minimum_applied = False
    if billed and exact < spec.minimum * HOUR:
        top_up = spec.minimum * HOUR - exact
        lines.append(Line(MINIMUM, _("Raised to the minimum of %(min)s: + %(diff)s") % {
            "min": format_minor(spec.minimum, cur), "diff": format_exact(top_up, cur)},
            top_up))
        exact = spec.minimum * HOUR
        minimum_applied = True
    result = _round(exact)
    if result * HOUR != exact:
        lines.append(Line(ROUNDING, _("Rounded once, half up: %(exact)s → %(total)s") % {
            "exact": format_exact(exact, cur), "total": format_minor(result, cur)},
            result * HOUR - exact))
    return Charge(result, cur, local, seconds, billed, price_group, tuple(lines), exact,
                  minimum_applied)


def due(spec: TariffSpec, start: dt.datetime, seconds: int, already_debited: int,
        price_group: str = GUEST) -> int:
    """What to debit now for a running session: ``price(seconds) − already_debited``
    (never negative). The sum of these debits over a session is ``price(total)``."""
    return max(0, total(spec, start, seconds, price_group) - already_debited)


def seconds_for(spec: TariffSpec, start: dt.datetime, credit: int,
                price_group: str = GUEST) -> int | None:
    """The longest billed time ``credit`` pays for from ``start``; ``None`` when time is
    free (no limit from money). ``price(s) ≤ credit < price(s + 1)`` for the answer ``s``,
    unless capped: then it is the longest billed length within :data:`MAX_SECONDS`.
    0 when even the first block is too dear.

    One walk over the pieces: a total ``e`` (1/3600 minor units) rounds to at most
    ``credit`` iff ``e ≤ credit·3600 + 1799``; so the minimum must be ≤ ``credit`` and the
    time cost of the answer at most ``L = credit·3600 + 1799 − start fee·3600``. The time
    cost grows piece by piece, linearly within a piece: the last affordable second ``x``
    is found in the piece where it crosses ``L``, and the answer is the longest billed
    length ``≤ x``.
    """
    if isinstance(credit, bool) or not isinstance(credit, int):
        raise TariffError("credit must be an integer of minor units")
    _check(0, price_group)
    credit = max(0, credit)
    start_utc = _local(spec, start).astimezone(UTC)
    limit = credit * HOUR + HOUR // 2 - 1 - spec.start_fee * HOUR
    if spec.minimum > credit or limit < 0:
        return 0
    first, inc = spec.first_block or spec.increment, spec.increment
    cap = spec.billed_after(1 + max(0, (MAX_SECONDS - first) // inc))
    x = None  # the last affordable elapsed second
    cost = 0
    for a, b, idx, k in _pieces(spec, start_utc, cap):
        pph = spec.rates[idx].steps[k].price(price_group)
        if cost + pph * (b - a) > limit:
            x = a + (limit - cost) // pph
            break
        cost += pph * (b - a)
    if x is None:
        return None if not spec.charges_time else cap
    if x < first:
        return 0
    return spec.billed_after(1 + (x - first) // inc)


# --- JSON form (storage, API, agent) ---------------------------------------------------------
def spec_to_json(spec: TariffSpec) -> dict:
    return {
        "rates": [{"name": r.name, "steps": [{"start": s.start, "prices": dict(s.prices)}
                                              for s in r.steps]} for r in spec.rates],
        "fallback": spec.fallback,
        "bands": [{"days": sorted(b.days), "start": b.start, "end": b.end, "rate": b.rate}
                  for b in spec.bands],
        "first_block": spec.first_block, "increment": spec.increment,
        "start_fee": spec.start_fee, "minimum": spec.minimum,
        "currency": spec.currency, "time_zone": spec.time_zone, "name": spec.name,
    }


def spec_from_json(data: Mapping) -> TariffSpec:
    """The inverse of :func:`spec_to_json`; TariffError for anything malformed."""
    try:
        rates = tuple(Rate(str(r["name"]), tuple(Step(s["start"], dict(s["prices"]))
                                                 for s in r["steps"]))
                      for r in data["rates"])
        bands = tuple(Band(frozenset(b["days"]), b["start"], b["end"], str(b["rate"]))
                      for b in data.get("bands", ()))
        return TariffSpec(
            rates=rates, fallback=str(data["fallback"]), bands=bands,
            first_block=data.get("first_block", 0), increment=data.get("increment", 60),
            start_fee=data.get("start_fee", 0), minimum=data.get("minimum", 0),
            currency=str(data.get("currency", "")), time_zone=str(data.get("time_zone", "UTC")),
            name=str(data.get("name", "")))
    except TariffError:
        raise
    except (KeyError, TypeError, AttributeError, ValueError):
        raise TariffError(_("The tariff data is incomplete or malformed.")) from None
