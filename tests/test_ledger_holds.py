"""Credit held by live calls (ledger holds) is seen by every other debit of the account:
café metering, hotspot Session-Timeout and interim debits, packages, refunds and
adjustments take at most ``balance − holds``; the call's end still debits its whole cost,
and the balance never goes below zero."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as strat

from ficha.accounts import services as accounts
from ficha.callshop import calls
from ficha.callshop import services as callshop
from ficha.callshop.models import Call
from ficha.core import clock
from ficha.hotspot import services as hs
from ficha.ledger import services as ledger
from ficha.ledger.models import Entry, Hold, Transaction
from ficha.stations import services as st
from ficha.tariffs import services as tariffs

from .hotspot_support import acct, make_nas, make_plan
from .pbx_support import SYSTEM, give_credit, ledger_sum, make_booth, make_deck
from .stations_support import make_station

T0 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)  # a Monday
FRANCE = "0033140000000"  # 100 a minute, per started minute (pbx_support.DECK)
CAFE_PRICE = override_settings(FICHA_CAFE_PRICE_PER_HOUR=600)  # 10 a minute


def at(seconds: int) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


@pytest.fixture
def alice(make_customer):
    return make_customer("alice", password="alice-secret-1")


def credit_id(customer) -> int:
    return customer.credit_account_id


def call_from(booth, customer, external_id: str = ""):
    auth = callshop.authorize(booth.name, FRANCE, account=customer.username,
                              external_id=external_id)
    assert auth.allowed, auth.message
    return auth


# --- the ledger rule ----------------------------------------------------------------------
def test_a_hold_lowers_what_debits_may_take_not_the_balance(db, alice):
    give_credit(alice, 1000)
    ledger.place_hold(credit_id(alice), 700, "test:1")
    assert accounts.balance(alice) == 1000
    assert ledger.held(credit_id(alice)) == 700
    assert ledger.spendable(credit_id(alice)) == accounts.available(alice) == 300
    assert ledger_sum() == 0  # a hold moves no money
    with pytest.raises(ledger.InsufficientCredit):
        ledger.place_hold(credit_id(alice), 301, "test:2")
    assert ledger.place_hold(credit_id(alice), 300, "test:2").amount == 300
    assert ledger.spendable(credit_id(alice)) == 0


def test_a_hold_is_released_exactly_once(db, alice):
    give_credit(alice, 1000)
    first = ledger.place_hold(credit_id(alice), 400, "call:x")
    again = ledger.place_hold(credit_id(alice), 400, "call:x")  # a retried placement
    assert again.pk == first.pk and ledger.held(credit_id(alice)) == 400
    assert ledger.release_hold("call:x") == 400
    assert ledger.release_hold(first) == 0
    assert ledger.spendable(credit_id(alice)) == 1000
    first.refresh_from_db()
    assert first.released_at is not None


def test_settling_a_hold_releases_it_and_debits_in_one_step(db, alice):
    give_credit(alice, 1000)
    ledger.place_hold(credit_id(alice), 1000, "call:y")
    assert ledger.spendable(credit_id(alice)) == 0
    tx = ledger.settle_hold("call:y", "test.settle",
                            [(credit_id(alice), 1000), (ledger.REVENUE_CALLS, -1000)])
    assert tx is not None  # the debit used its own hold
    assert accounts.balance(alice) == 0 and ledger.held(credit_id(alice)) == 0
    assert ledger.settle_hold("call:y", "test.settle",
                              [(credit_id(alice), 0), (ledger.REVENUE_CALLS, 0)]) is None


def test_bad_holds_are_refused(db, alice):
    give_credit(alice, 100)
    for amount in (0, -5, 1.5, True):
        with pytest.raises(ledger.LedgerError):
            ledger.place_hold(credit_id(alice), amount, "test:bad")
    with pytest.raises(ledger.LedgerError):
        ledger.place_hold(credit_id(alice), 10, "")
    assert not Hold.objects.exists()


def test_the_sql_form_reads_the_same_as_spendable_for_many_accounts(db, make_customer):
    people = [make_customer(password="") for _ in range(4)]
    for n, person in enumerate(people):
        if n:
            give_credit(person, 500 * n)
        if n > 1:
            ledger.place_hold(credit_id(person), 100 * n, f"test:{n}")
    ledger.place_hold(credit_id(people[3]), 50, "test:released")
    ledger.release_hold("test:released")
    q = connection.ops.quote_name
    col = f"{q('ledger_account')}.{q('id')}"
    with connection.cursor() as cur:
        cur.execute(f"SELECT {col}, {ledger.spendable_sql(col)} FROM {q('ledger_account')} "
                    f"WHERE {col} IN ({', '.join(['%s'] * len(people))})",
                    [p.credit_account_id for p in people])
        got = {pk: int(v) for pk, v in cur.fetchall()}
    assert got == {p.credit_account_id: ledger.spendable(p.credit_account_id)
                   for p in people}
    assert [got[p.credit_account_id] for p in people] == [0, 500, 800, 1200]


# --- calls hold their reservation in the ledger ------------------------------------------
def test_a_prepaid_call_holds_its_reservation_until_it_ends(db, alice):
    make_deck()
    booth = make_booth()
    give_credit(alice, 1050)
    auth = call_from(booth, alice, "u-1")
    assert auth.reserved == 1000 and auth.max_seconds == 600
    assert ledger.held(credit_id(alice)) == calls.held(alice) == 1000
    assert accounts.available(alice) == 50
    ending = callshop.end_call(auth.call.pk, 125)  # 3 started minutes
    assert ending.cost == 300 and ending.debited
    assert ledger.held(credit_id(alice)) == 0
    assert accounts.balance(alice) == accounts.available(alice) == 750
    assert callshop.end_call(auth.call.pk, 500).repeated  # a retry changes nothing
    assert accounts.balance(alice) == 750
    assert Transaction.objects.filter(kind=calls.LEDGER_KIND).count() == 1


def test_an_unanswered_call_releases_its_hold_without_a_debit(db, alice):
    make_deck()
    give_credit(alice, 500)
    auth = call_from(make_booth(), alice)
    assert accounts.available(alice) == 0
    assert not callshop.end_call(auth.call.pk, 0).debited
    assert accounts.available(alice) == accounts.balance(alice) == 500


def test_a_second_call_gets_only_what_the_first_does_not_hold(db, alice):
    make_deck()
    give_credit(alice, 1050)
    call_from(make_booth(), alice)
    second = callshop.authorize(make_booth().name, FRANCE, account="alice")
    assert not second.allowed and second.reason == "credit"
    assert second.credit == 50


# --- other debits cannot take held credit --------------------------------------------------
def test_hotspot_grants_less_time_while_a_call_holds_credit(db, alice):
    make_deck()
    nas = make_nas(vendor="generic")
    make_plan(price_per_hour=600, increment_seconds=60)  # 10 a minute
    give_credit(alice, 1050)
    d = hs.authorize(nas, hs.AuthRequest(username="alice", password="alice-secret-1",
                                         mac="AA:BB:CC:00:00:01"))
    full = dict(d.attributes)["Session-Timeout"]
    assert full == 6300  # 1050 buys 105 minutes
    auth = call_from(make_booth(), alice)
    d = hs.authorize(nas, hs.AuthRequest(username="alice", password="alice-secret-1",
                                         mac="AA:BB:CC:00:00:02"))
    assert d.accept and dict(d.attributes)["Session-Timeout"] == 300  # 50 left: 5 min
    callshop.end_call(auth.call.pk, 590)  # 10 minutes: 1000
    d = hs.authorize(nas, hs.AuthRequest(username="alice", password="alice-secret-1",
                                         mac="AA:BB:CC:00:00:03"))
    assert d.accept and dict(d.attributes)["Session-Timeout"] == 300


def test_hotspot_interims_cannot_take_held_credit_and_the_call_end_debits_fully(db, alice):
    make_deck()
    nas = make_nas(vendor="generic")
    make_plan(price_per_hour=3600, increment_seconds=60)  # 60 a minute
    give_credit(alice, 1200)
    d = hs.authorize(nas, hs.AuthRequest(username="alice", password="alice-secret-1",
                                         mac="AA:BB:CC:00:00:01"))
    cls = dict(d.attributes)["Class"]
    hs.account(nas, acct("start", klass=cls))
    auth = call_from(make_booth(), alice)  # holds 1200: the whole credit, 12 minutes
    assert auth.reserved == 1200
    r = hs.account(nas, acct("interim", t=600, klass=cls))  # owes 600
    assert r.debit == 0 and r.session.unpaid == 600
    ending = callshop.end_call(auth.call.pk, 720)  # 12 minutes talked: all of it
    assert ending.cost == 1200 and ending.debited
    assert accounts.balance(alice) == 0
    r = hs.account(nas, acct("stop", t=660, klass=cls))
    assert r.debit == 0 and accounts.balance(alice) == 0
    assert ledger_sum() == 0


@CAFE_PRICE
def test_cafe_metering_cannot_take_held_credit(db, alice):
    make_deck()
    give_credit(alice, 1100)
    pc = make_station()
    with clock.frozen(at(0)):
        session = st.start_prepaid(SYSTEM, pc, alice)
        assert st.limit_seconds(session) == 6600  # 1100 at 10 a minute
        auth = call_from(make_booth(), alice)  # holds 1100
        assert auth.reserved == 1100
        assert st.limit_seconds(session) == 0
    with clock.frozen(at(300)):
        st.meter(session)
    session.refresh_from_db()
    assert session.debited == 0 and session.charged == 50
    callshop.end_call(auth.call.pk, 660)  # 11 minutes: the whole hold
    assert accounts.balance(alice) == 0
    with clock.frozen(at(310)):
        st.end(session, actor=SYSTEM)
    assert accounts.balance(alice) == 0 and ledger_sum() == 0


@CAFE_PRICE
def test_cafe_time_left_comes_back_when_the_call_ends_short(db, alice):
    make_deck()
    give_credit(alice, 1100)
    with clock.frozen(at(0)):
        auth = call_from(make_booth(), alice)
        callshop.end_call(auth.call.pk, 30)  # one started minute: 100
        session = st.start_prepaid(SYSTEM, make_station(), alice)
        assert st.limit_seconds(session) == 6000  # 1000 at 10 a minute


def test_a_cafe_session_cannot_start_on_held_credit(db, alice):
    make_deck()
    give_credit(alice, 1000)
    call_from(make_booth(), alice)
    with pytest.raises(st.StationError) as err:
        st.start_prepaid(SYSTEM, make_station(), alice)
    assert err.value.code == "no_credit"


def test_refunds_adjustments_and_packages_cannot_take_held_credit(db, alice, desk):
    make_deck()
    give_credit(alice, 1050)
    call_from(make_booth(), alice)  # holds 1000
    with pytest.raises(accounts.AccountError):
        accounts.refund(desk, alice, 100)
    with pytest.raises(accounts.AccountError):
        accounts.adjust(SYSTEM, alice, -100, "correction")
    package = tariffs.create_package(SYSTEM, name="1 h", seconds=3600, price=500)
    with pytest.raises(tariffs.TariffError):
        tariffs.buy_package(SYSTEM, alice, package)
    accounts.refund(desk, alice, 50)  # what is not held can go
    assert accounts.balance(alice) == 1000 and accounts.available(alice) == 0


# --- property: interleavings on one account ----------------------------------------------
steps = strat.lists(strat.one_of(
    strat.tuples(strat.just("call"), strat.integers(0, 2)),
    strat.tuples(strat.just("end"), strat.integers(0, 2), strat.integers(0, 1500)),
    strat.tuples(strat.just("cafe"), strat.integers(1, 900)),
    strat.tuples(strat.just("wifi"), strat.integers(1, 900)),
    strat.tuples(strat.just("topup"), strat.integers(1, 800)),
), min_size=1, max_size=14)


@CAFE_PRICE
@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(credit=strat.integers(0, 3000), plan=steps)
def test_any_interleaving_keeps_the_balance_at_or_above_zero(db, make_customer, credit,
                                                             plan):
    # Hypothesis runs every example in the same test transaction: shared rows once.
    if callshop.find_deck("retail") is None:
        make_deck()
        make_plan(price_per_hour=3600, increment_seconds=60)  # 60 a minute
    nas = make_nas(vendor="generic")
    customer = make_customer(password="")
    if credit:
        give_credit(customer, credit)
    booths = [make_booth() for _ in range(3)]
    live: dict[int, object] = {}
    ended: list[int] = []
    pc = make_station()
    now = T0
    with clock.frozen(now):
        try:
            cafe = st.start_prepaid(SYSTEM, pc, customer)
        except st.StationError:  # not enough credit for the first minute
            cafe = None
    wifi_time = cafe_time = 0
    sid = f"s{customer.pk}"
    hs.account(nas, acct("start", sid=sid, user=customer.username))
    for step in plan:
        now += dt.timedelta(seconds=1)
        with clock.frozen(now):
            if step[0] == "call" and step[1] not in live:
                auth = callshop.authorize(booths[step[1]].name, FRANCE,
                                          account=customer.username)
                if auth.allowed:
                    live[step[1]] = auth.call
            elif step[0] == "end" and step[1] in live:
                call = live.pop(step[1])
                held_before = ledger.held(customer.credit_account_id)
                ending = callshop.end_call(call.pk, step[2])
                assert ending.cost <= call.reserved <= held_before
                ended.append(call.pk)
            elif step[0] == "cafe" and cafe is not None:
                cafe_time += step[1]
                st.meter(cafe, at=T0 + dt.timedelta(seconds=cafe_time))
            elif step[0] == "wifi":
                wifi_time += step[1]
                hs.account(nas, acct("interim", sid=sid, t=wifi_time,
                                     user=customer.username))
            elif step[0] == "topup":
                give_credit(customer, step[1])
        balance = accounts.balance(customer)
        assert balance >= 0
        assert balance >= ledger.held(customer.credit_account_id)
        assert balance == -sum(Entry.objects.filter(
            account_id=customer.credit_account_id).values_list("amount", flat=True))
        assert ledger_sum() == 0
    for call in live.values():
        callshop.end_call(call.pk, 100_000)  # talked past the grant: billed the grant
        ended.append(call.pk)
    assert accounts.balance(customer) >= 0 and ledger.held(customer.credit_account_id) == 0
    for pk in ended:  # every call's end debited once, its whole rated cost
        call = Call.objects.get(pk=pk)
        debits = Transaction.objects.filter(kind=calls.LEDGER_KIND, reference=f"call:{pk}")
        assert debits.count() == (1 if call.cost else 0)
        if call.cost:
            assert Entry.objects.get(transaction=debits.get(),
                                     account_id=customer.credit_account_id).amount == call.cost
    assert ledger_sum() == 0


# --- what people see ----------------------------------------------------------------------
def test_console_and_portal_show_what_is_available_while_a_call_holds_credit(
        client, cashier, make_customer):
    from django.urls import reverse

    from ficha.portal import views as portal

    make_deck()
    ada = make_customer("ada", password="ada-secret")
    give_credit(ada, 1050)
    auth = call_from(make_booth(), ada)  # holds 1000 of 1050
    client.force_login(cashier)
    page = client.get(reverse("console:customer", args=[ada.pk])).content.decode()
    assert 'id="available"' in page
    client.logout()
    client.post("/login", {"action": "password", "username": "ada", "password": "ada-secret"},
                REMOTE_ADDR="10.1.1.1")
    home = client.get("/").content.decode()
    assert 'id="available"' in home and portal.money(50) in home
    assert portal.money(1050) in home  # the balance itself is still shown
    callshop.end_call(auth.call.pk, 0)  # not answered: the hold goes, nothing is debited
    assert 'id="available"' not in client.get("/").content.decode()
    client.force_login(cashier)
    page = client.get(reverse("console:customer", args=[ada.pk])).content.decode()
    assert 'id="available"' not in page
