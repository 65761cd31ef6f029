"""One engine, two faces: the Wi-Fi plan's and the café's prices are what they were.

The oracles below are the engines as they were before :mod:`ficha.tariffs.engine` (our own
code, copied from ``pricing.py`` and ``cafe/rating.py`` at commit 485ce4c): for random
plans, specs and usages the engine answers exactly what they answered.
"""

from __future__ import annotations

import datetime as dt  # noqa: F401 — the café oracle's annotations
from decimal import ROUND_HALF_UP, Decimal, localcontext

from hypothesis import given, settings
from hypothesis import strategies as st

from ficha.tariffs import cafe, engine, pricing
from ficha.tariffs.cafe import GUEST, HOUR, MAX_SECONDS, UTC, TariffSpec, rating
from ficha.tariffs.pricing import Tariff

from .test_cafe_tariffs import GROUPS, specs, starts

MB = 1_000_000
MAX_OCTETS = 2**63 - 1
MAX_WIFI_SECONDS = 2**31 - 1
Gaps = rating.Gaps


# --- oracle: the old pricing.py (Decimal arithmetic, binary searches) ---------------------
def _usage(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(name)
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
        cost = (
            Decimal(tariff.price_per_hour * billed) / HOUR
            + Decimal(tariff.price_per_mb * octets) / MB
        )
        if (billed or octets) and cost < tariff.minimum:
            cost = Decimal(tariff.minimum)
        return cost


def charge(tariff: Tariff, seconds: int = 0, octets: int = 0) -> int:
    """What ``seconds`` of time and ``octets`` of data cost, in minor units, rounded once."""
    with localcontext() as ctx:
        ctx.prec = 60
        return int(exact_cost(tariff, seconds, octets).quantize(Decimal(1), ROUND_HALF_UP))


def _largest(fits, hi: int) -> int:
    """The largest n in [0, hi] with fits(n), for a monotone ``fits`` with fits(0)."""
    lo = 0
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
    (unless ``s`` reached :data:`MAX_WIFI_SECONDS`). 0 when the credit does not even cover
    the minimum charge.
    """
    credit = _usage(credit, "credit")
    octets = _usage(octets, "octets")
    inc = tariff.increment
    if not tariff.charges_time:
        return None if charge(tariff, inc, octets) <= credit else 0
    # Past this many increments the exact cost exceeds credit + 1 whatever the rounding.
    per_inc = tariff.price_per_hour * inc
    hi = min(((credit + 1) * HOUR) // per_inc + 2, MAX_WIFI_SECONDS // inc)
    n = _largest(lambda k: charge(tariff, k * inc, octets) <= credit, hi)
    return n * inc


def octets_for(tariff: Tariff, credit: int, *, seconds: int = 0) -> int | None:
    """The most bytes ``credit`` buys with ``seconds`` of time already used counted in;
    ``None`` when data is free. ``charge(seconds, b) ≤ credit < charge(seconds, b + 1)``."""
    credit = _usage(credit, "credit")
    seconds = _usage(seconds, "seconds")
    if not tariff.charges_data:
        return None if charge(tariff, seconds, 1) <= credit else 0
    hi = min(((credit + 1) * MB) // tariff.price_per_mb + 2, MAX_OCTETS)
    return _largest(lambda b: charge(tariff, seconds, b) <= credit, hi)


# --- oracle: the old café rating (exact cost, rounding, seconds_for) -----------------------
def _old_billed(spec, seconds: int) -> int:
    if seconds <= 0:
        return 0
    m, n = spec.first_block, spec.increment
    if seconds <= m:
        return m
    return m + -(-(seconds - m) // n) * n


def _old_billed_after(spec, k: int) -> int:
    if k <= 0:
        return 0
    first = spec.first_block or spec.increment
    return first + (k - 1) * spec.increment


def old_cafe_cost(
    spec: TariffSpec, start_utc: dt.datetime, seconds: int, group: str, gaps: Gaps = ()
) -> int:
    """The exact cost of ``seconds`` in 1/3600 minor units after fee and minimum."""
    billed = _old_billed(spec, seconds)
    if not billed:
        return 0
    total = spec.start_fee * HOUR
    for a, b, idx, k, _shift in rating._pieces(spec, start_utc, billed, gaps):
        total += spec.rates[idx].steps[k].price(group) * (b - a)
    return max(total, spec.minimum * HOUR)


def old_round(exact: int) -> int:
    return (exact + HOUR // 2) // HOUR  # half up; never negative


def old_cafe_seconds_for(
    spec: TariffSpec, start: dt.datetime, credit: int, price_group: str = GUEST, gaps=()
) -> int | None:
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
        raise ValueError("credit")
    rating._check(0, price_group)
    credit = max(0, credit)
    gaps = rating._gaps(gaps)
    start_utc = rating._local(spec, start).astimezone(UTC)
    limit = credit * HOUR + HOUR // 2 - 1 - spec.start_fee * HOUR
    if spec.minimum > credit or limit < 0:
        return 0
    first, inc = spec.first_block or spec.increment, spec.increment
    cap = _old_billed_after(spec, 1 + max(0, (MAX_SECONDS - first) // inc))
    x = None  # the last affordable elapsed second
    cost = 0
    for a, b, idx, k, _shift in rating._pieces(spec, start_utc, cap, gaps):
        pph = spec.rates[idx].steps[k].price(price_group)
        if cost + pph * (b - a) > limit:
            x = a + (limit - cost) // pph
            break
        cost += pph * (b - a)
    if x is None:
        return None if not spec.charges_time else cap
    if x < first:
        return 0
    return _old_billed_after(spec, 1 + (x - first) // inc)


# --- the Wi-Fi face -----------------------------------------------------------------------
plans = st.builds(
    Tariff,
    price_per_hour=st.one_of(st.integers(0, 100_000), st.integers(0, 10**12)),
    price_per_mb=st.one_of(st.integers(0, 1_000), st.integers(0, 10**12)),
    minimum=st.one_of(st.integers(0, 5_000), st.integers(0, 10**12)),
    increment=st.one_of(
        st.sampled_from([1, 7, 10, 60, 300, 900, 3600, 86400]), st.integers(1, 86400)
    ),
)
usages = st.one_of(st.integers(-5, 10**7), st.integers(0, 10**12))
credits = st.one_of(st.integers(-5, 10**5), st.integers(0, 10**13))


@settings(max_examples=1500, deadline=None)
@given(plans, usages, usages)
def test_wifi_charge_is_the_old_charge(t, seconds, octets):
    assert pricing.charge(t, seconds, octets) == charge(t, seconds, octets)
    assert pricing.exact_cost(t, seconds, octets) == exact_cost(t, seconds, octets)
    assert pricing.explain(t, seconds, octets).total == charge(t, seconds, octets)


@settings(max_examples=1000, deadline=None)
@given(plans, credits, usages)
def test_wifi_seconds_for_is_the_old_answer(t, credit, octets):
    assert pricing.seconds_for(t, credit, octets=octets) == seconds_for(t, credit, octets=octets)


@settings(max_examples=1000, deadline=None)
@given(plans, credits, usages)
def test_wifi_octets_for_is_the_old_answer(t, credit, seconds):
    assert pricing.octets_for(t, credit, seconds=seconds) == octets_for(t, credit, seconds=seconds)


@settings(max_examples=300, deadline=None)
@given(plans, st.integers(0, 10**7), st.integers(0, 10**7), st.integers(0, 10**9))
def test_wifi_charge_is_monotone_in_duration(t, a, b, octets):
    a, b = sorted((a, b))
    assert pricing.charge(t, a, octets) <= pricing.charge(t, b, octets)


@settings(max_examples=300, deadline=None)
@given(plans, starts, st.integers(0, 10**6))
def test_a_wifi_plan_prices_time_as_the_cafe_flat_spec(t, start, seconds):
    """The plan without data is the café engine's flat case (one price list, no band)."""
    spec = cafe.from_time_tariff(t)
    assert pricing.charge(t, seconds) == cafe.total(spec, start, seconds)


@settings(max_examples=300, deadline=None)
@given(plans, usages, usages)
def test_wifi_explanation_lines_sum_to_the_total(t, seconds, octets):
    b = pricing.explain(t, seconds, octets, currency="EUR")
    amounts = sum(line.exact for line in b.lines)
    assert amounts == b.total * engine.DATA_UNIT
    assert all(line.text for line in b.lines)
    kinds = [line.kind for line in b.lines]
    assert (engine.BILLING in kinds) == (b.billed_seconds > 0)
    assert (engine.DATA in kinds) == (b.octets > 0 and t.charges_data)


def test_wifi_explanation_reads_like_the_cafe():
    t = pricing.Tariff(price_per_hour=600, price_per_mb=5, minimum=200, increment=900)
    b = pricing.explain(t, 1000, 2_500_000, currency="XOF")
    assert b.total == 313  # 30 min of 600 an hour + 2.5 MB at 5 per MB, rounded half up
    assert b.text.splitlines() == [
        "Used 16 min 40 s; billed 30 min (15 min steps, rounded up).",
        "Time: 30 min × F\u202fCFA\xa0600 an hour = F\u202fCFA\xa0300",
        "Data: 2.5 MB × F\u202fCFA\xa05 per MB = F\u202fCFA\xa012.5",
        "Rounded once, half up: F\u202fCFA\xa0312.5 → F\u202fCFA\xa0313",
    ]
    short = pricing.explain(t, 5)
    assert short.minimum_applied and short.total == 200
    assert [line.kind for line in short.lines] == [engine.BILLING, engine.TIME, engine.MINIMUM]
    assert short.lines[-1].as_dict()["unit"] == engine.DATA_UNIT


# --- the café face ------------------------------------------------------------------------
@settings(max_examples=400, deadline=None)
@given(specs(), starts, st.integers(0, 30 * HOUR), st.sampled_from(GROUPS))
def test_cafe_price_is_the_old_price(spec, start, seconds, group):
    start_utc = rating._local(spec, start).astimezone(UTC)
    exact = old_cafe_cost(spec, start_utc, seconds, group)
    charged = cafe.price(spec, start, seconds, group)
    assert charged.exact == exact
    assert charged.total == old_round(exact) == cafe.total(spec, start, seconds, group)
    assert sum(line.exact for line in charged.lines) == charged.total * HOUR


@settings(max_examples=400, deadline=None)
@given(specs(), starts, st.integers(-5, 20_000), st.sampled_from(GROUPS))
def test_cafe_seconds_for_is_the_old_answer(spec, start, credit, group):
    assert cafe.seconds_for(spec, start, credit, group) == old_cafe_seconds_for(
        spec, start, credit, group
    )


def test_the_spec_reexports_are_the_engine():
    assert cafe.Charge is engine.Charge and cafe.Line is engine.Line
    assert rating.TIME == engine.TIME and GUEST == "guest" and MAX_SECONDS == 31 * 86400
    assert isinstance(cafe.simple(600), TariffSpec)
