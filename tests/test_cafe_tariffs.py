"""The café tariff engine: hand-worked examples and properties (pure, no database)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import translation
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ficha.tariffs import cafe
from ficha.tariffs.cafe import (
    Band,
    Rate,
    Step,
    TariffError,
    TariffSpec,
    due,
    price,
    seconds_for,
    simple,
    total,
)

MIN = 60
H = 3600
UTC = dt.UTC
# Wednesday 2 December 2026
WED = dt.datetime(2026, 12, 2, 0, 0, tzinfo=UTC)

CFA = "F\u202fCFA\xa0"  # English writes XOF amounts "F CFA 300" (CLDR)


def at(day_offset: int, hh: int, mm: int = 0, ss: int = 0, tz=UTC) -> dt.datetime:
    d = WED.date() + dt.timedelta(days=day_offset)
    return dt.datetime(d.year, d.month, d.day, hh, mm, ss, tzinfo=tz)


def day_night(**kw) -> TariffSpec:
    """Day 6.00 an hour (fallback), night 3.00 an hour from 22:00 to 06:00 every day."""
    return TariffSpec(
        rates=(Rate("day", (Step(0, {"guest": 600, "member": 500}),)),
               Rate("night", (Step(0, {"guest": 300, "member": 200}),))),
        fallback="day", bands=(Band(frozenset(range(7)), 22 * 60, 6 * 60, "night"),),
        currency="EUR", **kw)


# --- hand-worked examples ------------------------------------------------------------------
def test_hourly_price_billed_per_started_minute():
    spec = simple(600, currency="EUR")  # 6.00 an hour, every started minute
    assert total(spec, WED, 0) == 0
    assert total(spec, WED, 1) == 10  # 1 s → 1 min → 0.10
    assert total(spec, WED, 45 * MIN) == 450
    assert total(spec, WED, 61) == 20  # 2 started minutes
    assert total(spec, WED, H) == 600


def test_rounding_first_m_minutes_then_every_n():
    # "the first 30 minutes, then every 10 minutes", 6.00 an hour
    spec = simple(600, first_block=30 * MIN, increment=10 * MIN, currency="EUR")
    assert total(spec, WED, 1) == 300  # any use: the first 30 minutes
    assert total(spec, WED, 30 * MIN) == 300
    assert total(spec, WED, 30 * MIN + 1) == 400  # 40 minutes
    assert total(spec, WED, 47 * MIN + 12) == 500  # 50 minutes
    assert total(spec, WED, 50 * MIN) == 500
    charge = price(spec, WED, 47 * MIN + 12)
    assert charge.billed_seconds == 50 * MIN
    billing = charge.lines[0]
    assert billing.kind == cafe.BILLING
    assert "47 min 12 s" in billing.text and "50 min" in billing.text
    assert "first 30 min, then every 10 min" in billing.text


def test_minimum_and_start_fee():
    spec = simple(600, minimum=200, currency="EUR")
    assert total(spec, WED, 0) == 0  # no use, no minimum
    assert total(spec, WED, 5 * MIN) == 200  # 0.50 raised to 2.00
    assert total(spec, WED, 25 * MIN) == 250
    charge = price(spec, WED, 5 * MIN)
    assert charge.minimum_applied
    assert [ln.kind for ln in charge.lines] == [cafe.BILLING, cafe.TIME, cafe.MINIMUM]
    assert charge.lines[-1].exact == 150 * H  # + 1.50
    # a start fee is added once; the minimum counts it in
    fee = simple(600, start_fee=100, minimum=150, currency="EUR")
    assert total(fee, WED, MIN) == 150  # 1.00 + 0.10 → 1.50
    assert total(fee, WED, 10 * MIN) == 200  # 1.00 + 1.00
    assert [ln.kind for ln in price(fee, WED, 10 * MIN).lines] == [
        cafe.BILLING, cafe.TIME, cafe.START_FEE]


def test_step_bands_and_decreasing_hourly_price():
    # 0–30 min 6.00 an hour, 30–60 min 4.00, then 3.00
    spec = TariffSpec(rates=(Rate("std", (Step(0, {"guest": 600}), Step(30 * MIN, {"guest": 400}),
                                          Step(60 * MIN, {"guest": 300}))),),
                      fallback="std", currency="EUR")
    assert total(spec, WED, 30 * MIN) == 300
    assert total(spec, WED, 45 * MIN) == 300 + 100
    assert total(spec, WED, 90 * MIN) == 300 + 200 + 150
    assert total(spec, WED, 3 * H) == 300 + 200 + 600
    lines = [ln for ln in price(spec, WED, 90 * MIN).lines if ln.kind == cafe.TIME]
    assert [(ln.step, ln.seconds, ln.price_per_hour, ln.exact // H) for ln in lines] == [
        (0, 1800, 600, 300), (1, 1800, 400, 200), (2, 1800, 300, 150)]
    assert "from 30 min on" in lines[1].text


def test_member_guest_and_custom_groups():
    spec = day_night()
    assert total(spec, at(0, 10), H, "guest") == 600
    assert total(spec, at(0, 10), H, "member") == 500
    assert total(spec, at(0, 10), H, "vip") == 600  # no price of its own: the guest price


def test_session_across_a_band_boundary_is_priced_per_band():
    spec = day_night()
    charge = price(spec, at(0, 21, 30), H)  # Wednesday 21:30–22:30
    times = [ln for ln in charge.lines if ln.kind == cafe.TIME]
    assert [(ln.rate, ln.seconds, ln.exact // H) for ln in times] == [
        ("day", 30 * MIN, 300), ("night", 30 * MIN, 150)]
    assert charge.total == 450
    assert times[0].end == times[1].start == at(0, 22)
    assert "Wednesday 21:30:00–22:00:00" in times[0].text
    # night into morning: 05:00–07:00 is one hour night, one hour day
    assert total(spec, at(1, 5), 2 * H) == 300 + 600


def test_across_midnight_and_a_weekday_change():
    # weekend 8.00 an hour all day Saturday and Sunday, weekdays 6.00
    spec = TariffSpec(rates=(Rate("week", (Step(0, {"guest": 600}),)),
                             Rate("weekend", (Step(0, {"guest": 800}),))),
                      fallback="week", bands=(Band(frozenset({5, 6}), 0, 1440, "weekend"),),
                      currency="EUR")
    fri = at(2, 23, 30)  # Friday 4 December 23:30
    assert fri.weekday() == 4
    charge = price(spec, fri, H)
    times = [ln for ln in charge.lines if ln.kind == cafe.TIME]
    assert [(ln.start.weekday(), ln.rate, ln.exact // H) for ln in times] == [
        (4, "week", 300), (5, "weekend", 400)]
    assert charge.total == 700
    sun = at(4, 23, 30)  # Sunday into Monday
    assert total(spec, sun, H) == 400 + 300


def test_step_counts_elapsed_time_across_bands():
    # the step is by time since the start, whatever band the clock is in
    spec = TariffSpec(
        rates=(Rate("day", (Step(0, {"guest": 600}), Step(H, {"guest": 300}))),
               Rate("night", (Step(0, {"guest": 400}), Step(H, {"guest": 200})))),
        fallback="day", bands=(Band(frozenset(range(7)), 22 * 60, 6 * 60, "night"),),
        currency="EUR")
    # 21:00–23:30: day 1 h at 6.00, night 22:00–23:30 past the first hour at 2.00
    assert total(spec, at(0, 21), 150 * MIN) == 600 + 300


def test_venue_time_zone_via_aware_datetimes():
    # Lagos is UTC+1 all year: 21:30 UTC is 22:30 there, night already
    spec = day_night(time_zone="Africa/Lagos")
    assert total(spec, at(0, 21, 30), H) == 300
    charge = price(spec, at(0, 21, 30), H)
    assert charge.start.utcoffset() == dt.timedelta(hours=1)
    assert charge.lines[1].start.hour == 22
    # the same instant written in another zone prices the same
    plus5 = dt.timezone(dt.timedelta(hours=5))
    assert total(spec, at(0, 21, 30).astimezone(plus5), H) == 300
    # 20:30 UTC is 21:30 in Lagos: half day, half night
    assert total(spec, at(0, 20, 30), H) == 450
    with pytest.raises(TariffError):
        total(spec, dt.datetime(2026, 12, 2, 21, 30), H)  # naive: refused


def test_rounded_once_half_up():
    spec = simple(100, increment=1, currency="EUR")  # 1.00 an hour, per second
    assert total(spec, WED, 18) == 1  # 0.5 cent → 1
    assert total(spec, WED, 17) == 0  # 0.47 cent → 0
    charge = price(spec, WED, 18)
    assert charge.lines[-1].kind == cafe.ROUNDING
    assert sum(ln.exact for ln in charge.lines) == charge.total * H
    # three pieces of 0.4 cent each: rounded once (1.2 → 1), not per piece (0 + 0 + 0)
    spec = TariffSpec(rates=(Rate("a", (Step(0, {"guest": 100}),)),
                             Rate("b", (Step(0, {"guest": 100}), Step(15, {"guest": 100})))),
                      fallback="a", bands=(Band(frozenset({2}), 10 * 60, 11 * 60, "b"),),
                      increment=1, currency="EUR")
    start = at(0, 9, 59, 46)
    charge = price(spec, start, 43)
    assert len([ln for ln in charge.lines if ln.kind == cafe.TIME]) == 3
    assert charge.total == 1


def test_seconds_a_credit_buys_crossing_bands():
    spec = simple(600, first_block=30 * MIN, increment=10 * MIN, currency="EUR")
    assert seconds_for(spec, WED, 500) == 50 * MIN
    assert seconds_for(spec, WED, 499) == 40 * MIN
    assert seconds_for(spec, WED, 300) == 30 * MIN
    assert seconds_for(spec, WED, 299) == 0
    night = day_night()
    # from 21:00: one day hour (6.00), then night at 3.00 → 9.00 lasts 2 hours
    assert seconds_for(night, at(0, 21), 900) == 2 * H
    assert seconds_for(night, at(0, 21), 899) == 2 * H - MIN
    assert seconds_for(simple(0), WED, 0) is None  # free time
    assert seconds_for(simple(0, minimum=50), WED, 10) == 0
    assert seconds_for(simple(0, minimum=50), WED, 50) is None
    assert seconds_for(simple(1, increment=1), WED, 10**9) == cafe.MAX_SECONDS
    # the first hour is paid, then time is free: the answer is capped, at a billed length
    first_paid = TariffSpec(rates=(Rate("r", (Step(0, {"guest": 100}), Step(H, {"guest": 0}))),),
                            fallback="r", increment=7, currency="EUR")
    assert seconds_for(first_paid, WED, 100) == 7 + (cafe.MAX_SECONDS - 7) // 7 * 7
    # 99 cents: 3577 s cost 99.36 → 99 (half up); 3584 s would cost 99.56 → 100
    assert seconds_for(first_paid, WED, 99) == 3577


def test_due_debits_the_difference():
    spec = simple(600, currency="EUR")
    assert due(spec, WED, 10 * MIN, 0) == 100
    assert due(spec, WED, 15 * MIN, 100) == 50
    assert due(spec, WED, 15 * MIN, 200) == 0  # never negative


def test_lines_carry_json_for_the_agent():
    data = price(day_night(), at(0, 21, 30), H).as_dict()
    assert data["total"] == 450 and data["currency"] == "EUR"
    assert [ln["kind"] for ln in data["lines"]] == ["billing", "time", "time"]
    assert data["lines"][2]["start"].startswith("2026-12-02T22:00:00")


def test_format_of_exact_amounts():
    assert cafe.format_exact(450 * H, "EUR") == "€4.50"
    assert cafe.format_exact(H // 3, "EUR") == "≈€0.0033"
    assert cafe.format_exact(1500 * H, "XOF") == "F\u202fCFA\xa01,500"
    # as the active language writes money, exact or not
    with translation.override("fr"):
        assert cafe.format_exact(H // 3, "EUR") == "≈0,0033\xa0€"
        assert cafe.format_exact(1500 * H, "XOF") == "1\u202f500\xa0F\u202fCFA"
    with translation.override("de"):
        assert cafe.format_exact(-450 * H, "EUR") == "-4,50\xa0€"


# --- validation ----------------------------------------------------------------------------
@pytest.mark.parametrize("build, message", [
    (lambda: Step(0, {"member": 500}), "guest price"),
    (lambda: Step(0, {"guest": -1}), "hourly price"),
    (lambda: Rate("day", (Step(60, {"guest": 1}),)), "must start at 0"),
    (lambda: Rate("day", (Step(0, {"guest": 1}), Step(0, {"guest": 2}))), "later and later"),
    (lambda: Rate("two words", (Step(0, {"guest": 1}),)), "one word"),
    (lambda: Band(frozenset(), 0, 60, "x"), "one day"),
    (lambda: TariffSpec(rates=(Rate("a", (Step(0, {"guest": 1}),)),), fallback="b"),
     "fallback"),
    (lambda: TariffSpec(rates=(Rate("a", (Step(0, {"guest": 1}),)),), fallback="a",
                        bands=(Band(frozenset({0}), 0, 60, "zzz"),)), "does not exist"),
    (lambda: TariffSpec(rates=(Rate("a", (Step(0, {"guest": 1}),)),), fallback="a",
                        bands=(Band(frozenset({0}), 0, 120, "a"),
                               Band(frozenset({0}), 60, 180, "a"))), "overlap on Monday at 01:00"),
    (lambda: TariffSpec(rates=(Rate("a", (Step(0, {"guest": 1}),)),), fallback="a",
                        bands=(Band(frozenset({6}), 23 * 60, 60, "a"),
                               Band(frozenset({0}), 0, 60, "a"))), "overlap on Monday at 00:00"),
    (lambda: simple(600, increment=0), "increment"),
    (lambda: simple(600, time_zone="Mars/Olympus"), "time zone"),
])
def test_bad_specs_are_refused_with_a_message(build, message):
    with pytest.raises(TariffError, match=message):
        build()


def test_json_round_trip_and_grid():
    spec = day_night(first_block=30 * MIN, increment=10 * MIN, minimum=100,
                     time_zone="Africa/Abidjan")
    again = cafe.spec_from_json(cafe.spec_to_json(spec))
    assert cafe.spec_to_json(again) == cafe.spec_to_json(spec)
    grid = spec.grid()
    assert grid[0][5] == "night" and grid[0][6] == "day" and grid[6][22] == "night"
    with pytest.raises(TariffError, match="malformed"):
        cafe.spec_from_json({"rates": [{"steps": []}]})


# --- properties ----------------------------------------------------------------------------
GROUPS = ("guest", "member")
prices_st = st.fixed_dictionaries({"guest": st.integers(0, 3000)},
                                  optional={"member": st.integers(0, 3000)})


@st.composite
def rates_st(draw, name: str) -> Rate:
    starts = sorted(draw(st.sets(st.integers(1, 180), max_size=3)))
    steps = [Step(0, draw(prices_st))] + [Step(s * MIN, draw(prices_st)) for s in starts]
    return Rate(name, tuple(steps))


@st.composite
def specs(draw, minute_grid: bool = False) -> TariffSpec:
    names = ["r0", "r1", "r2"][:draw(st.integers(1, 3))]
    rates = tuple(draw(rates_st(n)) for n in names)
    bands = []
    for _ in range(draw(st.integers(0, 3))):
        days = draw(st.frozensets(st.integers(0, 6), min_size=1, max_size=7))
        start = draw(st.integers(0, 1439))
        end = draw(st.integers(0, 1440).filter(lambda e, s=start: e != s))
        bands.append(Band(days, start, end, draw(st.sampled_from(names))))
    inc = st.sampled_from([60, 300, 600, 900]) if minute_grid else st.sampled_from(
        [1, 7, 60, 300, 600])
    try:
        return TariffSpec(
            rates=rates, fallback=draw(st.sampled_from(names)), bands=tuple(bands),
            first_block=draw(st.sampled_from([0, 0, 60, 1800, 3600])),
            increment=draw(inc), start_fee=draw(st.integers(0, 200)),
            minimum=draw(st.integers(0, 500)), currency="EUR",
            time_zone=draw(st.sampled_from(["UTC", "Africa/Lagos", "Asia/Kolkata"])))
    except TariffError:  # overlapping bands
        assume(False)


starts = st.datetimes(min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2027, 12, 31),
                      timezones=st.just(UTC)).map(lambda d: d.replace(microsecond=0))
durations = st.integers(0, 8 * H)


@settings(max_examples=150, deadline=None)
@given(specs(), starts, durations, durations, st.sampled_from(GROUPS))
def test_more_time_never_costs_less(spec, start, a, b, group):
    a, b = sorted((a, b))
    assert total(spec, start, a, group) <= total(spec, start, b, group)


@settings(max_examples=150, deadline=None)
@given(specs(), starts, st.lists(st.integers(1, 40 * MIN), min_size=1, max_size=12),
       st.sampled_from(GROUPS))
def test_cumulative_debits_sum_to_the_price_of_the_whole(spec, start, ticks, group):
    debited, elapsed = 0, 0
    for tick in ticks:
        elapsed += tick
        step = due(spec, start, elapsed, debited, group)
        assert step >= 0
        debited += step
    assert debited == total(spec, start, elapsed, group)


@settings(max_examples=150, deadline=None)
@given(specs(), starts, durations, st.sampled_from(GROUPS))
def test_lines_add_up_to_the_total(spec, start, seconds, group):
    charge = price(spec, start, seconds, group)
    assert charge.total == total(spec, start, seconds, group)
    assert sum(ln.exact for ln in charge.lines) == charge.total * H
    times = [ln for ln in charge.lines if ln.kind == cafe.TIME]
    assert sum(ln.seconds for ln in times) == charge.billed_seconds
    for a, b in zip(times, times[1:], strict=False):
        assert a.end == b.start and (a.rate, a.step) != (b.rate, b.step)


@settings(max_examples=100, deadline=None)
@given(specs(), starts, st.integers(0, 5000), st.sampled_from(GROUPS))
def test_seconds_for_is_exact(spec, start, credit, group):
    s = seconds_for(spec, start, credit, group)
    if s is None:
        assert not spec.charges_time
        assert total(spec, start, cafe.MAX_SECONDS, group) <= credit
        return
    assert total(spec, start, s, group) <= credit
    if spec.billed_seconds(s + 1) <= cafe.MAX_SECONDS:  # else capped: the longest billed
        assert total(spec, start, s + 1, group) > credit  # length within MAX_SECONDS
    assert spec.billed_seconds(s) == s


@settings(max_examples=60, deadline=None)
@given(specs(), starts, st.integers(0, 5000), st.integers(0, 5000))
def test_seconds_for_is_monotone_in_credit(spec, start, c1, c2):
    c1, c2 = sorted((c1, c2))
    s1, s2 = seconds_for(spec, start, c1), seconds_for(spec, start, c2)
    if s1 is None:
        assert s2 is None
    elif s2 is not None:
        assert s1 <= s2


def _oracle(spec: TariffSpec, start: dt.datetime, seconds: int, group: str) -> int:
    """Minute by minute, from the definitions (bands looked up on the wall clock)."""
    billed = spec.billed_seconds(seconds)
    if not billed:
        return 0
    exact = spec.start_fee * H
    local0 = start.astimezone(spec.tz)
    for m in range(billed // MIN):
        local = local0 + dt.timedelta(minutes=m)  # no DST in the zones used here
        wd, mod = local.weekday(), local.hour * 60 + local.minute
        rate = spec.fallback
        for band in spec.bands:
            if band.start < band.end:
                hit = wd in band.days and band.start <= mod < band.end
            else:
                hit = (wd in band.days and mod >= band.start) or (
                    (wd - 1) % 7 in band.days and mod < band.end)
            if hit:
                rate = band.rate
        r = next(x for x in spec.rates if x.name == rate)
        step = [s for s in r.steps if s.start <= m * MIN][-1]
        exact += step.price(group) * MIN
    exact = max(exact, spec.minimum * H)
    return (exact + H // 2) // H


@settings(max_examples=120, deadline=None)
@given(specs(minute_grid=True), starts.map(lambda d: d.replace(second=0)),
       st.integers(0, 6 * H), st.sampled_from(GROUPS))
def test_matches_a_minute_by_minute_oracle(spec, start, seconds, group):
    assert total(spec, start, seconds, group) == _oracle(spec, start, seconds, group)


def test_the_worked_examples_of_docs_tariffs_md():
    from zoneinfo import ZoneInfo

    from ficha.tariffs import text

    tz = ZoneInfo("Africa/Abidjan")
    spec = TariffSpec(
        rates=text.parse_rates("day guest=600 member=500\nday from 60 guest=400 member=300\n"
                               "night guest=300", "XOF"),
        fallback="day", bands=text.parse_bands("mon-sun 22:00-06:00 night"),
        first_block=30 * MIN, increment=15 * MIN, minimum=200, currency="XOF",
        time_zone="Africa/Abidjan")
    wed = dt.datetime(2026, 12, 2, 14, 0, tzinfo=tz)

    def texts(start, seconds, group="guest"):
        charge = price(spec, start, seconds, group)
        return [ln.text for ln in charge.lines], charge.total

    lines, cost = texts(wed, 10 * MIN)
    assert cost == 300 and lines == [
        "Used 10 min; billed 30 min (first 30 min, then every 15 min).",
        f"Wednesday 14:00:00–14:30:00, day, from the start: 30 min × {CFA}600 an hour = {CFA}300"]
    assert texts(wed, 47 * MIN + 12)[1] == 600
    assert texts(wed, 47 * MIN + 12, "member")[1] == 500
    lines, cost = texts(wed, 100 * MIN)
    assert cost == 900 and lines[2] == (
        f"Wednesday 15:00:00–15:45:00, day, from 1 h on: 45 min × {CFA}400 an hour = {CFA}300")
    lines, cost = texts(wed.replace(hour=21, minute=20), 80 * MIN)
    assert cost == 650 and lines[2] == (
        f"Wednesday 22:00:00–22:50:00, night: 50 min × {CFA}300 an hour = {CFA}250")
    lines, cost = texts(dt.datetime(2026, 12, 4, 23, 50, tzinfo=tz), 20 * MIN)
    assert cost == 200 and lines[1:] == [
        f"Friday 23:50:00–00:20:00, night: 30 min × {CFA}300 an hour = {CFA}150",
        f"Raised to the minimum of {CFA}200: + {CFA}50"]
    assert seconds_for(spec, wed.replace(hour=21), 1000) == 2 * H + 15 * MIN
    assert seconds_for(spec, wed, 1000) == 2 * H


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 5000), st.integers(0, 500), st.sampled_from([1, 60, 300, 3600]),
       starts, st.integers(0, 10 * H))
def test_hotspot_time_tariff_prices_the_same_in_this_engine(pph, minimum, inc, start, s):
    from ficha.tariffs import pricing

    t = pricing.Tariff(price_per_hour=pph, minimum=minimum, increment=inc)
    assert total(cafe.from_time_tariff(t), start, s) == pricing.charge(t, s)


def test_daylight_saving_zone_prices_by_wall_clock_bands():
    # Paris, 29 March 2026: 02:00 CET jumps to 03:00 CEST. Night band 22:00–06:00.
    from zoneinfo import ZoneInfo

    paris = ZoneInfo("Europe/Paris")
    spec = day_night(time_zone="Europe/Paris")
    start = dt.datetime(2026, 3, 29, 1, 0, tzinfo=paris)
    # 01:00 CET → 06:00 CEST is 4 real hours of night, then 2 hours of day
    charge = price(spec, start, 6 * H)
    times = [ln for ln in charge.lines if ln.kind == cafe.TIME]
    assert [(ln.rate, ln.seconds) for ln in times] == [("night", 4 * H), ("day", 2 * H)]
    assert times[1].start == dt.datetime(2026, 3, 29, 6, 0, tzinfo=paris)
    assert charge.total == 4 * 300 + 2 * 600


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 2000) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["name", "steps", "start", "prices", "guest", "days", "end", "rate",
                         "rates", "bands", "fallback", "increment"]), inner, max_size=4),
    max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({"rates": json_values, "fallback": json_values},
                             optional={"bands": json_values, "increment": json_values,
                                       "first_block": json_values, "minimum": json_values}))
def test_any_json_is_a_spec_or_a_clear_error(data):
    try:
        cafe.spec_from_json(data)
    except TariffError as exc:
        assert str(exc)


@settings(max_examples=100, deadline=None)
@given(specs(), st.sampled_from([None, "en", "fr"]))
def test_typed_form_round_trips(spec, locale):
    from ficha.tariffs import text

    typed_rates = text.format_rates(spec.rates, "EUR", locale)
    assert text.parse_rates(typed_rates, "EUR", locale=locale) == spec.rates
    assert text.parse_bands(text.format_bands(spec.bands)) == spec.bands
