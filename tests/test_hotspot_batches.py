"""Accounting-Requests in batches (hs.account_many, what the RADIUS door's micro-batching
calls): exactly the debits, records and ledger of the same requests one by one, however
they are duplicated, reordered or split, and one bad item never fails the others."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ficha.accounts import services as accounts
from ficha.core import audit
from ficha.hotspot import services as hs
from ficha.hotspot.models import AccountingRecord, HotspotSession
from ficha.ledger import services as ledger
from ficha.ledger.models import Entry

from .hotspot_support import acct, give_credit, hotspot_revenue, ledger_sum, make_nas, make_plan


@pytest.fixture
def shop(db, make_customer):
    """A MikroTik, 3600 an hour billed per minute (1 a second), alice with 10 000."""
    nas = make_nas(vendor="mikrotik")
    make_plan(price_per_hour=3600, increment_seconds=60)
    alice = make_customer("alice")
    give_credit(alice, 10_000)
    return nas, alice


def batch(nas, *reqs):
    return hs.account_many([(nas, r) for r in reqs])


def test_duplicates_inside_one_batch_are_recorded_and_debited_once(shop):
    nas, alice = shop
    out = batch(nas, acct("start"), acct("interim", t=600, i=10, o=20),
                acct("interim", t=600, i=10, o=20), acct("start"),
                acct("stop", t=900, i=30, o=40), acct("stop", t=900, i=30, o=40))
    assert [r.duplicate for r in out] == [False, False, True, True, False, True]
    assert [r.debit for r in out] == [0, 600, 0, 0, 300, 0]
    assert AccountingRecord.objects.count() == 3
    assert accounts.balance(alice) == 10_000 - 900
    # and the same packets again, in a later batch, change nothing
    again = batch(nas, acct("interim", t=600, i=10, o=20), acct("stop", t=900, i=30, o=40))
    assert [r.duplicate for r in again] == [True, True]
    assert accounts.balance(alice) == 10_000 - 900 and ledger_sum() == 0


def test_reordered_records_in_one_batch_add_nothing_once_overtaken(shop):
    nas, alice = shop
    out = batch(nas, acct("interim", t=1200, i=5), acct("start"),
                acct("interim", t=600, i=3), acct("interim", t=1260, i=6))
    assert [r.debit for r in out] == [1200, 0, 0, 60]
    session = HotspotSession.objects.get()
    assert (session.session_time, session.input_octets, session.charged,
            session.debited) == (1260, 6, 1260, 1260)
    assert AccountingRecord.objects.count() == 4  # the late ones are kept, debit 0


def test_two_sessions_of_one_account_never_take_more_than_the_balance(db, make_customer):
    nas = make_nas()
    make_plan(price_per_hour=3600, increment_seconds=60)
    bob = make_customer("bob")
    give_credit(bob, 100)
    out = batch(nas, acct("start", sid="phone", user="bob"),
                acct("start", sid="laptop", user="bob"),
                acct("interim", sid="phone", user="bob", t=60),  # 60 owed
                acct("interim", sid="laptop", user="bob", t=120),  # 120 owed, 40 left
                acct("interim", sid="phone", user="bob", t=180))  # 120 more, nothing left
    assert [r.debit for r in out] == [0, 0, 60, 40, 0]
    assert accounts.balance(bob) == 0
    unpaid = dict(HotspotSession.objects.values_list("acct_session_id", "charged"))
    debited = dict(HotspotSession.objects.values_list("acct_session_id", "debited"))
    assert unpaid == {"phone": 180, "laptop": 120} and debited == {"phone": 60,
                                                                    "laptop": 40}
    give_credit(bob, 1_000)  # the next batch takes what was owed, in arrival order
    out = batch(nas, acct("interim", sid="laptop", user="bob", t=121),
                acct("interim", sid="phone", user="bob", t=181))
    assert [r.debit for r in out] == [140, 180] and accounts.balance(bob) == 680
    assert ledger_sum() == 0


def test_gigawords_wrap_inside_one_batch(db, make_customer):
    alice = make_customer("alice")
    nas = make_nas(vendor="generic")
    make_plan(price_per_hour=0, price_per_mb=1)  # 1 per MB
    give_credit(alice, 100_000)
    out = batch(nas, acct("start"), acct("interim", t=60, i=4_294_000_000),
                acct("interim", t=120, i=1_000_000, ig=1),  # wrapped: + 2**32
                acct("stop", t=180, i=2_000_000, ig=1, o=500_000))
    assert [r.debit for r in out] == [0, 4294, 2, 1]  # 4294, 4296, 4297 MB (rounded once)
    session = out[-1].session
    assert session.input_octets == 2**32 + 2_000_000 and session.output_octets == 500_000
    assert accounts.balance(alice) == 100_000 - round((2**32 + 2_500_000) / 1_000_000)


def test_stop_and_interim_of_one_session_in_one_batch(shop):
    nas, alice = shop
    out = batch(nas, acct("stop", sid="lost-start", t=600),  # Stop without Start
                acct("interim", sid="lost-start", t=540),  # its late Interim
                acct("interim", sid="other", t=60), acct("stop", sid="other", t=120,
                                                         terminate_cause="Idle-Timeout"))
    assert [r.debit for r in out] == [600, 0, 60, 60]
    sessions = {s.acct_session_id: s for s in HotspotSession.objects.all()}
    assert sessions["lost-start"].status == "closed"
    assert (sessions["other"].status, sessions["other"].terminate_cause) == (
        "closed", "Idle-Timeout")
    assert accounts.balance(alice) == 10_000 - 720


def test_one_bad_item_never_fails_the_others(shop):
    nas, alice = shop
    out = batch(nas, acct("start"), hs.AcctRequest(status="interim"),  # no session id
                hs.AcctRequest(status="bogus", session_id="x"),
                acct("interim", t=60, i=2**70),  # an impossible counter
                acct("interim", t=120))
    assert isinstance(out[1], hs.AccountingError) and isinstance(out[2], hs.AccountingError)
    assert isinstance(out[3], hs.AccountingError)
    assert out[0].debit == 0 and out[4].debit == 120
    assert accounts.balance(alice) == 10_000 - 120
    with pytest.raises(hs.AccountingError):  # account() raises what account_many returns
        hs.account(nas, hs.AcctRequest(status="interim"))


def test_a_failed_batch_is_retried_one_by_one(shop, monkeypatch):
    """If the batch's transaction fails, nothing of it stays and each item is tried on
    its own: only the item that fails alone is lost."""
    nas, alice = shop
    real = ledger.post_many

    def fail_for_bob(postings, ids=None, **kwargs):
        if any("bob" in p.actor.label for p in postings):
            raise RuntimeError("database hiccup")
        return real(postings, ids=ids, **kwargs)

    monkeypatch.setattr(ledger, "post_many", fail_for_bob)
    bob = accounts.create_customer(audit.SYSTEM, "bob", password="pw-bob-123")
    give_credit(bob, 500)
    out = batch(nas, acct("interim", sid="a", t=60), acct("interim", sid="b", user="bob",
                                                         t=60),
                acct("interim", sid="a", t=120))
    assert [r.debit for r in (out[0], out[2])] == [60, 60]
    assert isinstance(out[1], RuntimeError)
    assert accounts.balance(alice) == 10_000 - 120 and accounts.balance(bob) == 500
    # (on PostgreSQL a new session is created before its batch, so it may exist, empty)
    assert not AccountingRecord.objects.filter(session__username="bob").exists()
    assert all(s.debited == 0 for s in HotspotSession.objects.filter(username="bob"))
    assert ledger_sum() == 0


def test_accounting_on_in_a_batch_closes_what_came_before(shop):
    nas, alice = shop
    out = batch(nas, acct("start", sid="s1"), hs.AcctRequest(status="on"),
                acct("start", sid="s2"))
    assert out[1].closed == 1
    status = dict(HotspotSession.objects.values_list("acct_session_id", "status"))
    assert status == {"s1": "stale", "s2": "open"}


# --- property: batches change nothing but the speed ------------------------------------
records = st.lists(
    st.tuples(st.sampled_from(["start", "interim", "interim", "stop"]),
              st.sampled_from(["a", "b", "c"]), st.integers(0, 7_200),
              st.integers(0, 3 * 10**9), st.integers(0, 2)),
    min_size=1, max_size=16)


def _ledger_lines(customers) -> list[tuple[str, int]]:
    """The customers' ledger lines in order, named by customer position (not id)."""
    ids = {c.credit_account_id: n for n, c in enumerate(customers)}
    return [(ids[e.account_id], e.amount) for e in
            Entry.objects.filter(account_id__in=ids).order_by("id")]


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records, st.lists(st.integers(1, 6), min_size=1, max_size=16),
       st.integers(0, 3_000), st.integers(0, 3_000), st.sampled_from([1, 60, 300]))
def test_batches_give_exactly_the_debits_and_ledger_of_one_by_one(
        db, make_customer, seq, cuts, credit_x, credit_y, increment):
    make_plan(price_per_hour=1800, increment_seconds=increment, price_per_mb=1,
              minimum_charge=5)
    runs = []
    for _ in range(2):
        nas = make_nas()
        x, y = make_customer(), make_customer()  # sessions a and b are x's, c is y's
        for customer, credit in ((x, credit_x), (y, credit_y)):
            if credit:
                give_credit(customer, credit)
        owner = {"a": x, "b": x, "c": y}
        reqs = [acct(status, sid=sid, t=t, i=octets, ig=gw, user=owner[sid].username)
                for status, sid, t, octets, gw in seq]
        runs.append((nas, (x, y), reqs))
    revenue_before = hotspot_revenue()

    nas, one_customers, reqs = runs[0]
    one = [hs.account(nas, r) for r in reqs]
    nas, many_customers, reqs = runs[1]
    many, k = [], 0
    for size in cuts * len(reqs):  # random batch sizes until every item is sent
        if k >= len(reqs):
            break
        many += hs.account_many([(nas, r) for r in reqs[k:k + size]])
        k += size

    assert [(r.debit, r.duplicate) for r in many] == [(r.debit, r.duplicate) for r in one]

    def state(nas):
        return {s.acct_session_id: (s.status, s.session_time, s.input_octets, s.charged,
                                    s.debited, s.records.count())
                for s in HotspotSession.objects.filter(nas=nas)}

    assert state(runs[1][0]) == state(runs[0][0])
    assert _ledger_lines(many_customers) == _ledger_lines(one_customers)
    spent_x = sum(r.debit for r, rec in zip(one, seq, strict=True) if rec[1] != "c")
    spent_y = sum(r.debit for r, rec in zip(one, seq, strict=True) if rec[1] == "c")
    for x, y in (one_customers, many_customers):
        assert accounts.balance(x) == credit_x - spent_x >= 0
        assert accounts.balance(y) == credit_y - spent_y >= 0
    debited = sum(r.debit for r in one)
    assert hotspot_revenue() - revenue_before == 2 * debited
    assert ledger_sum() == 0


@pytest.mark.slow
def test_parallel_batches_of_shared_sessions_never_deadlock_nor_debit_twice(
        transactional_db, make_customer, caplog):
    """Workers handling batches of the same sessions and accounts in opposite orders
    (every packet three times) lock in one order: no batch fails, debits are exact."""
    import random
    import threading

    from django.db import connection

    nas = make_nas()
    make_plan(price_per_hour=3600, increment_seconds=60)
    names = [f"par{k}" for k in range(6)]
    for name in names:
        give_credit(make_customer(name), 100_000)
    reqs = [acct("start", sid=f"{n}-{d}", user=n) for n in names for d in "xy"]
    reqs += [acct("interim", sid=f"{n}-{d}", user=n, t=60 * k)
             for k in range(1, 11) for n in names for d in "xy"]
    packets = reqs * 3
    random.Random(3).shuffle(packets)
    chunks = [packets[i::4] for i in range(4)]
    for k in (1, 3):
        chunks[k].reverse()
    errors, barrier = [], threading.Barrier(4)

    def work(chunk):
        try:
            barrier.wait()
            for start in range(0, len(chunk), 16):
                for r in hs.account_many([(nas, q) for q in chunk[start:start + 16]]):
                    if isinstance(r, Exception):
                        errors.append(r)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    with caplog.at_level("WARNING", logger="ficha.hotspot"):
        pool = [threading.Thread(target=work, args=(c,)) for c in chunks]
        for t in pool:
            t.start()
        for t in pool:
            t.join(120)
    assert not errors, errors
    if connection.vendor == "postgresql":
        assert not [r for r in caplog.records if "one by one" in r.getMessage()]
    sessions = HotspotSession.objects.all()
    assert len(sessions) == 12 and all(s.debited == s.charged == 600 for s in sessions)
    assert hotspot_revenue() == 12 * 600 and ledger_sum() == 0
    assert AccountingRecord.objects.count() == len(reqs)
