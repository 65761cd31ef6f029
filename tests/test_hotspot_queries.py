"""The RADIUS hot path's database statements, pinned: an accepted login and an accounting
Interim-Update each cost a known number of statements (bench radius.servers measures what
they cost in time; these keep the gain from quietly going away).

Transaction control (BEGIN, COMMIT, SAVEPOINT, RELEASE) is left out of the counts: inside
a test's transaction Django turns each ``atomic`` into savepoints, so those differ from
production, where they are one BEGIN and one COMMIT per Interim-Update and none for a
login."""

from __future__ import annotations

import datetime as dt
import sys

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ficha.accounts import services as accounts
from ficha.accounts.models import Customer
from ficha.core import audit
from ficha.hotspot import services as hs
from ficha.hotspot.models import AccountingRecord, HotspotSession
from ficha.ledger import services as ledger

from .hotspot_support import acct, give_credit, make_nas, make_plan

CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


def statements(fn):
    with CaptureQueriesContext(connection) as ctx:
        result = fn()
    sql = [q["sql"] for q in ctx.captured_queries
           if not q["sql"].lstrip().upper().startswith(CONTROL)]
    return result, sql


def generic_plan(sql: str, params: list, tables: str, *, analyze: bool = True) -> str:
    """The plan PostgreSQL keeps for ``sql`` on a connection (``force_generic_plan``: made
    without the values), after ANALYZE of ``tables`` (or on the statistics as they are)."""
    import re

    count = iter(range(1, 100))
    numbered = re.sub(r"%s", lambda _m: f"${next(count)}", sql)
    with connection.cursor() as cursor:
        if analyze:
            cursor.execute(f"ANALYZE {tables}")
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute(f"PREPARE kept AS {numbered}")
        try:
            cursor.execute(f"EXPLAIN EXECUTE kept({', '.join(['%s'] * len(params))})", params)
            return "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("DEALLOCATE kept")


def _open_sessions(nas, customer, n: int) -> list[HotspotSession]:
    """``n`` open sessions of ``customer`` on ``nas``, keys ``s0/<username>`` onwards,
    written in bulk (a young hotspot's table, before any ANALYZE)."""
    from ficha.core import clock

    now = clock.now()
    name = customer.username
    return HotspotSession.objects.bulk_create(
        HotspotSession(nas=nas, session_key=f"s{k}/{name}", acct_session_id=f"s{k}",
                       username=name, customer=customer, started_at=now, updated_at=now)
        for k in range(n))


@pytest.fixture
def setup(make_customer):
    nas = make_nas()
    plan = make_plan(price_per_hour=600, devices=3)
    alice = make_customer("alice", password="alice-secret-1")
    give_credit(alice, 10_000)
    return nas, plan, alice


def test_a_login_with_a_ticket_is_three_statements_and_never_hashes(db, setup, monkeypatch):
    nas, _plan, alice = setup
    first = hs.issue_ticket(alice)
    assert hs.authorize(nas, hs.AuthRequest("alice", password=first.secret)).accept  # warm

    def no_hashing(*a, **kw):
        raise AssertionError("a right ticket must not cost a password hash")

    monkeypatch.setattr(type(alice), "check_password", no_hashing)
    ticket = hs.issue_ticket(alice)
    decision, sql = statements(
        lambda: hs.authorize(nas, hs.AuthRequest("alice", password=ticket.secret,
                                                 mac="AA:BB:CC:00:00:02")))
    assert decision.accept and decision.session_timeout == 10_000 // 10 * 60
    # the customer (+ hotspot state, plan override, credit account, balance, devices
    # online), the tickets, the ticket used; the plans are kept in memory for a few seconds
    assert len(sql) == 3, "\n".join(sql)
    assert not any("throttle" in s.lower() for s in sql)


def test_a_batch_of_ticket_logins_costs_two_statements_on_postgresql(db, setup,
                                                                    make_customer):
    nas, _plan, alice = setup
    people = [alice] + [make_customer(f"guest{i}") for i in range(5)]
    for person in people[1:]:
        give_credit(person, 600)  # one hour each
    ledger.place_hold(people[2].credit_account_id, 300, "call:test")  # a call holds half
    hs.authorize(nas, hs.AuthRequest("alice", password=hs.issue_ticket(alice).secret))
    items = [(nas, hs.AuthRequest(p.username, password=hs.issue_ticket(p).secret,
                                  mac=f"AA:BB:CC:00:01:0{i}"))
             for i, p in enumerate(people)]
    items.append((nas, hs.AuthRequest("guest1", password="not-a-ticket-at-all")))
    items.append((nas, hs.AuthRequest("nobody-here", password="whatever")))
    decisions, sql = statements(lambda: hs.authorize_many(items))
    assert [d.accept for d in decisions] == [True] * 6 + [False, False]
    assert [d.customer.pk for d in decisions[:6]] == [p.pk for p in people]
    assert decisions[0].session_timeout == 10_000 // 10 * 60
    assert decisions[1].session_timeout == 3600
    assert decisions[2].session_timeout == 1800  # what the call does not hold
    assert decisions[6].reason == decisions[7].reason == "password"
    used = hs.authorize_many(items[:2])  # the same tickets again: used already
    assert [d.accept for d in used] == [False, False]
    if connection.vendor == "postgresql":
        # the six accepted: every account, balance and ticket in one statement, the
        # tickets used in another; the two wrong ones are checked one by one (throttled)
        ticket_sql = [s for s in sql if "hotspot_loginticket" in s]
        one_by_one = [s for s in sql if s not in ticket_sql]
        assert len([s for s in ticket_sql if "unnest" in s]) == 1, "\n".join(sql)
        assert len([s for s in ticket_sql if s.lstrip().upper().startswith("UPDATE")]) == 1
        assert not any("unnest" in s for s in one_by_one)


def test_a_wrong_ticket_still_costs_a_throttled_password_check(db, setup):
    nas, _plan, _alice = setup
    for _ in range(5):
        d = hs.authorize(nas, hs.AuthRequest("alice", password="0123456789abcdef",
                                             mac="AA:BB:CC:00:00:03"))
        assert not d.accept
    d = hs.authorize(nas, hs.AuthRequest("alice", password="0123456789abcdef",
                                         mac="AA:BB:CC:00:00:03"))
    assert d.reason.startswith("throttled:")


def test_an_interim_update_is_four_statements_on_postgresql_and_debits_once(db, setup):
    nas, plan, alice = setup
    hs.account(nas, acct("start", sid="q1"))
    hs.account(nas, acct("interim", sid="q1", t=60))  # warm: system accounts, settings
    ledger.account_id(ledger.REVENUE_HOTSPOT)  # known once committed (not in a test)
    before = accounts.balance(alice)
    result, sql = statements(lambda: hs.account(nas, acct("interim", sid="q1", t=180)))
    assert result.debit == 20 and accounts.balance(alice) == before - 20
    # PostgreSQL: credit account and session (+ customer, plan) locked; duplicate look-up
    # + balance; ledger transaction + its entries; the session + the record. SQLite (one
    # writer, nothing to lock): the same, a statement each.
    assert len(sql) == (4 if connection.vendor == "postgresql" else 8), "\n".join(sql)
    # the same record again changes nothing and costs two statements
    again, sql = statements(lambda: hs.account(nas, acct("interim", sid="q1", t=180)))
    assert again.duplicate and again.debit == 0 and len(sql) == 2
    assert accounts.balance(alice) == before - 20
    session = HotspotSession.objects.get(acct_session_id="q1")
    assert session.debited == session.charged == 30
    record = AccountingRecord.objects.get(session=session, session_time=180)
    assert record.debit == 20 and record.transaction is not None


def test_old_tickets_are_purged_by_the_worker(db, setup):
    import datetime as dt

    from ficha.core import clock, jobs
    from ficha.hotspot.models import LoginTicket

    nas, _plan, alice = setup
    assert "hotspot.purge_tickets" in dict(jobs.registered())
    used = hs.issue_ticket(alice)
    assert hs.authorize(nas, hs.AuthRequest("alice", password=used.secret)).accept
    unused = hs.issue_ticket(alice)
    with clock.frozen(clock.now() + dt.timedelta(minutes=30)):
        assert hs.purge_tickets() == 0  # used half an hour ago: kept a while
        fresh = hs.issue_ticket(alice)
    with clock.frozen(clock.now() + dt.timedelta(hours=1, minutes=5)):
        assert hs.purge_tickets() == 2  # used, and expired an hour ago
    assert list(LoginTicket.objects.values_list("pk", flat=True)) == [fresh.pk]
    assert unused.pk != fresh.pk


def test_a_system_account_created_in_a_transaction_is_remembered_only_once_committed(
        transactional_db):
    """Its id handed to another thread before the commit made that thread's ledger
    entries fail their foreign-key check (seen under load: the first Interim-Updates of
    a new database, in parallel, lost their answers)."""
    from django.db import transaction

    from ficha.ledger.models import Account

    ledger.clear_cache()
    code = ledger.REVENUE_HOTSPOT
    Account.objects.filter(code=code).delete()
    with transaction.atomic():
        created = ledger.account(code)
        assert code not in ledger._ids
    assert ledger._ids[code] == created.pk
    ledger.clear_cache()
    Account.objects.filter(code=code).delete()
    try:
        with transaction.atomic():
            ledger.account(code)
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    assert code not in ledger._ids and not Account.objects.filter(code=code).exists()


def test_a_batch_of_interims_costs_the_statements_of_one_on_postgresql(db, make_customer):
    """account_many writes a batch set-based: 32 Interim-Updates of 32 customers cost the
    statements of one (PostgreSQL; SQLite's single writer writes a row each)."""
    if connection.vendor != "postgresql":
        pytest.skip("set-based batches are PostgreSQL's (FICHA_TEST_DATABASE_URL)")
    nas = make_nas()
    make_plan(price_per_hour=600)
    names = [f"batch{n}" for n in range(32)]
    for name in names:
        give_credit(make_customer(name), 1_000)
    hs.account_many([(nas, acct("start", sid=n, user=n)) for n in names])
    hs.account_many([(nas, acct("interim", sid=n, user=n, t=60)) for n in names])  # warm
    ledger.account_id(ledger.REVENUE_HOTSPOT)
    results, sql = statements(lambda: hs.account_many(
        [(nas, acct("interim", sid=n, user=n, t=180)) for n in names]))
    assert [r.debit for r in results] == [20] * 32
    assert len(sql) == 4, "\n".join(sql)
    customers = Customer.objects.filter(username__in=names)
    assert sorted(accounts.balance(c) for c in customers) == [1_000 - 30] * 32


def test_a_password_verified_moments_ago_is_not_hashed_again(db, setup, monkeypatch):
    nas, _plan, alice = setup
    calls = []
    real = type(alice).check_password

    def counted(self, raw):
        calls.append(raw)
        return real(self, raw)

    monkeypatch.setattr(type(alice), "check_password", counted)
    login = hs.AuthRequest("alice", password="alice-secret-1", mac="AA:BB:CC:00:00:07")
    assert hs.authorize(nas, login).accept and len(calls) == 1
    assert hs.authorize(nas, login).accept and len(calls) == 1  # remembered
    wrong = hs.AuthRequest("alice", password="alice-secret-2", mac="AA:BB:CC:00:00:07")
    assert not hs.authorize(nas, wrong).accept and len(calls) == 2  # a guess: hashed
    accounts.set_customer_password(audit.Actor(source="test"), alice, "a-new-secret-9")
    assert not hs.authorize(nas, login).accept  # the old password: a new hash, no match
    assert len(calls) == 3
    new = hs.AuthRequest("alice", password="a-new-secret-9", mac="AA:BB:CC:00:00:07")
    assert hs.authorize(nas, new).accept and len(calls) == 4
    monkeypatch.setattr(sys.modules["ficha.hotspot.services.authorize"],
                        "VERIFIED_SECONDS", 0.0)
    assert hs.authorize(nas, new).accept and len(calls) == 5  # expired: hashed again


def test_no_index_of_the_sessions_holds_what_an_interim_changes(db):
    """An Interim-Update changes a session's counters, charge, debit and updated_at: with
    none of them in an index, PostgreSQL updates the row in place (HOT) instead of adding
    an entry to every index of the table at every interim (bench: 236 -> 187 µs each)."""
    from ficha.hotspot.services.accounting import _WRITTEN

    changed = {HotspotSession._meta.get_field(f).column for f in _WRITTEN} - {
        "status", "stopped_at", "terminate_cause", "framed_ip"}  # once per session
    with connection.cursor() as cur:
        found = connection.introspection.get_constraints(cur, HotspotSession._meta.db_table)
    indexed = {c for info in found.values() if info["index"] or info["unique"]
               for c in info["columns"]}
    assert changed and not (changed & indexed), changed & indexed
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SELECT reloptions FROM pg_class WHERE relname = %s",
                        [HotspotSession._meta.db_table])
            assert "fillfactor=80" in (cur.fetchone()[0] or [])


def test_a_batch_of_interims_waits_for_postgresql_twice(transactional_db, make_customer,
                                                        settings):
    """Outside a test's transaction (as radiusd runs it) the batch is one pipelined
    transaction: the locks and reads in one round trip, the writes with COMMIT in the
    other (core.db.pipeline); without the pipeline it waits six times."""
    if connection.vendor != "postgresql":
        pytest.skip("pipeline mode is PostgreSQL's (FICHA_TEST_DATABASE_URL)")
    from .pg_trace import round_trips

    nas = make_nas()
    make_plan(price_per_hour=600)
    names = [f"trip{n}" for n in range(8)]
    for name in names:
        give_credit(make_customer(name), 1_000)
    hs.account_many([(nas, acct("start", sid=n, user=n)) for n in names])
    for t in (60, 120):  # warm: system accounts, sequences, prepared statements
        hs.account_many([(nas, acct("interim", sid=n, user=n, t=t)) for n in names])
    got = []
    trips = round_trips(lambda: got.extend(hs.account_many(
        [(nas, acct("interim", sid=n, user=n, t=180)) for n in names])))
    assert [r.debit for r in got] == [10] * 8 and trips == 2
    settings.DATABASE_PIPELINE = False
    trips = round_trips(lambda: got.extend(hs.account_many(
        [(nas, acct("interim", sid=n, user=n, t=240)) for n in names])))
    assert [r.debit for r in got[8:]] == [10] * 8 and trips == 6
    customers = Customer.objects.filter(username__in=names)
    assert sorted(accounts.balance(c) for c in customers) == [1_000 - 40] * 8
    assert AccountingRecord.objects.filter(debit=10).count() == 4 * 8


@pytest.mark.parametrize("statement", ["sessions", "batch"])
def test_the_batch_statements_use_the_indexes_whatever_the_statistics(
        db, make_customer, statement):
    """radiusd's connections live for weeks and prepare the batch's lock and read once:
    their plans must find each item's session and record through the unique indexes even
    when made while the tables were small (a plan that scanned them whole grew slower with
    every session and record: 25 ms per batch within a minute in bench radius.servers; the
    lock scanned every session twice per batch, 0.5 ms with only 512)."""
    if connection.vendor != "postgresql":
        pytest.skip("prepared plans are PostgreSQL's (FICHA_TEST_DATABASE_URL)")

    from ficha.core import clock
    from ficha.hotspot.services import accounting

    nas = make_nas()
    make_plan(price_per_hour=600)
    customer = make_customer("small")
    now = clock.now()
    # a new hotspot's first minutes: a few hundred sessions and records (a few pages; a
    # table of one page is read whole by any plan, and autovacuum's next ANALYZE of a
    # growing table makes PostgreSQL plan the statement again)
    sessions = _open_sessions(nas, customer, 400)
    AccountingRecord.objects.bulk_create(
        AccountingRecord(session=s, kind="start", received_at=now) for s in sessions)
    item = [f"{{{nas.pk}}}", "{s0/small}"]
    params = (item * 2 if statement == "sessions"
              else [*item, "{interim}", "{60}", "{0}", "{0}", *item, 1])
    plan = generic_plan(accounting._sql(statement), params,
                        "hotspot_hotspotsession, hotspot_accountingrecord, "
                        "accounts_customer, ledger_account, ledger_entry")
    assert "Seq Scan on hotspot_accountingrecord" not in plan, plan
    assert "Seq Scan on hotspot_hotspotsession" not in plan, plan
    assert "hotspot_session_unique_key" in plan, plan
    if statement == "batch":
        assert "hotspot_record_idempotent" in plan, plan


def test_a_plan_made_before_the_statistics_still_finds_each_session_by_its_key(
        db, make_customer):
    """A new hotspot's radiusd plans its batch lock while the sessions table is still
    empty, and keeps that plan until autovacuum's next ANALYZE of it. The sessions had an
    index of the NAS alone (the foreign key's), and a plan made without statistics took
    it: every item then read every session of its NAS — a venue has one gateway, so every
    session it ever had (0.04 ms per item with 500, growing with each). The unique (NAS,
    session key) index starts with the NAS and serves those look-ups too: the NAS alone
    has no index of its own, and any plan finds an item by both columns."""
    if connection.vendor != "postgresql":
        pytest.skip("prepared plans are PostgreSQL's (FICHA_TEST_DATABASE_URL)")

    from ficha.hotspot.services import accounting

    nas = make_nas()
    customer = make_customer("early")
    _open_sessions(nas, customer, 500)
    item = [f"{{{nas.pk}}}", "{s0/early}"]
    plan = generic_plan(accounting._sql("sessions"), item * 2, "", analyze=False)
    assert "hotspot_session_unique_key" in plan, plan
    assert "Filter: ((session_key)" not in plan, plan
    with connection.cursor() as cur:
        found = connection.introspection.get_constraints(cur, HotspotSession._meta.db_table)
    assert not [name for name, info in found.items()
                if info["index"] and info["columns"] == ["nas_id"]], found


def test_the_batch_login_read_uses_the_indexes_whatever_the_statistics(db, make_customer):
    """The batch of ticket logins runs on the plan its connection made once (pipelined,
    ``generic_plans``): that plan must find each account, its tickets and its open
    sessions through indexes, however small the tables were when it was made."""
    if connection.vendor != "postgresql":
        pytest.skip("prepared plans are PostgreSQL's (FICHA_TEST_DATABASE_URL)")
    import importlib

    from ficha.core import clock
    from ficha.hotspot.models import LoginTicket

    authorizing = importlib.import_module("ficha.hotspot.services.authorize")

    make_nas()
    make_plan(price_per_hour=600)
    now = clock.now()
    # a few hundred accounts (a few pages: a table of one page is read whole by any plan)
    people = [accounts.create_customer(audit.Actor(source="test"), f"guest{n}")
              for n in range(400)]
    LoginTicket.objects.bulk_create(
        LoginTicket(customer=p, secret=f"t{n}{k}", created_at=now,
                    expires_at=now + dt.timedelta(minutes=2))
        for n, p in enumerate(people) for k in range(5))
    plan = generic_plan(authorizing._batch_sql(),
                        ["open", now, "{guest1}", "{AA-BB-CC-00-00-01}"],
                        "accounts_customer, hotspot_loginticket, hotspot_hotspotsession, "
                        "ledger_account, ledger_entry")
    for table in ("accounts_customer", "hotspot_loginticket"):
        assert f"Seq Scan on {table}" not in plan, plan
    assert "accounts_customer_username_key" in plan or "username_key" in plan, plan
