"""Café gaps of issue 9: pauses priced band by band on the time really used, and package
time given back when a session really ended earlier than it was metered (the agent was
offline), also when the server had already ended it."""

from __future__ import annotations

import datetime as dt
import itertools
import zoneinfo

import pytest
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as strat

from ficha.core import clock
from ficha.core.services import venue_settings
from ficha.stations import services as st
from ficha.stations.models import CafeSession, StationEvent
from ficha.tariffs import cafe
from ficha.tariffs import services as tariffs
from ficha.tariffs.models import PackageHolding
from tests.stations_support import OWNER, T0, balance, give_credit, ledger_sum, make_station

MON = dt.datetime(2026, 3, 2, 0, 0, tzinfo=dt.UTC)  # a Monday
_n = itertools.count(1)
PRICE = override_settings(FICHA_CAFE_PRICE_PER_HOUR=600)  # 6.00 an hour: 10 per minute


def day_night(tz: str = "UTC") -> cafe.TariffSpec:
    """Day 6.00 an hour, night (22:00–24:00 every day) 12.00 an hour, per minute."""
    return cafe.TariffSpec(
        rates=(
            cafe.Rate("day", (cafe.Step(0, {"guest": 600}),)),
            cafe.Rate("night", (cafe.Step(0, {"guest": 1200}),)),
        ),
        fallback="day",
        bands=(cafe.Band(frozenset(range(7)), 22 * 60, 1440, "night"),),
        increment=60,
        currency="EUR",
        time_zone=tz,
    )


def hm(h: int, m: int = 0) -> dt.datetime:
    return MON.replace(hour=h, minute=m)


# --- the engine: pauses as gaps -------------------------------------------------------------
def test_a_pause_across_the_night_band_prices_each_band_on_the_time_used_there():
    """21:30–21:50 used, 21:50–22:30 paused, 22:30–22:50 used: 40 minutes of use.
    By hand: 20 day minutes × 6.00/h = 2.00, 20 night minutes × 12.00/h = 4.00 → 6.00.
    Priced as if used without the pause (21:30–22:10) it would be 3.00 + 2.00 = 5.00."""
    spec = day_night()
    charge = cafe.price(spec, hm(21, 30), 40 * 60, gaps=[(20 * 60, 40 * 60)])
    assert charge.total == 600
    times = [
        (line.start.strftime("%H:%M"), line.end.strftime("%H:%M"), line.rate, line.exact)
        for line in charge.lines
        if line.kind == cafe.TIME
    ]
    assert times == [("21:30", "21:50", "day", 200 * 3600), ("22:30", "22:50", "night", 400 * 3600)]
    assert cafe.total(spec, hm(21, 30), 40 * 60) == 500  # the same use without its pause
    assert cafe.total(spec, hm(21, 30), 40 * 60, gaps=[(20 * 60, 40 * 60)]) == 600


def test_a_pause_out_of_the_night_band_makes_the_use_after_it_cheaper():
    """22:40–23:00 used (night), paused until 00:10, 00:10–00:30 used (Tuesday, day):
    by hand 20 × 12.00/h + 20 × 6.00/h = 4.00 + 2.00 = 6.00, not 40 night minutes (8.00)."""
    charge = cafe.price(day_night(), hm(22, 40), 40 * 60, gaps=[(20 * 60, 70 * 60)])
    assert charge.total == 600
    days = [cafe.day_label(line.start.weekday()) for line in charge.lines if line.kind == cafe.TIME]
    assert days == [cafe.day_label(0), cafe.day_label(1)]


def test_steps_count_used_time_and_a_pause_splits_the_lines():
    """Steps: the first 30 used minutes at 3.00/h, then 2.00/h. 10:00–10:20 used, paused
    an hour, 11:20–11:40 used. By hand: 20 + 10 minutes at 3.00/h = 1.50 (both before the
    30th used minute), 10 minutes at 2.00/h = 0.3333… → 1.8333… → rounded once: 1.83."""
    spec = cafe.TariffSpec(
        rates=(cafe.Rate("all", (cafe.Step(0, {"guest": 300}), cafe.Step(1800, {"guest": 200}))),),
        fallback="all",
        increment=60,
        currency="EUR",
    )
    charge = cafe.price(spec, hm(10), 40 * 60, gaps=[(20 * 60, 60 * 60)])
    assert charge.total == 183
    lines = [
        (line.start.strftime("%H:%M"), line.end.strftime("%H:%M"), line.step)
        for line in charge.lines
        if line.kind == cafe.TIME
    ]
    assert lines == [("10:00", "10:20", 0), ("11:20", "11:30", 0), ("11:30", "11:40", 1)]


def test_rounding_up_is_billed_right_after_the_last_used_minute():
    """Every 15 minutes started: 21:50–21:55 used. The billed 15 minutes are
    21:50–22:05: 10 day + 5 night minutes = 1.00 + 1.00 = 2.00. Paused from the very
    start (21:20–21:50) it is the same: the pause costs nothing and moves the use."""
    spec = cafe.TariffSpec(
        rates=day_night().rates,
        fallback="day",
        bands=day_night().bands,
        increment=15 * 60,
        currency="EUR",
    )
    assert cafe.total(spec, hm(21, 50), 5 * 60) == 200
    assert cafe.total(spec, hm(21, 20), 5 * 60, gaps=[(0, 30 * 60)]) == 200


@pytest.mark.parametrize(
    "bad", [[(-1, 10)], [(10, -1)], [(1.5, 10)], [(True, 10)], [(1,)], "x", [(0, 10**9)]]
)
def test_malformed_pauses_are_refused_with_a_message(bad):
    with pytest.raises(cafe.TariffError):
        cafe.total(day_night(), hm(10), 600, gaps=bad)


gap_lists = strat.lists(
    strat.tuples(strat.integers(0, 6 * 3600), strat.integers(0, 8 * 3600)), max_size=5
)


@settings(max_examples=150, deadline=None)
@given(
    start=strat.integers(0, 7 * 86400),
    seconds=strat.integers(0, 8 * 3600),
    more=strat.integers(1, 3 * 3600),
    gaps=gap_lists,
    tz=strat.sampled_from(["UTC", "Europe/Paris", "America/Sao_Paulo"]),
)
def test_with_pauses_more_use_never_costs_less_and_the_lines_add_up(start, seconds, more, gaps, tz):
    spec = day_night(tz)
    begin = MON + dt.timedelta(seconds=start)
    charge = cafe.price(spec, begin, seconds, gaps=gaps)
    assert charge.total == cafe.total(spec, begin, seconds, gaps=gaps)
    assert sum(line.exact for line in charge.lines) == charge.total * 3600
    assert (
        sum(line.seconds for line in charge.lines if line.kind == cafe.TIME)
        == charge.billed_seconds
    )
    assert cafe.total(spec, begin, seconds + more, gaps=gaps) >= charge.total
    # each used minute costs the day or the night price: the total is between them
    assert 600 * charge.billed_seconds <= charge.exact <= 1200 * charge.billed_seconds


@settings(max_examples=150, deadline=None)
@given(start=strat.integers(0, 7 * 86400), seconds=strat.integers(0, 8 * 3600), gaps=gap_lists)
def test_pauses_change_nothing_for_a_tariff_without_bands(start, seconds, gaps):
    spec = cafe.simple(600, first_block=15 * 60, increment=5 * 60, start_fee=50)
    begin = MON + dt.timedelta(seconds=start)
    assert cafe.total(spec, begin, seconds, gaps=gaps) == cafe.total(spec, begin, seconds)


@settings(max_examples=100, deadline=None)
@given(start=strat.integers(0, 7 * 86400), credit=strat.integers(0, 5000), gaps=gap_lists)
def test_how_long_a_credit_lasts_takes_the_pauses_into_account(start, credit, gaps):
    spec = day_night()
    begin = MON + dt.timedelta(seconds=start)
    s = cafe.seconds_for(spec, begin, credit, gaps=gaps)
    assert cafe.total(spec, begin, s, gaps=gaps) <= credit
    assert cafe.total(spec, begin, s + 60, gaps=gaps) > credit


# --- sessions ---------------------------------------------------------------------------------
def _day_night_tariff() -> None:
    tariffs.create_tariff(
        OWNER,
        name=f"Day and night {next(_n)}",
        increment=60,
        fallback="day",
        is_default=True,
        rates=[
            {"name": "day", "steps": [{"start": 0, "prices": {"guest": 600}}]},
            {"name": "night", "steps": [{"start": 0, "prices": {"guest": 1200}}]},
        ],
        bands=[{"days": list(range(7)), "start": 22 * 60, "end": 24 * 60, "rate": "night"}],
    )


@pytest.mark.django_db
def test_a_paused_session_across_the_night_band_is_billed_per_band_on_used_time(desk, open_shift):
    """The worked example above, through the console's session: 6.00, not 5.00."""
    _day_night_tariff()
    tz = zoneinfo.ZoneInfo(venue_settings().time_zone)
    t = dt.datetime(2026, 3, 2, 21, 30, tzinfo=tz)
    pc = make_station()
    with clock.frozen(t):
        session = st.start_postpaid(OWNER, pc, "Ana")
    with clock.frozen(t + dt.timedelta(minutes=20)):
        st.pause(OWNER, session)
    with clock.frozen(t + dt.timedelta(minutes=60)):
        st.resume(OWNER, session)
    with clock.frozen(t + dt.timedelta(minutes=80)):
        st.meter_running()
        session.refresh_from_db()
        assert session.pauses == [[1200, 2400]]
        assert st.bill(session).total == 600
        done = st.checkout(desk, session)
    assert (done.seconds, done.charged, done.paid) == (2400, 600, 600)
    texts = [line.text for line in st.bill(done).lines if line.kind == cafe.TIME]
    assert len(texts) == 2 and "21:30:00–21:50:00" in texts[0] and "22:30:00–22:50:00" in texts[1]


@pytest.mark.django_db
@PRICE
def test_an_offline_end_inside_an_earlier_pause_counts_only_the_time_used_before_it(make_customer):
    alice = make_customer()
    give_credit(alice, 10_000)
    pc = make_station()
    with clock.frozen(T0):
        session = st.start_prepaid(OWNER, pc, alice)
    with clock.frozen(T0 + dt.timedelta(minutes=10)):
        st.pause(OWNER, session)
    with clock.frozen(T0 + dt.timedelta(minutes=30)):
        st.resume(OWNER, session)
    with clock.frozen(T0 + dt.timedelta(minutes=50)):
        st.meter_running()
        # the agent: the customer logged out during the pause (at minute 20)
        st.apply_events(pc, [{"id": "p1", "kind": "logout", "session": session.pk, "ago": 30 * 60}])
    session.refresh_from_db()
    assert session.seconds == 600 and session.ended_at == T0 + dt.timedelta(minutes=20)
    assert session.debited == session.charged == st.bill(session).total
    assert balance(alice) == 10_000 - session.charged and ledger_sum() == 0


def _package(customer, seconds: int, price: int = 0):
    package = tariffs.create_package(
        OWNER, name=f"Package {next(_n)}", seconds=seconds, price=price
    )
    with clock.frozen(T0 - dt.timedelta(hours=1)):
        return tariffs.buy_package(OWNER, customer, package)


def _logout(pc, session, ago: int, eid: str = "") -> list[str]:
    return st.apply_events(
        pc,
        [{"id": eid or f"out-{session.pk}", "kind": "logout", "session": session.pk, "ago": ago}],
    )


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


@pytest.mark.django_db
@PRICE
def test_package_time_metered_after_an_offline_logout_goes_back_to_the_package(make_customer):
    """A 3-hour package; the server metered 2 hours, but the customer logged out at the
    agent (offline) after 30 minutes: 2 h 30 min of the package are left, no money taken."""
    alice = make_customer()
    give_credit(alice, 1000)
    holding = _package(alice, 3 * 3600)
    pc = make_station()
    with clock.frozen(at(0)):
        session = st.start_prepaid(OWNER, pc, alice)
    with clock.frozen(at(120)):
        st.meter_running()
        assert tariffs.package_seconds_left(alice) == 3600
        _logout(pc, session, ago=90 * 60)
        _logout(pc, session, ago=90 * 60)  # resent: applied once
        assert tariffs.package_seconds_left(alice) == 3 * 3600 - 1800
    session.refresh_from_db()
    holding.refresh_from_db()
    assert (session.seconds, session.package_seconds, session.charged) == (1800, 1800, 0)
    assert holding.seconds_left == 9000
    assert balance(alice) == 1000 and ledger_sum() == 0


@pytest.mark.django_db
@PRICE
def test_an_offline_end_gives_back_money_first_then_package_time_latest_taken_first(make_customer):
    """Two packages (20 and 10 minutes, the shorter-lived used first) then money at 10 a
    minute; metered to 60 minutes; the real end was minute 15: all money back, the
    second package whole, 5 minutes of the first."""
    alice = make_customer()
    give_credit(alice, 1000)
    soon = _package(alice, 600)
    PackageHolding.objects.filter(pk=soon.pk).update(expires_at=T0 + dt.timedelta(days=1))
    later = _package(alice, 1200)
    pc = make_station()
    with clock.frozen(at(0)):
        session = st.start_prepaid(OWNER, pc, alice)
    with clock.frozen(at(60)):
        st.meter_running()
        session.refresh_from_db()
        assert session.package_parts == [[soon.pk, 600], [later.pk, 1200]]
        assert balance(alice) == 1000 - 30 * 10
        _logout(pc, session, ago=45 * 60)
    soon.refresh_from_db()
    later.refresh_from_db()
    session.refresh_from_db()
    assert (soon.seconds_left, later.seconds_left) == (0, 900)
    assert session.package_parts == [[soon.pk, 600], [later.pk, 300]]
    assert (session.seconds, session.package_seconds, session.charged, session.debited) == (
        900,
        900,
        0,
        0,
    )
    assert balance(alice) == 1000 and ledger_sum() == 0


@pytest.mark.django_db
@PRICE
def test_a_session_the_server_ended_while_the_pc_was_offline_is_settled_to_the_real_end(
    make_customer,
):
    """Package 30 minutes + 100 of credit: the server ran the session to minute 40 and
    ended it (credit used up) while the PC was offline; the agent then reports the
    customer logged out at minute 15. Package time and money after that come back."""
    alice = make_customer()
    give_credit(alice, 100)
    _package(alice, 1800)
    pc = make_station()
    with clock.frozen(at(0)):
        session = st.start_prepaid(OWNER, pc, alice)
    with clock.frozen(at(50)):
        st.meter_running()
        session.refresh_from_db()
        assert session.status == CafeSession.Status.ENDED and session.end_reason == "credit"
        assert balance(alice) == 0 and tariffs.package_seconds_left(alice) == 0
        assert _logout(pc, session, ago=35 * 60, eid="late") == ["late"]
        assert _logout(pc, session, ago=35 * 60, eid="late") == ["late"]
        assert _logout(pc, session, ago=30 * 60, eid="later") == ["later"]  # later: no-op
    session.refresh_from_db()
    assert session.ended_at == at(15)
    assert (session.seconds, session.package_seconds, session.charged, session.debited) == (
        900,
        900,
        0,
        0,
    )
    assert tariffs.package_seconds_left(alice, at=at(50)) == 900
    assert balance(alice) == 100 and ledger_sum() == 0
    outcomes = dict(StationEvent.objects.filter(session=session).values_list("event_id", "outcome"))
    assert outcomes == {"late": "corrected", "later": "already_ended"}


@pytest.mark.django_db
@PRICE
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    package=strat.integers(60, 3600),
    credit=strat.integers(0, 600),
    ticks=strat.lists(strat.integers(1, 1500), min_size=1, max_size=5),
    ago=strat.integers(0, 6000),
    pause=strat.integers(0, 2000),
)
def test_an_offline_end_never_loses_package_time_nor_takes_money_twice(
    make_customer, package, credit, ticks, ago, pause
):
    customer = make_customer()
    if credit:
        give_credit(customer, credit)
    holding = _package(customer, package)
    pc = make_station()
    with clock.frozen(T0):
        session = st.start_prepaid(OWNER, pc, customer)
    t = T0
    for n, step in enumerate(ticks):
        t += dt.timedelta(seconds=step)
        with clock.frozen(t):
            session.refresh_from_db()
            if n == 1 and pause and session.status == CafeSession.Status.RUNNING:
                st.pause(OWNER, session)
                t += dt.timedelta(seconds=pause)
                with clock.frozen(t):
                    st.resume(OWNER, session)
            st.meter_running()
    with clock.frozen(t):
        _logout(pc, session, ago)
        _logout(pc, session, ago)
    session.refresh_from_db()
    holding.refresh_from_db()
    used = session.seconds
    assert session.status == CafeSession.Status.ENDED
    assert session.package_seconds == min(used, package)
    assert holding.seconds_left == package - session.package_seconds
    assert session.debited == session.charged == st.bill(session).total
    assert balance(customer) == credit - session.charged >= 0
    assert ledger_sum() == 0
