"""Rating café time: the price of a session, line by line (pure, no database).

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

**Pauses.** ``seconds`` is used time. A paused session passes its pauses as ``gaps``:
``(u, g)`` means "after ``u`` seconds of use, ``g`` seconds of pause". Used second ``t``
then happened at ``start + t + Σ g (u ≤ t)``, and that wall time picks its band; steps,
the billed time and the rounding count used time only; a pause costs nothing. Time
billed beyond the used time (rounding up) follows the last used second (callers pass
only the pauses that began before the end of use, as ``stations`` does).

Time zones: bands are in the venue's wall-clock time (``time_zone``). ``start`` must be
an aware datetime (any zone); it is converted to the venue's. In a zone with daylight
saving, the skipped or repeated hour is priced by the band its wall time falls in.
Sub-second parts of ``start`` are dropped.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from .spec import DAY, GUEST, HOUR, MAX_SECONDS, MAX_SESSION, UTC, WEEK, TariffError, TariffSpec
from .text import day_label, duration_text, format_exact, format_minor

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


def _local(spec: TariffSpec, start: dt.datetime) -> dt.datetime:
    if not isinstance(start, dt.datetime) or start.tzinfo is None \
            or start.utcoffset() is None:
        raise TariffError("start must be an aware datetime")
    return start.replace(microsecond=0).astimezone(spec.tz)


Gaps = tuple[tuple[int, int], ...]
MAX_GAPS = 1000


def _gaps(gaps) -> Gaps:
    """Checked pauses: ``(used, seconds)`` pairs — after ``used`` seconds of use the
    wall clock ran on ``seconds`` more (a pause). Sorted, same points merged."""
    out: dict[int, int] = {}
    try:
        items = list(gaps or ())
        if len(items) > MAX_GAPS:
            raise TariffError(_("A session has at most %(n)d pauses.") % {"n": MAX_GAPS})
        for used, seconds in items:
            for v in (used, seconds):
                if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_SESSION:
                    raise TariffError(_("A pause is two whole, non-negative numbers of "
                                        "seconds."))
            if seconds:
                out[used] = out.get(used, 0) + seconds
    except (TypeError, ValueError) as exc:
        if isinstance(exc, TariffError):
            raise
        raise TariffError(_("A pause is two whole, non-negative numbers of seconds.")) \
            from None
    return tuple(sorted(out.items()))


def _pieces(spec: TariffSpec, start_utc: dt.datetime, end: int, gaps: Gaps = ()):
    """(from, to, rate index, step index, shift) pieces of [0, end) used seconds, in
    order; consecutive pieces may share a price list and step (see :func:`_segments`).
    Used second ``t`` happened at wall time ``start + t + shift``: ``shift`` is the sum
    of the pauses (``gaps``) before it, so bands are priced at the hours really used and
    steps count used time only."""
    tz = spec.tz
    t = 0
    shift = 0
    g = 0
    while t < end:
        while g < len(gaps) and gaps[g][0] <= t:
            shift += gaps[g][1]
            g += 1
        local = (start_utc + dt.timedelta(seconds=t + shift)).astimezone(tz)
        sow = local.weekday() * DAY + local.hour * HOUR + local.minute * 60 + local.second
        idx, until = spec.rate_at_week_second(sow)
        nxt = t + until
        if until < WEEK:  # wall-clock distance; fix it for an offset change (DST)
            later = (start_utc + dt.timedelta(seconds=nxt + shift)).astimezone(tz)
            nxt -= int((later.utcoffset() - local.utcoffset()).total_seconds())
            if nxt <= t:
                nxt = t + 1
        rate = spec.rates[idx]
        k = rate.step_at(t)
        if k + 1 < len(rate.steps):
            nxt = min(nxt, rate.steps[k + 1].start)
        if g < len(gaps):
            nxt = min(nxt, gaps[g][0])
        b = min(nxt, end)
        yield t, b, idx, k, shift
        t = b


def _segments(spec: TariffSpec, start_utc: dt.datetime, billed: int, gaps: Gaps = ()
              ) -> list[list[int]]:
    """The pieces of [0, billed), neighbours with the same price list and step (and no
    pause between them) merged."""
    out: list[list[int]] = []
    for a, b, idx, k, shift in _pieces(spec, start_utc, billed, gaps):
        if out and out[-1][2] == idx and out[-1][3] == k and out[-1][4] == shift:
            out[-1][1] = b
        else:
            out.append([a, b, idx, k, shift])
    return out


def _check(seconds, group) -> None:
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
        raise TariffError(_("A duration is a whole, non-negative number of seconds."))
    if seconds > MAX_SESSION:
        raise TariffError(_("A session cannot be priced beyond a year."))
    if not isinstance(group, str):
        raise TariffError("price_group must be a str")


def _cost(spec: TariffSpec, start_utc: dt.datetime, seconds: int, group: str,
          gaps: Gaps = ()) -> int:
    """The exact cost of ``seconds`` in 1/3600 minor units after fee and minimum."""
    billed = spec.billed_seconds(seconds)
    if not billed:
        return 0
    total = spec.start_fee * HOUR
    for a, b, idx, k, _shift in _pieces(spec, start_utc, billed, gaps):
        total += spec.rates[idx].steps[k].price(group) * (b - a)
    return max(total, spec.minimum * HOUR)


def _round(exact: int) -> int:
    return (exact + HOUR // 2) // HOUR  # half up; never negative


def total(spec: TariffSpec, start: dt.datetime, seconds: int, price_group: str = GUEST,
          gaps=()) -> int:
    """Just the rounded total of :func:`price` (no lines): for metering loops."""
    _check(seconds, price_group)
    return _round(_cost(spec, _local(spec, start).astimezone(UTC), seconds, price_group,
                        _gaps(gaps)))


def price(spec: TariffSpec, start: dt.datetime, seconds: int,
          price_group: str = GUEST, gaps=()) -> Charge:
    """What ``seconds`` of use from ``start`` cost for ``price_group``, line by line.
    ``gaps``: the session's pauses as ``(used seconds, pause seconds)`` pairs; the used
    time around them is priced at the wall-clock hours it was used in (band by band),
    the pauses themselves cost nothing and steps count used time only."""
    _check(seconds, price_group)
    gaps = _gaps(gaps)
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
    for a, b, idx, k, shift in _segments(spec, start_utc, billed, gaps) if billed else ():
        rate = spec.rates[idx]
        step = rate.steps[k]
        pph = step.price(price_group)
        amount = pph * (b - a)
        exact += amount
        t0 = (start_utc + dt.timedelta(seconds=a + shift)).astimezone(spec.tz)
        t1 = (start_utc + dt.timedelta(seconds=b + shift)).astimezone(spec.tz)
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
        price_group: str = GUEST, gaps=()) -> int:
    """What to debit now for a running session: ``price(seconds) − already_debited``
    (never negative). The sum of these debits over a session is ``price(total)``."""
    return max(0, total(spec, start, seconds, price_group, gaps) - already_debited)


def seconds_for(spec: TariffSpec, start: dt.datetime, credit: int,
                price_group: str = GUEST, gaps=()) -> int | None:
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
    gaps = _gaps(gaps)
    start_utc = _local(spec, start).astimezone(UTC)
    limit = credit * HOUR + HOUR // 2 - 1 - spec.start_fee * HOUR
    if spec.minimum > credit or limit < 0:
        return 0
    first, inc = spec.first_block or spec.increment, spec.increment
    cap = spec.billed_after(1 + max(0, (MAX_SECONDS - first) // inc))
    x = None  # the last affordable elapsed second
    cost = 0
    for a, b, idx, k, _shift in _pieces(spec, start_utc, cap, gaps):
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
