"""Café sessions: prepaid metering through the ledger, postpaid checkout, pause, move,
offline reconciliation, a server restart (nothing in memory matters)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as strat

from ficha.core import clock
from ficha.ledger import services as ledger
from ficha.stations import services as st
from ficha.stations.models import CafeSession, StationEvent
from tests.stations_support import (
    OWNER,
    T0,
    balance,
    cafe_revenue,
    give_credit,
    ledger_sum,
    make_station,
)

pytestmark = pytest.mark.django_db
PRICE = override_settings(FICHA_CAFE_PRICE_PER_HOUR=600)  # 6.00 an hour: 10 per minute


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=round(minutes * 60))


@PRICE
def test_prepaid_session_debits_as_time_passes_and_ends_when_credit_runs_out(make_customer):
    alice = make_customer("alice")
    give_credit(alice, 100)  # 10 minutes at 10 a minute
    pc = make_station()
    with clock.frozen(at(0)):
        session = st.start_prepaid(OWNER, pc, alice)
        assert st.limit_seconds(session) == 600
        assert st.state_of(pc)["session"]["remaining"] == 600
    with clock.frozen(at(3.5)):
        st.meter_running()
        assert balance(alice) == 60  # 4 minutes started: 40
    with clock.frozen(at(9)):
        assert st.state_of(pc)["session"]["remaining"] == 60
    with clock.frozen(at(12)):  # the worker comes late: still only the credit is taken
        st.meter_running()
    session.refresh_from_db()
    assert session.status == CafeSession.Status.ENDED
    assert session.end_reason == "credit"
    assert session.ended_at == at(10)
    assert (session.seconds, session.charged, session.debited) == (600, 100, 100)
    assert balance(alice) == 0
    assert cafe_revenue() == 100
    assert ledger_sum() == 0
    with clock.frozen(at(12)):
        assert st.state_of(pc)["mode"] == st.FREE


@PRICE
def test_no_credit_no_session(make_customer):
    bob = make_customer("bob")
    with pytest.raises(st.StationError) as err:
        st.start_prepaid(OWNER, make_station(), bob)
    assert err.value.code == "no_credit"
    assert not CafeSession.objects.exists()


@PRICE
def test_one_session_per_station(make_customer):
    pc = make_station()
    st.start_postpaid(OWNER, pc, "guest")
    with pytest.raises(st.StationError):
        st.start_postpaid(OWNER, pc, "another")


@PRICE
def test_a_server_restart_mid_session_loses_no_time_and_no_money(make_customer):
    """Everything lives in the database: a "restart" is a fresh read of the rows."""
    alice = make_customer("alice")
    give_credit(alice, 1000)
    pc = make_station()
    with clock.frozen(at(0)):
        st.start_prepaid(OWNER, pc, alice)
    with clock.frozen(at(5)):
        st.meter_running()
    # the server is down from minute 5 to minute 25; the PC kept being used
    with clock.frozen(at(25)):
        session = CafeSession.objects.get()  # nothing cached survives a restart
        assert session.used_seconds() == 25 * 60
        st.meter_running()
    assert balance(alice) == 750
    assert cafe_revenue() == 250
    with clock.frozen(at(30)):
        st.end(CafeSession.objects.get(), actor=OWNER)
    assert balance(alice) == 700 and cafe_revenue() == 300 and ledger_sum() == 0


@PRICE
def test_offline_session_end_is_reconciled_once_and_refunds_time_metered_after_it(
        make_customer):
    alice = make_customer("alice")
    give_credit(alice, 1000)
    pc = make_station()
    with clock.frozen(at(0)):
        session = st.start_prepaid(OWNER, pc, alice)
    with clock.frozen(at(20)):
        st.meter_running()  # the server metered 20 minutes
    assert balance(alice) == 800
    event = {"id": "e1", "kind": "logout", "session": session.pk, "ago": 8 * 60}
    with clock.frozen(at(20)):  # the agent says: the customer logged out 8 minutes ago
        assert st.apply_events(pc, [event]) == ["e1"]
        assert st.apply_events(pc, [event, event]) == ["e1", "e1"]  # resent: no effect
    session.refresh_from_db()
    assert session.status == CafeSession.Status.ENDED
    assert session.ended_at == at(12)
    assert (session.seconds, session.charged, session.debited) == (720, 120, 120)
    assert balance(alice) == 880 and cafe_revenue() == 120 and ledger_sum() == 0
    assert StationEvent.objects.get().outcome == "ended"


@PRICE
def test_pause_stops_the_clock_and_resume_restarts_it(make_customer):
    pc = make_station()
    with clock.frozen(at(0)):
        session = st.start_postpaid(OWNER, pc, "Ana")
    with clock.frozen(at(10)):
        st.pause(OWNER, session)
    with clock.frozen(at(40)):
        assert st.state_of(pc)["mode"] == st.PAUSED
        assert st.state_of(pc)["session"]["elapsed"] == 600
        st.resume(OWNER, session)
    with clock.frozen(at(45)):
        session.refresh_from_db()
        assert session.used_seconds() == 900


@PRICE
def test_move_keeps_the_session_and_frees_the_first_station(make_customer):
    a, b = make_station(), make_station()
    with clock.frozen(at(0)):
        session = st.start_postpaid(OWNER, a, "Ana")
    with clock.frozen(at(5)):
        st.move(OWNER, session, b)
        assert st.state_of(a)["mode"] == st.FREE
        assert st.state_of(b)["session"]["elapsed"] == 300
    c = make_station()
    st.start_postpaid(OWNER, c, "Bo")
    with pytest.raises(st.StationError):
        st.move(OWNER, session, c)


@PRICE
def test_postpaid_checkout_takes_cash_into_the_shift_with_an_itemised_bill(desk, open_shift):
    table = make_station(kind="device", name="Pool table")
    with clock.frozen(at(0)):
        session = st.start_postpaid(desk, table, "Table 1")
    with clock.frozen(at(61.5)):
        st.end(session, actor=desk)
        session.refresh_from_db()
        charge = st.bill(session)
        assert charge.total == 620  # 62 minutes started at 6.00/h
        assert any(line.kind == "time" for line in charge.lines)
        assert session in st.unpaid()
        before = ledger.shift_cash(open_shift)
        st.checkout(desk, session)
    assert ledger.shift_cash(open_shift) - before == 620
    assert cafe_revenue() == 620 and ledger_sum() == 0
    assert not st.unpaid().exists()
    with pytest.raises(st.StationError):
        st.checkout(desk, session)


@PRICE
def test_checkout_needs_an_open_shift(cashier_actor):
    session = st.start_postpaid(cashier_actor, make_station(), "x")
    with pytest.raises(ledger.NoOpenShift):
        st.checkout(cashier_actor, session)


@PRICE
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(credit=strat.integers(0, 400),
       ticks=strat.lists(strat.integers(1, 400), min_size=1, max_size=8))
def test_metering_never_takes_more_than_the_credit_and_sums_to_the_price(
        make_customer, credit, ticks):
    customer = make_customer()
    if credit:
        give_credit(customer, credit)
    pc = make_station()
    with clock.frozen(T0):
        try:
            session = st.start_prepaid(OWNER, pc, customer)
        except st.StationError:
            assert credit < 10
            return
    t = T0
    for step in ticks:
        t += dt.timedelta(seconds=step)
        with clock.frozen(t):
            st.meter_running()
            assert balance(customer) >= 0
    with clock.frozen(t):
        st.end(session, actor=OWNER)
    session.refresh_from_db()
    assert session.debited == session.charged <= credit
    assert st.bill(session).total == session.charged
    assert balance(customer) == credit - session.charged
    assert ledger_sum() == 0


@PRICE
def test_package_time_is_used_before_money_and_counts_in_the_remaining_time(make_customer):
    from ficha.tariffs import services as tariffs

    alice = make_customer("alice")
    give_credit(alice, 300)
    package = tariffs.create_package(OWNER, name="Half hour", seconds=1800, price=200)
    with clock.frozen(at(-1)):
        tariffs.buy_package(OWNER, alice, package)
    assert balance(alice) == 100
    pc = make_station()
    with clock.frozen(at(0)):
        session = st.start_prepaid(OWNER, pc, alice)
        assert st.state_of(pc)["session"]["remaining"] == 1800 + 600
    with clock.frozen(at(20)):
        st.meter_running()
    assert balance(alice) == 100  # package time: nothing debited
    with clock.frozen(at(35)):
        st.meter_running()
        assert st.state_of(pc)["session"]["remaining"] == 300
    assert balance(alice) == 50  # 5 minutes beyond the package
    with clock.frozen(at(45)):
        st.meter_running()
    session.refresh_from_db()
    assert session.status == CafeSession.Status.ENDED and session.ended_at == at(40)
    assert (session.package_seconds, session.charged, session.debited) == (1800, 100, 100)
    assert balance(alice) == 0 and ledger_sum() == 0
    assert tariffs.package_seconds_left(alice) == 0


def test_a_station_is_priced_by_its_group_tariff_and_keeps_it_when_moved(make_customer):
    from ficha.tariffs import services as tariffs

    def hourly(name, price):
        return tariffs.create_tariff(
            OWNER, name=name, increment=60, fallback="all",
            rates=[{"name": "all", "steps": [{"start": 0, "prices": {"guest": price}}]}])

    hourly("Standard", 600)
    vip = tariffs.create_station_group(OWNER, "VIP", tariff=hourly("VIP", 1200))
    plain, gaming = make_station(), make_station(group=vip)
    with clock.frozen(at(0)):
        a = st.start_postpaid(OWNER, plain, "a")
        b = st.start_postpaid(OWNER, gaming, "b")
    with clock.frozen(at(30)):
        assert st.bill(a).total == 300 and st.bill(b).total == 600
        st.move(OWNER, b, make_station())
        assert st.bill(CafeSession.objects.get(pk=b.pk)).total == 600


@PRICE
@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ticks=strat.lists(strat.integers(1, 900), min_size=1, max_size=6),
       ago=strat.integers(0, 4000), resends=strat.integers(1, 3))
def test_an_offline_end_settles_to_the_price_of_the_time_used_whatever_was_metered(
        make_customer, ticks, ago, resends):
    customer = make_customer()
    give_credit(customer, 1000)
    pc = make_station()
    with clock.frozen(T0):
        session = st.start_prepaid(OWNER, pc, customer)
    t = T0
    for step in ticks:
        t += dt.timedelta(seconds=step)
        with clock.frozen(t):
            st.meter_running()
    event = {"id": f"e-{session.pk}", "kind": "session_end", "session": session.pk, "ago": ago}
    with clock.frozen(t):
        for _n in range(resends):
            assert st.apply_events(pc, [event]) == [event["id"]]
    session.refresh_from_db()
    assert session.status == CafeSession.Status.ENDED
    assert session.ended_at == max(T0, t - dt.timedelta(seconds=ago))
    assert session.debited == session.charged == st.bill(session).total
    assert balance(customer) == 1000 - session.charged >= 0
    assert ledger_sum() == 0


def test_time_after_a_package_is_priced_in_the_band_it_was_used_in(make_customer):
    """A package covers 21:30-22:00; the paid half hour after it is night time."""
    from ficha.core.services import venue_settings
    from ficha.tariffs import services as tariffs

    tz = venue_settings().time_zone
    tariffs.create_tariff(
        OWNER, name="Day and night", increment=60, fallback="day",
        rates=[{"name": "day", "steps": [{"start": 0, "prices": {"guest": 600}}]},
               {"name": "night", "steps": [{"start": 0, "prices": {"guest": 1200}}]}],
        bands=[{"days": list(range(7)), "start": 22 * 60, "end": 24 * 60, "rate": "night"}])
    alice = make_customer("alice")
    give_credit(alice, 1000)
    package = tariffs.create_package(OWNER, name="30 min", seconds=1800, price=0)
    tariffs.buy_package(OWNER, alice, package)
    import zoneinfo

    start = dt.datetime(2026, 3, 2, 21, 30, tzinfo=zoneinfo.ZoneInfo(tz))
    with clock.frozen(start):
        session = st.start_prepaid(OWNER, make_station(), alice)
    with clock.frozen(start + dt.timedelta(minutes=60)):
        st.meter_running()
    session.refresh_from_db()
    assert session.package_seconds == 1800
    assert session.charged == 600  # 30 night minutes at 1200 an hour, not day price
    assert "night" in " ".join(line.text for line in st.bill(session).lines)


@PRICE
def test_checkout_of_a_running_prepaid_session_is_refused_and_leaves_it_running(
        make_customer, desk, open_shift):
    """A cashier (or an API client) who checks out a prepaid session by mistake gets a
    refusal — and the customer's session keeps running (found by trying it: it was ended)."""
    awa = make_customer("awa")
    give_credit(awa, 100)
    pc = make_station()
    with clock.frozen(at(0)):
        session = st.start_prepaid(OWNER, pc, awa)
    with clock.frozen(at(2)), pytest.raises(st.StationError):
        st.checkout(desk, session)
    session.refresh_from_db()
    assert session.status == CafeSession.Status.RUNNING
    assert session.ended_at is None
    assert balance(awa) == 100
    with clock.frozen(at(2)):
        assert st.state_of(pc)["mode"] == "session"


@PRICE
def test_an_account_a_code_opens_at_a_station_is_audited_as_opened_at_the_station(
    office, desk
):
    """Found trying the café: the audit log said such accounts were opened on the portal."""
    from ficha.core.models import AuditLog
    from ficha.recharges import services as recharges

    batch = recharges.generate(office, count=1, amount=120)
    recharges.sell_batch(desk, batch)
    code = batch.recharges.get().code
    pc = make_station(name="PC-07")
    session, credited = st.agent_code(pc, code, ip="10.0.0.7")
    assert credited == 120
    entry = AuditLog.objects.get(action="customer.create")
    assert entry.object_id == str(session.customer_id)
    assert entry.source == "station"
