"""Booth calls for the PBX: authorize (prepaid account, calling-card PIN, postpaid booth
session) and end (rated and debited exactly once)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ficha.accounts import services as accounts
from ficha.callshop import calls, rating
from ficha.callshop import services as callshop
from ficha.callshop.models import Call
from ficha.core.models import Alert
from ficha.ledger.models import Transaction
from ficha.recharges import services as rs

from .pbx_support import (
    SYSTEM,
    call_revenue,
    give_credit,
    ledger_sum,
    make_booth,
    make_deck,
    open_booth,
)


@pytest.fixture
def deck(db):
    return make_deck()


@pytest.fixture
def booth(db):
    return make_booth("booth1", accountcode="B1")


@pytest.fixture
def alice(make_customer):
    return make_customer("alice")


@pytest.fixture
def sold_code(office, desk):
    def make(amount=1000):
        row = rs.generate(office, count=1, amount=amount).recharges.get()
        rs.sell(desk, [row])
        return row.code
    return make


# --- prepaid account -------------------------------------------------------------------
def test_prepaid_call_gets_the_talk_time_its_credit_pays_and_is_debited_once(deck, booth,
                                                                            alice):
    give_credit(alice, 1000)
    auth = callshop.authorize("booth1", "0033140000000", account="alice", external_id="u-1")
    assert auth.allowed and auth.reason == ""
    assert auth.max_seconds == 600  # 10 started minutes at 100 = the whole credit
    assert auth.reserved == 1000 and auth.terms.description == "France"
    call = auth.call
    assert call.state == Call.State.RESERVED and call.customer == alice
    assert accounts.balance(alice) == 1000  # nothing debited yet, only reserved

    ending = callshop.end_call(call.pk, 125)  # 3 started minutes
    assert (ending.cost, ending.billed_seconds, ending.debited) == (300, 180, True)
    assert accounts.balance(alice) == 700
    assert call_revenue() == 300 and ledger_sum() == 0

    again = callshop.end_call(call.pk, 125)  # the PBX retries
    assert again.repeated and again.cost == 300
    assert accounts.balance(alice) == 700
    assert Transaction.objects.filter(kind="callshop.call").count() == 1
    call.refresh_from_db()
    assert call.state == Call.State.ENDED and call.reserved == 0 and call.billsec == 125


def test_a_second_end_with_another_billsec_changes_nothing(deck, booth, alice):
    give_credit(alice, 1000)
    call = callshop.authorize("booth1", "+33140000000", account="alice").call
    callshop.end_call(call.pk, 60)
    again = callshop.end_call(call.pk, 300)
    assert again.repeated and again.cost == 100 and accounts.balance(alice) == 900


def test_credit_below_the_first_block_is_refused_with_the_reason(deck, booth, alice):
    give_credit(alice, 99)
    auth = callshop.authorize("booth1", "0033140000000", account="alice")
    assert not auth.allowed and auth.reason == "credit"
    assert "Not enough credit" in auth.message and "100" in auth.message
    assert auth.call.state == Call.State.REJECTED
    assert accounts.balance(alice) == 99


def test_connect_fee_and_minimum_block_count_in_the_talk_time(deck, booth, alice):
    give_credit(alice, 100)
    # UK: connect 20 + 60 a minute, 30/6: 30 s cost 20 + 30 = 50; each 6 s costs 6 more.
    auth = callshop.authorize("booth1", "0044201234567", account="alice")
    assert auth.allowed and auth.max_seconds == 78  # 20 + 60·78/60 = 98 ≤ 100 < 104
    ending = callshop.end_call(auth.call.pk, 78)
    assert ending.cost == 98 and accounts.balance(alice) == 2


def test_concurrent_calls_of_one_account_share_its_credit(deck, alice):
    make_booth("b1")
    make_booth("b2")
    give_credit(alice, 1000)
    first = callshop.authorize("b1", "0022507000000", account="alice")  # 50/min, 1/1
    assert first.allowed and first.max_seconds == 1200 and first.reserved == 1000
    second = callshop.authorize("b2", "0022507000001", account="alice")
    assert not second.allowed and second.reason == "credit"
    callshop.end_call(first.call.pk, 300)  # 250 debited, the rest released
    third = callshop.authorize("b2", "0022507000001", account="alice")
    assert third.allowed and third.max_seconds == 900 and third.reserved == 750


def test_talk_beyond_the_granted_time_is_billed_at_the_granted_time(deck, booth, alice):
    give_credit(alice, 250)
    auth = callshop.authorize("booth1", "0033140000000", account="alice")
    assert auth.max_seconds == 120
    ending = callshop.end_call(auth.call.pk, 900)  # the PBX did not cut the call
    assert ending.cost == 200 and accounts.balance(alice) == 50
    assert "granted" in ending.call.reason


def test_account_with_a_pin_needs_it_and_wrong_pins_are_throttled(deck, booth,
                                                                  make_customer):
    bob = make_customer("bob", pin="4321")
    give_credit(bob, 500)
    assert callshop.authorize("booth1", "0033140000000", account="bob",
                              account_pin="4321").allowed
    wrong = callshop.authorize("booth1", "0033140000000", account="bob", account_pin="0000")
    assert not wrong.allowed and wrong.reason == "account"
    unknown = callshop.authorize("booth1", "0033140000000", account="nobody")
    assert unknown.reason == "account" and unknown.message == wrong.message
    reasons = [callshop.authorize("booth1", "0033140000000", account="bob",
                                  account_pin="1111").reason for _ in range(4)]
    assert reasons[-1] == "throttled"
    assert "Wait" in callshop.authorize("booth1", "003314", account="bob",
                                        account_pin="4321").message


def test_disabled_account_is_refused(deck, booth, alice):
    give_credit(alice, 500)
    accounts.set_customer_status(SYSTEM, alice, False)
    auth = callshop.authorize("booth1", "0033140000000", account="alice")
    assert auth.reason == "disabled"


# --- calling-card PIN (a recharge code) --------------------------------------------------
def test_a_recharge_code_works_as_a_calling_card(deck, booth, sold_code):
    code = sold_code(1000)
    auth = callshop.authorize("booth1", "0033140000000", pin=code)
    assert auth.allowed and auth.max_seconds == 600 and auth.call.recharge.code == code
    card = auth.call.customer
    callshop.end_call(auth.call.pk, 61)
    assert accounts.balance(card) == 800
    # The same card again: the same account, its remaining credit.
    again = callshop.authorize("booth1", "0033140000000", pin=code)
    assert again.allowed and again.call.customer == card and again.max_seconds == 480


def test_unknown_and_unsold_pins_are_refused_unsold_ones_raise_a_fraud_alert(
        deck, booth, office):
    unsold = rs.generate(office, count=1, amount=500).recharges.get().code
    auth = callshop.authorize("booth1", "0033140000000", pin=unsold)
    assert not auth.allowed and auth.reason == "pin" and auth.message == "Invalid code."
    assert Alert.objects.filter(kind="fraud").count() == 1


def test_guessing_pins_at_a_booth_is_throttled(deck, booth, office, sold_code):
    code = sold_code(1000)
    wrong = str(int(code[:-1] + "0") + (1 if code[-1] == "0" else 0)).zfill(len(code))
    reasons = [callshop.authorize("booth1", "0033140000000", pin=wrong).reason
               for _ in range(5)]
    assert reasons[0] == "pin" and "throttled" in reasons
    # other booths are not locked out by this one
    make_booth("booth2")
    assert callshop.authorize("booth2", "0033140000000", pin=code).allowed


# --- postpaid booth session --------------------------------------------------------------
def test_a_booth_in_an_open_session_calls_without_an_account(deck, booth):
    session = open_booth(booth)
    auth = callshop.authorize("B1", "0033140000000")  # by account code
    assert auth.allowed and auth.postpaid and auth.call.session == session
    ending = callshop.end_call(auth.call.pk, 90)
    assert ending.cost == 200 and not ending.debited
    assert Transaction.objects.filter(kind="callshop.call").count() == 0
    assert list(session.calls.values_list("cost", flat=True)) == [200]


def test_a_closed_booth_without_account_is_refused(deck, booth):
    auth = callshop.authorize("booth1", "0033140000000")
    assert not auth.allowed and auth.reason == "no_payer"
    assert "not open" in auth.message


# --- what cannot be called ----------------------------------------------------------------
def test_numbers_without_a_rate_or_not_numbers_are_refused(deck, booth):
    open_booth(booth)
    no_rate = callshop.authorize("booth1", "0049301234567")
    assert no_rate.reason == "no_rate" and "4930" in no_rate.message
    bad = callshop.authorize("booth1", "*97")
    assert bad.reason == "number"


def test_unknown_booths_and_calls_are_errors(deck):
    with pytest.raises(callshop.CallError) as exc:
        callshop.authorize("nowhere", "0033140000000")
    assert exc.value.code == "unknown_booth"
    with pytest.raises(callshop.CallError):
        callshop.end_call(999, 10)
    with pytest.raises(callshop.CallError):
        callshop.end_call(1, -1)


def test_booth_found_by_channel_name(deck):
    booth = make_booth("Booth 3", endpoint="booth3")
    open_booth(booth)
    assert callshop.authorize("PJSIP/booth3-0000001a", "0033140000000").call.booth == booth


def test_a_repeated_authorization_answers_the_same_call(deck, booth, alice):
    give_credit(alice, 1000)
    first = callshop.authorize("booth1", "0033140000000", account="alice", external_id="x1")
    second = callshop.authorize("booth1", "0033140000000", account="alice", external_id="x1")
    assert second.allowed and second.repeated and second.call.pk == first.call.pk
    assert Call.objects.count() == 1
    callshop.end_call(first.call.pk, 10)
    ended = callshop.authorize("booth1", "0033140000000", account="alice", external_id="x1")
    assert not ended.allowed and ended.reason == "duplicate"


def test_refusals_are_translated(deck, booth):
    from django.utils import translation

    with translation.override("fr"):
        auth = callshop.authorize("booth1", "0033140000000")
    assert auth.reason == "no_payer" and auth.message  # (catalogs are the lead's)


# --- property: never negative, debited exactly the rated cost once -----------------------
terms_strategy = st.fixed_dictionaries({
    "price": st.integers(0, 500), "connect_fee": st.integers(0, 100),
    "min_block": st.integers(0, 120), "increment": st.integers(1, 60),
    "grace": st.integers(0, 10), "free_seconds": st.integers(0, 30),
    "min_cost": st.integers(0, 200),
})


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(terms=terms_strategy, credit=st.integers(0, 3000),
       talks=st.lists(st.integers(0, 4000), min_size=1, max_size=3),
       whole=st.booleans())
def test_balances_never_go_negative_and_each_call_is_debited_its_cost_once(
        db, make_customer, terms, credit, talks, whole):
    text = ("prefix,description,price,connect_fee,min_block,increment,grace,free_seconds,"
            "min_cost\n33,France,{price},{connect_fee},{min_block},{increment},{grace},"
            "{free_seconds},{min_cost}\n").format(**terms)
    deck = make_deck(text, name="prop", whole_duration=whole)
    booths = [make_booth() for _ in talks]
    customer = make_customer(password="")
    if credit:
        give_credit(customer, credit)
    policy = callshop.policy(deck)
    micro = {k: v * rating.MICRO if k in ("price", "connect_fee", "min_cost") else v
             for k, v in terms.items()}  # the file gave major units (XOF)
    t = rating.Terms(prefix="33", description="France", **micro)
    granted = []
    for booth in booths:  # all live at once
        auth = callshop.authorize(booth.name, "0033140000000", account=customer.username)
        if auth.allowed:
            granted.append(auth)
            assert rating.rate_call(t, auth.max_seconds, policy).cost == auth.reserved
        assert calls.held(customer) <= credit
    expected = 0
    for auth, talk in zip(granted, talks, strict=False):
        ending = callshop.end_call(auth.call.pk, talk)
        cost = rating.rate_call(t, min(talk, auth.max_seconds), policy).cost
        assert ending.cost == cost
        expected += cost
        callshop.end_call(auth.call.pk, talk)  # a retry changes nothing
        assert accounts.balance(customer) == credit - expected >= 0
    assert ledger_sum() == 0


# --- real concurrency (threads, own connections) ----------------------------------------
@pytest.mark.slow
def test_parallel_authorizations_of_one_account_never_reserve_more_than_its_credit(
        transactional_db, make_customer):
    import threading

    from django.db import connection

    make_deck()
    booths = [make_booth() for _ in range(6)]
    alice = make_customer("alice", password="")
    give_credit(alice, 1000)
    barrier = threading.Barrier(len(booths))
    results, errors = [], []

    def work(booth):
        try:
            barrier.wait()
            # Côte d'Ivoire, 50 a minute, 1/1: each grant takes what is left.
            results.append(callshop.authorize(booth.name, "0022507000000", account="alice"))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    pool = [threading.Thread(target=work, args=(b,)) for b in booths]
    for t in pool:
        t.start()
    for t in pool:
        t.join(60)
    assert not errors, errors
    allowed = [r for r in results if r.allowed]
    assert len(allowed) == 1  # the first takes all 1000; the others see nothing left
    assert sum(r.reserved for r in allowed) <= 1000
    assert {r.reason for r in results if not r.allowed} == {"credit"}
    for r in allowed:  # the PBX lets them talk the whole granted time
        callshop.end_call(r.call.pk, r.max_seconds + 100)
    assert accounts.balance(alice) == 0 and ledger_sum() == 0


@pytest.mark.slow
def test_parallel_ends_of_one_call_debit_it_once(transactional_db, make_customer):
    import threading

    from django.db import connection

    make_deck()
    make_booth("booth1")
    alice = make_customer("alice", password="")
    give_credit(alice, 1000)
    call = callshop.authorize("booth1", "0033140000000", account="alice").call
    barrier = threading.Barrier(4)
    endings, errors = [], []

    def work():
        try:
            barrier.wait()
            endings.append(callshop.end_call(call.pk, 125))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    pool = [threading.Thread(target=work) for _ in range(4)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(60)
    assert not errors, errors
    assert sorted(e.repeated for e in endings) == [False, True, True, True]
    assert accounts.balance(alice) == 700
    assert Transaction.objects.filter(kind="callshop.call").count() == 1
