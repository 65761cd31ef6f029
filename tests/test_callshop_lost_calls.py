"""A prepaid call whose end never comes (PBX crash, AGI killed) and whose CDR never arrives
does not hold the customer's credit for ever: the worker marks it lost after its granted
time and ``CALLSHOP_LOST_CALL_MINUTES``, releasing the hold. A late end or CDR still
charges it exactly once, at most the credit then (the rest is ``unpaid``, shown on the
booth board); CDR-only prepaid calls never drive the balance below zero either."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.test import override_settings
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as strat

from ficha.accounts import services as accounts
from ficha.callshop import services as callshop
from ficha.callshop.models import Call
from ficha.core import clock, jobs
from ficha.core.models import AuditLog
from ficha.ledger import services as ledger
from ficha.ledger.models import Hold, Transaction

from .pbx_support import SYSTEM, give_credit, ledger_sum, make_booth, make_deck

T0 = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)
FRANCE = "0033140000000"  # 100 a minute, per started minute (pbx_support.DECK)
MARGIN = dt.timedelta(minutes=15)  # the default CALLSHOP_LOST_CALL_MINUTES


def at(delta: dt.timedelta | int) -> dt.datetime:
    return T0 + (delta if isinstance(delta, dt.timedelta) else dt.timedelta(seconds=delta))


def cdr(uid: str, account: str = "alice", billsec: int = 125) -> bytes:
    """One Asterisk Master.csv record of booth1 (the booth found by its endpoint)."""
    fields = [
        f'"{account}"',
        '"100"',
        f'"{FRANCE}"',
        '"booths"',
        '"""Booth 1"" <100>"',
        '"PJSIP/booth1-00000001"',
        '"PJSIP/trunk-00000002"',
        '"Dial"',
        f'"PJSIP/{FRANCE}@trunk,60"',
        '"2026-12-01 10:00:00"',
        '"2026-12-01 10:00:05"',
        '"2026-12-01 10:02:10"',
        str(billsec + 5),
        str(billsec),
        '"ANSWERED"' if billsec else '"NO ANSWER"',
        '"DOCUMENTATION"',
        f'"{uid}"',
        '""',
    ]
    return (",".join(fields) + "\n").encode()


@pytest.fixture
def shop(db):
    make_deck()
    return make_booth("booth1")


@pytest.fixture
def alice(make_customer):
    return make_customer("alice", password="")


def authorize(external_id: str, when: dt.datetime = T0, account: str = "alice"):
    with clock.frozen(when):
        auth = callshop.authorize("booth1", FRANCE, account=account, external_id=external_id)
    assert auth.allowed, auth.message
    return auth.call


def sweep(when: dt.datetime) -> int:
    with clock.frozen(when):
        return callshop.sweep_lost_calls()


def credit_id(customer) -> int:
    return customer.credit_account_id


# --- the worker job ---------------------------------------------------------------------
def test_the_job_is_registered_with_the_worker(db):
    assert ("callshop.sweep_lost_calls", callshop.sweep_lost_calls) in jobs.registered()


def test_a_call_that_never_ends_is_lost_after_its_granted_time_and_the_margin(shop, alice):
    give_credit(alice, 1000)
    call = authorize("u-1")
    assert call.max_seconds == 600 and call.reserved == 1000
    assert ledger.spendable(credit_id(alice)) == 0  # the whole credit is held

    # Up to the latest possible end + 15 minutes, the call may still be talking.
    assert sweep(at(dt.timedelta(seconds=600) + MARGIN)) == 0
    call.refresh_from_db()
    assert call.live and ledger.held(credit_id(alice)) == 1000

    assert sweep(at(dt.timedelta(seconds=601) + MARGIN)) == 1
    call.refresh_from_db()
    assert call.state == Call.State.LOST and call.reserved == 0
    assert "released" in call.reason and call.ended_at == at(dt.timedelta(seconds=601) + MARGIN)
    assert ledger.held(credit_id(alice)) == 0
    assert accounts.available(alice) == accounts.balance(alice) == 1000  # nothing debited
    assert Hold.objects.get(reference=f"call:{call.pk}").released_at is not None
    log = AuditLog.objects.get(action="callshop.call.lost")
    assert log.source == "system" and log.object_id == str(call.pk)
    assert log.after["released"] == 1000
    # Run again (the next round, or a second worker): nothing more happens.
    assert sweep(at(dt.timedelta(hours=2))) == 0
    assert AuditLog.objects.filter(action="callshop.call.lost").count() == 1
    # The PBX retrying the authorization gets no new talk time on the lost call.
    with clock.frozen(at(dt.timedelta(hours=2))):
        again = callshop.authorize("booth1", FRANCE, account="alice", external_id="u-1")
    assert not again.allowed and again.reason == "duplicate"


@override_settings(CALLSHOP_LOST_CALL_MINUTES=2)
def test_the_margin_is_a_setting_and_ended_calls_are_left_alone(shop, alice, make_customer):
    give_credit(alice, 1000)
    give_credit(make_customer("bob", password=""), 1000)
    lost = authorize("u-1")
    ended = authorize("u-2", at(1), account="bob")
    with clock.frozen(at(60)):
        callshop.end_call(ended.pk, 0)
    assert sweep(at(lost.max_seconds + 119)) == 0
    assert sweep(at(lost.max_seconds + 121)) == 1
    assert set(Call.objects.values_list("external_id", "state")) == {
        ("u-1", "lost"),
        ("u-2", "ended"),
    }


def test_the_board_shows_lost_calls_with_the_reason(shop, alice, client, cashier):
    give_credit(alice, 1000)
    call = authorize("u-1")
    sweep(at(dt.timedelta(hours=1)))
    client.force_login(cashier)
    html = client.get(reverse("console:booth_board")).content.decode()
    assert f'data-call="{call.pk}" data-state="lost"' in html
    call.refresh_from_db()
    assert call.reason in html.replace("&#x27;", "'")


# --- late end and CDR --------------------------------------------------------------------
def test_a_late_end_is_debited_once_at_most_the_credit_left(shop, alice):
    give_credit(alice, 1000)
    call = authorize("u-1")
    sweep(at(dt.timedelta(hours=1)))
    # The released credit was spent meanwhile: 900 of the 1000.
    with clock.frozen(at(dt.timedelta(hours=1, minutes=1))):
        accounts.adjust(SYSTEM, alice, -900, "spent at the counter")
    with clock.frozen(at(dt.timedelta(hours=2))):
        ending = callshop.end_call(call.pk, 125)  # 3 started minutes: 300
    assert (ending.cost, ending.debited, ending.unpaid) == (300, True, 200)
    assert accounts.balance(alice) == 0 and ledger_sum() == 0
    call.refresh_from_db()
    assert call.state == Call.State.ENDED and call.cost == 300 and call.unpaid == 200
    assert "200" in call.reason
    # The PBX retries, then the CDR arrives: nothing is charged again.
    again = callshop.end_call(call.pk, 125)
    assert again.repeated and again.unpaid == 200
    result = callshop.import_file(SYSTEM, cdr("u-1"), name="Master.csv")
    assert result.duplicates == 1 and result.charged == 0 and result.ended == 0
    assert Transaction.objects.filter(kind="callshop.call").count() == 1
    assert accounts.balance(alice) == 0


def test_a_late_end_with_enough_credit_pays_in_full(shop, alice):
    give_credit(alice, 1000)
    call = authorize("u-1")
    sweep(at(dt.timedelta(hours=1)))
    with clock.frozen(at(dt.timedelta(hours=2))):
        ending = callshop.end_call(call.pk, 61)
    assert (ending.cost, ending.unpaid) == (200, 0)
    assert accounts.balance(alice) == 800
    call.refresh_from_db()
    assert call.state == Call.State.ENDED and "lost" in call.reason


def test_a_late_cdr_ends_a_lost_call_once_and_a_later_end_changes_nothing(shop, alice):
    give_credit(alice, 1000)
    call = authorize("u-1")
    sweep(at(dt.timedelta(hours=1)))
    with clock.frozen(at(dt.timedelta(hours=3))):
        result = callshop.import_file(SYSTEM, cdr("u-1"), name="Master.csv")
    assert result.ended == 1 and result.charged == 1 and result.charged_amount == 300
    assert result.imported == 0 and result.unpaid == 0
    assert accounts.balance(alice) == 700
    again = callshop.import_file(SYSTEM, cdr("u-1"), name="Master.csv")
    assert again.duplicates == 1 and again.charged == 0
    ending = callshop.end_call(call.pk, 125)
    assert ending.repeated and ending.cost == 300
    assert Transaction.objects.filter(kind="callshop.call").count() == 1
    assert accounts.balance(alice) == 700 and ledger_sum() == 0


def test_a_cdr_only_prepaid_call_never_takes_more_than_the_credit(shop, alice):
    give_credit(alice, 250)
    # 300 then 200: the credit pays the first call in part and the second not at all.
    result = callshop.import_file(SYSTEM, cdr("c-1") + cdr("c-2", billsec=61), name="Master.csv")
    assert result.imported == 2 and result.total_cost == 500
    assert result.charged == 1 and result.charged_amount == 250 and result.unpaid == 250
    assert accounts.balance(alice) == 0 and ledger_sum() == 0
    first, second = Call.objects.get(external_id="c-1"), Call.objects.get(external_id="c-2")
    assert (first.cost, first.unpaid) == (300, 50) and first.ledger_transaction_id
    assert (second.cost, second.unpaid) == (200, 200) and not second.ledger_transaction_id
    assert "250" not in second.reason and "200" in second.reason
    # Without any credit: nothing is posted, everything is unpaid.
    nothing = callshop.import_file(SYSTEM, cdr("c-3"), name="Master.csv")
    assert nothing.charged == 0 and nothing.unpaid == 300 and accounts.balance(alice) == 0


def test_a_cdr_only_call_does_not_take_credit_held_by_a_live_call(shop, alice):
    give_credit(alice, 1000)
    live = authorize("u-1", at(dt.timedelta(days=2)))  # holds the whole 1000
    result = callshop.import_file(SYSTEM, cdr("c-1"), name="Master.csv")
    assert result.unpaid == 300 and accounts.balance(alice) == 1000
    with clock.frozen(at(dt.timedelta(days=2, minutes=5))):
        assert callshop.end_call(live.pk, 125).unpaid == 0
    assert accounts.balance(alice) == 700


def test_within_credit_is_never_negative(db, alice, make_customer):
    assert ledger.within_credit(credit_id(alice), 500) == 0
    give_credit(alice, 300)
    assert ledger.within_credit(credit_id(alice), 500) == 300
    assert ledger.within_credit(credit_id(alice), 200) == 200
    ledger.place_hold(credit_id(alice), 300, "test:1")
    assert ledger.within_credit(credit_id(alice), 200) == 0
    bob = make_customer("bob", password="")
    give_credit(bob, 120)
    assert ledger.within_credit_many({credit_id(alice): 200, credit_id(bob): 200}) == {
        credit_id(alice): 0,
        credit_id(bob): 120,
    }


# --- two workers at once -----------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_mark_each_call_lost_once(make_customer):
    make_deck()
    make_booth("booth1")
    customers = [make_customer(f"c{n}", password="") for n in range(4)]
    for customer in customers:
        give_credit(customer, 500)
    calls = [authorize(f"u-{n}", at(n), f"c{n}") for n in range(4)]
    assert sum(ledger.held(credit_id(c)) for c in customers) == 2000
    start = threading.Barrier(2)

    def worker(_i):
        try:
            start.wait(timeout=30)
            return sweep(at(dt.timedelta(hours=2)))
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        done = list(pool.map(worker, range(2)))
    assert sum(done) == len(calls), done
    assert AuditLog.objects.filter(action="callshop.call.lost").count() == len(calls)
    assert set(Call.objects.values_list("state", flat=True)) == {"lost"}
    assert all(ledger.held(credit_id(c)) == 0 and accounts.available(c) == 500 for c in customers)


def test_a_claim_loses_to_an_end_that_came_first(shop, alice, monkeypatch):
    # The worker read the call as live, then the end arrived before its UPDATE.
    give_credit(alice, 1000)
    call = authorize("u-1")
    real = Call.objects.filter

    def end_first(*args, **kwargs):
        if kwargs.get("state") == Call.State.RESERVED and "pk" in kwargs:
            callshop.end_call(call.pk, 61)
        return real(*args, **kwargs)

    monkeypatch.setattr(Call.objects, "filter", end_first)
    assert sweep(at(dt.timedelta(hours=1))) == 0
    monkeypatch.undo()
    call.refresh_from_db()
    assert call.state == Call.State.ENDED and call.cost == 200
    assert accounts.balance(alice) == 800
    assert not AuditLog.objects.filter(action="callshop.call.lost").exists()


# --- property: whatever happens, the balance never goes below zero ------------------------
STEP = strat.one_of(
    strat.tuples(strat.just("call"), strat.integers(0, 5)),
    strat.tuples(strat.just("end"), strat.integers(0, 5), strat.integers(0, 900)),
    strat.tuples(strat.just("cdr"), strat.integers(0, 5), strat.integers(0, 900)),
    strat.tuples(strat.just("cdr_only"), strat.integers(0, 900)),
    strat.tuples(strat.just("sweep"), strat.integers(0, 3600)),
    strat.tuples(strat.just("spend"), strat.integers(1, 500)),
    strat.tuples(strat.just("top_up"), strat.integers(1, 500)),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(credit=strat.integers(0, 1500), plan=strat.lists(STEP, max_size=14))
def test_any_mix_of_lost_calls_late_ends_and_cdrs_keeps_the_balance_at_or_above_zero(
    db, make_customer, credit, plan
):
    if callshop.find_deck("retail") is None:
        make_deck()
    booth = make_booth()
    customer = make_customer(password="")
    if credit:
        give_credit(customer, credit)
    now = T0
    calls: dict[int, Call] = {}
    n = 0
    for step in plan:
        now += dt.timedelta(seconds=30)
        n += 1
        uid = f"{customer.pk}-{n}"
        with clock.frozen(now):
            kind = step[0]
            if kind == "call" and step[1] not in calls:
                auth = callshop.authorize(
                    booth.name,
                    FRANCE,
                    account=customer.username,
                    external_id=f"{customer.pk}-k{step[1]}",
                )
                if auth.allowed:
                    calls[step[1]] = auth.call
            elif kind == "end" and step[1] in calls:
                callshop.end_call(calls[step[1]].pk, step[2])
            elif kind in ("cdr", "cdr_only"):
                ext = f"{customer.pk}-k{step[1]}" if kind == "cdr" else uid
                seconds = step[-1]
                line = cdr(ext, account=customer.username, billsec=seconds).replace(
                    b"booth1", booth.name.encode()
                )
                callshop.import_file(SYSTEM, line, name="Master.csv")
            elif kind == "sweep":
                now += dt.timedelta(seconds=step[1])
                with clock.frozen(now):
                    callshop.sweep_lost_calls()
            elif kind == "spend":
                amount = min(step[1], accounts.available(customer))
                if amount > 0:
                    accounts.adjust(SYSTEM, customer, -amount, "spent")
            elif kind == "top_up":
                give_credit(customer, step[1])
        assert accounts.balance(customer) >= 0
        assert accounts.available(customer) >= 0
        assert ledger_sum() == 0
    # Every charged call: cost = what was debited + what is unpaid, never more.
    for call in Call.objects.filter(customer=customer, state=Call.State.ENDED):
        debited = 0
        if call.ledger_transaction_id:
            debited = sum(
                e.amount
                for e in call.ledger_transaction.entries.all()
                if e.account_id == customer.credit_account_id
            )
        assert 0 <= call.unpaid <= call.cost
        if call.source == Call.Source.API:
            assert debited == call.cost - call.unpaid


def test_the_api_shows_a_lost_call_and_a_late_end_with_its_unpaid_part(
    shop, alice, api_client, api_token
):
    from ficha.core import roles

    pbx = api_client(token=api_token(roles.PBX)[1])
    give_credit(alice, 1000)
    call = authorize("u-1")
    sweep(at(dt.timedelta(hours=1)))
    got = pbx.get(f"/api/v1/calls/{call.pk}")
    assert got.status_code == 200 and got.json()["state"] == "lost"
    assert got.json()["reserved"]["amount_minor"] == 0
    accounts.adjust(SYSTEM, alice, -950, "spent")
    r = pbx.post(f"/api/v1/calls/{call.pk}/end", {"billsec": 61})
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["state"] == "ended" and body["cost"]["amount_minor"] == 200
    assert body["unpaid"]["amount_minor"] == 150 and body["debited"] is True
    assert accounts.balance(alice) == 0
