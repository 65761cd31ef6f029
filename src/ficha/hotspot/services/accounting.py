"""Accounting: what a record debits (exactly once)."""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import logging
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction

from ficha.accounts import services as accounts
from ficha.accounts.models import Customer
from ficha.core import audit, clock, codes, rows
from ficha.core.db import pipeline, prepared
from ficha.ledger import services as ledger
from ficha.tariffs import pricing

from ..models import (
    AccountingRecord,
    HotspotAccount,
    HotspotSession,
    Nas,
    Plan,
)
from .accounting_sql import WRITTEN as _WRITTEN
from .accounting_sql import sql as _sql
from .authorize import (
    _looks_like_code,
    normalize_mac,
)
from .closing import _close_nas_sessions
from .plans import (
    minimum_paid,
    plan_for,
)
from .radius_class import class_parts, parse_class

log = logging.getLogger("ficha.hotspot")

# --- accounting ----------------------------------------------------------------------------
START, INTERIM, STOP, ACCOUNTING_ON, ACCOUNTING_OFF = "start", "interim", "stop", "on", "off"


@dataclass(frozen=True)
class AcctRequest:
    status: str  # start / interim / stop / on / off
    session_id: str = ""
    unique_id: str = ""
    username: str = ""
    mac: str = ""
    called: str = ""
    framed_ip: str | None = None
    session_time: int = 0
    input_octets: int = 0
    input_gigawords: int = 0
    output_octets: int = 0
    output_gigawords: int = 0
    terminate_cause: str = ""
    klass: bytes | str | None = None  # the Class we gave in the Access-Accept


@dataclass
class AcctResult:
    session: HotspotSession | None
    record: AccountingRecord | None
    debit: int = 0
    duplicate: bool = False
    closed: int = 0  # sessions closed by Accounting-On/Off


class AccountingError(ValueError):
    pass


def _counter(octets: int, gigawords: int) -> int:
    return (max(0, int(gigawords)) << 32) + max(0, int(octets))


def account(nas: Nas, req: AcctRequest) -> AcctResult:
    """Record one Accounting-Request and debit the usage it adds, exactly once: the
    batch of one (:func:`account_many` holds the rule)."""
    result = account_many([(nas, req)])[0]
    if isinstance(result, Exception):
        raise result
    return result


def account_many(items: list[tuple[Nas, AcctRequest]]) -> list[AcctResult | Exception]:
    """Record Accounting-Requests in arrival order and debit the usage they add, exactly
    once; one result per item, an exception for an item that failed (never for the others).

    Counters are cumulative, so a session keeps the highest seen; a retransmitted or
    duplicated record (same session, kind and counters) changes nothing, in the same batch
    or another; an older record arriving late adds nothing. Several items of one session
    are applied in order. The batch is one database transaction: its sessions locked in
    one statement (ordered by id: workers never deadlock), its duplicates found in one,
    its debits posted through :func:`ledger.post_many`, its records and sessions written
    in one statement each (PostgreSQL; SQLite's single writer writes them a row each).
    If the batch's transaction fails, every item is tried again on its own, so one
    item's failure is its own. Accounting-On/Off splits the batch: what came before it
    is written first.
    """
    results: list[AcctResult | Exception | None] = [None] * len(items)
    segment: list[_Item] = []
    for index, (nas, req) in enumerate(items):
        if req.status in (ACCOUNTING_ON, ACCOUNTING_OFF):
            _run(segment, results)
            segment = []
            try:
                results[index] = AcctResult(None, None,
                                            closed=_close_nas_sessions(nas, req.status))
            except Exception as exc:  # noqa: BLE001 - the item's own failure
                results[index] = exc
            continue
        try:
            segment.append(_parse(index, nas, req))
        except Exception as exc:  # noqa: BLE001 - AccountingError and bad values
            results[index] = exc
    _run(segment, results)
    return results  # type: ignore[return-value]  (every slot is set)


@dataclass(slots=True)
class _Item:
    index: int
    nas: Nas
    req: AcctRequest
    key: str
    seconds: int
    inp: int
    out: int


def _parse(index: int, nas: Nas, req: AcctRequest) -> _Item:
    if req.status not in (START, INTERIM, STOP):
        raise AccountingError(f"unknown Acct-Status-Type {req.status!r}")
    if not req.session_id:
        raise AccountingError("no Acct-Session-Id")
    key = (req.unique_id or f"{req.session_id}/{req.username}")[:200]
    inp = _counter(req.input_octets, req.input_gigawords)
    out = _counter(req.output_octets, req.output_gigawords)
    if nas.vendor == Nas.Vendor.COOVACHILLI:  # chilli counts from its own side
        inp, out = out, inp
    if inp > MAX_COUNTER or out > MAX_COUNTER:
        raise AccountingError("octet counter out of range")
    seconds = max(0, int(req.session_time))
    if seconds > MAX_SESSION_TIME:  # a gateway's "-1" (4294967295), or garbage
        raise AccountingError("Acct-Session-Time out of range")
    return _Item(index, nas, req, key, seconds, inp, out)


MAX_COUNTER = 2**62  # bigint columns; no real counter comes near
# Acct-Session-Time is an unsigned 32-bit value; from 2**31 on (68 years) it is a signed
# -1 or another sentinel, never a duration: refused, never charged
MAX_SESSION_TIME = 2**31 - 1


@dataclass(frozen=True)
class _NewSessions:
    """The batch has sessions that do not exist yet (returned before anything is written:
    a rollback would make psycopg forget the connection's prepared statements)."""

    items: list[_Item]


def _run(items: list[_Item], results: list) -> None:
    if not items:
        return
    try:
        # created on first use, which needs a savepoint a pipeline cannot have
        ledger.account_id(ledger.REVENUE_HOTSPOT)
        with pipeline.atomic(generic_plans=True):  # its statements: LATERAL ... LIMIT 1
            done = _apply(items, create=False)
        if isinstance(done, _NewSessions):
            # PostgreSQL: create them first, each committed on its own, then run the batch
            # again: a batch never holds a session's unique-key entry while it waits for
            # a lock, so workers that share sessions and accounts cannot deadlock.
            _create_sessions(done.items)
            with transaction.atomic():
                done = _apply(items, create=True)
    except Exception as exc:  # noqa: BLE001 - retried one by one, or the item's failure
        if len(items) == 1:
            results[items[0].index] = exc
            return
        log.warning("accounting batch of %d failed (%s); one by one", len(items), exc,
                    exc_info=True)
        for item in items:
            _run([item], results)
        return
    for item, result in zip(items, done, strict=True):
        results[item.index] = result


def _apply(items: list[_Item], create: bool) -> list[AcctResult | Exception] | _NewSessions:
    """The batch inside its transaction; see :func:`account_many`.

    PostgreSQL, every session known (the usual batch): two round trips in a pipelined
    transaction (``core.db.pipeline``). The first locks the sessions and their owners'
    credit accounts, then reads the records already seen, the owners' balances and the
    ids the writes will take; the second writes the ledger's rows, the records and the
    sessions, and commits."""
    now = clock.now()
    pg = connection.vendor == "postgresql"
    pairs = list(dict.fromkeys((it.nas.pk, it.key) for it in items))
    if pg and not create:
        sessions, seen, sums, ids = _read_batch(pairs, items)
    else:
        sessions, seen, sums, ids = _lock_sessions(pairs), None, {}, None
    created: set[int] = set()
    first = {}
    for it in items:
        first.setdefault((it.nas.pk, it.key), it)
    # a Start with the key of a session that ended a while ago: a new session (the NAS
    # uses its session ids again); the old one keeps its history under another key
    again = {pair for pair, it in first.items() if it.req.status == START
             and pair in sessions and sessions[pair].ended_before(now)}
    missing = sorted((set(pairs) - sessions.keys()) | again)
    if missing and not create and pg:
        return _NewSessions([first[pair] for pair in missing])
    for pair in missing:  # new sessions, in one order (SQLite: its one writer)
        it = first[pair]
        if pair in again:
            _retire(sessions.pop(pair))
        session, new = _create_session(it.nas, it.key, it.req, now)
        sessions[pair] = session
        if new:
            created.add(session.pk)
    # the balances of the credit accounts the sessions' read locked (PostgreSQL): every
    # owner who may owe something (a new session's owner is locked below if need be)
    locked = {s.owner[1]: s.owner[2] for s in sessions.values()
              if s.owner is not None and s.tariff is not None and s.pk not in created}
    if seen is None:
        sigs = [(sessions[(it.nas.pk, it.key)].pk, it.req.status, it.seconds, it.inp, it.out)
                for it in items if sessions[(it.nas.pk, it.key)].pk not in created]
        seen, available = _seen_and_balances(sigs, locked)
    else:
        available = {pk: ledger.spendable_of(kind, *sums.get(pk, (0, 0)))
                     for pk, kind in locked.items()}

    # 1. Each item in order: counters, status, what the usage costs so far.
    out: list[AcctResult | Exception | None] = [None] * len(items)
    applied: list[tuple[int, HotspotSession, AccountingRecord, int]] = []
    touched: dict[int, HotspotSession] = {}
    for n, it in enumerate(items):
        session = sessions[(it.nas.pk, it.key)]
        sig = (session.pk, it.req.status, it.seconds, it.inp, it.out)
        if sig in seen:
            out[n] = AcctResult(session, None, 0, duplicate=True)
            continue
        try:
            seconds = max(session.session_time, session.believable_seconds(it.seconds, now))
            inp = max(session.input_octets, it.inp)
            outp = max(session.output_octets, it.out)
            charged = session.charged
            if session.tariff is not None:
                charged = max(charged, pricing.charge(session.tariff, seconds, inp + outp))
            cause = str(it.req.terminate_cause)[:40]
            framed = _ip_or_none(it.req.framed_ip) if not session.framed_ip else None
            record = AccountingRecord(
                session=session, kind=it.req.status, received_at=now,
                session_time=it.seconds, input_octets=it.inp, output_octets=it.out,
                terminate_cause=cause, debit=0)
        except Exception as exc:  # noqa: BLE001 - this item's own failure
            out[n] = exc
            continue
        seen.add(sig)
        grew = (seconds > session.session_time or inp > session.input_octets
                or outp > session.output_octets)
        session.session_time, session.input_octets, session.output_octets = seconds, inp, outp
        session.charged = charged
        session.updated_at = now
        session.record_came(it.req.status, grew, now, cause)
        if framed:
            session.framed_ip = framed
        touched[session.pk] = session
        applied.append((n, session, record, charged))

    # 2. Debits in arrival order, as far as each balance goes (credit accounts locked).
    start = {pk: s.debited for pk, s in touched.items()}
    owing = sorted({s.owner[1] for s in touched.values()
                    if s.owner is not None and s.charged > start[s.pk]} - set(available))
    if owing:  # owners of sessions created by this batch (and every owner on SQLite)
        available.update(_lock_credit(owing))
        ids = None  # any drawn came before these locks (ledger.post_many): draw anew
    postings: list[ledger.Posting] = []
    posted: list[AccountingRecord] = []
    for _n, session, record, charged in applied:
        if session.owner is None:
            continue
        username, credit_id, _kind = session.owner
        debit = min(charged - session.debited, max(0, available.get(credit_id, 0)))
        if debit <= 0:
            continue
        available[credit_id] -= debit
        session.debited += debit
        record.debit = debit
        postings.append(ledger.Posting(
            "hotspot.usage", [(credit_id, debit), (ledger.REVENUE_HOTSPOT, -debit)],
            actor=audit.Actor(source="hotspot", label=f"customer {username}"),
            reference=f"hotspot:{session.pk}", memo=f"Wi-Fi {session.acct_session_id}"[:255]))
        posted.append(record)
    if pg and ids is None and applied:
        ids = _draw_ids(len(applied))
    tx_ids, record_ids = ids if ids is not None else (None, None)
    # the accounts locked before the ids were drawn, with the Σ read under the lock (the
    # one round trip's balances): their checkpoints can move with these postings
    raw = {pk: int(total) for pk, (total, _held) in sums.items()}
    done = ledger.post_many(postings, ids=tx_ids,
                            locked={pk: raw.get(pk) for pk in available})
    for record, tx_id in zip(posted, done, strict=True):
        record.transaction_id = tx_id

    # 3. Write the records and the sessions.
    _write([r for _n, _s, r, _c in applied], list(touched.values()), record_ids)
    for n, session, record, _c in applied:
        out[n] = AcctResult(session, record, record.debit)
    return out  # type: ignore[return-value]


_SQLITE_CHUNK = 100  # rows per SQLite statement: far below its parameter limit


def _chunks(values: list, size: int):
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _lock_sessions(pairs: list[tuple[int, str]]) -> dict[tuple[int, str], HotspotSession]:
    """The batch's existing sessions, their rows locked in id order (PostgreSQL; SQLite's
    write transaction excludes every other writer), each with its owner (customer's name
    and credit account, or None) and the tariff it is charged at (or None)."""
    found = []
    if connection.vendor == "postgresql":
        arrays = [[nas for nas, _k in pairs], [key for _n, key in pairs]]
        found = rows.read(HotspotSession, _sql("sessions"), arrays * 2, extra=7)
    else:
        for chunk in _chunks(pairs, _SQLITE_CHUNK):
            found += rows.read(HotspotSession, _sql("sessions", len(chunk)),
                               [v for pair in chunk for v in pair], extra=7)
    return _owned(found)


def _owned(found: list[tuple]) -> dict[tuple[int, str], HotspotSession]:
    """The sessions read with their owner and plan columns, by (NAS id, session key)."""
    out = {}
    for session, username, credit_id, kind, per_hour, per_mb, minimum, increment in found:
        session.owner = (username, credit_id, kind) if credit_id is not None else None
        session.tariff = (None if session.owner is None or per_hour is None
                          else _tariff(per_hour, per_mb,
                                       Plan.session_minimum(minimum, session.pass_paid),
                                       increment))
        out[(session.nas_id, session.session_key)] = session
    return out


def _read_batch(pairs: list[tuple[int, str]], items: list[_Item]):
    """PostgreSQL, in a pipelined transaction, one round trip: the batch's sessions
    locked as :func:`_lock_sessions` locks them, then (sent before the first answer is
    read) the records already seen, the owners' sums {account id: (Σ entries, open
    holds)} and ids for the writes ([transaction ids], [record ids], one of each per
    item). Returns (sessions, seen, sums, ids)."""
    arrays = [[nas for nas, _k in pairs], [key for _n, key in pairs]]
    with prepared.cursor() as locking, prepared.cursor() as reading:
        locking.execute(_sql("sessions"), arrays * 2)
        reading.execute(_sql("batch"), [
            [it.nas.pk for it in items], [it.key for it in items],
            [it.req.status for it in items], [it.seconds for it in items],
            [it.inp for it in items], [it.out for it in items], *arrays, len(items)])
        found = rows.instances(HotspotSession, locking.fetchall(), extra=7)
        fetched = reading.fetchall()
    sessions = _owned(found)
    seen: set[tuple] = set()
    sums: dict[int, tuple[int, int]] = {}
    tx_ids, record_ids = [], []
    for tag, *row in fetched:
        if tag == 0:
            seen.add(tuple(row))
        elif tag == 1:
            sums[row[0]] = (row[2], row[3])
        else:
            tx_ids.append(row[0])
            record_ids.append(row[2])
    return sessions, seen, sums, (tx_ids, record_ids)


def _draw_ids(n: int) -> tuple[list[int], list[int]]:
    """PostgreSQL: ``n`` transaction ids and ``n`` record ids for the writes."""
    with prepared.cursor() as cursor:
        cursor.execute(_sql("ids"), [n])
        drawn = cursor.fetchall()
    return [tx for tx, _r in drawn], [rec for _t, rec in drawn]


@functools.lru_cache(maxsize=256)
def _tariff(per_hour: int, per_mb: int, minimum: int, increment: int) -> pricing.Tariff:
    return pricing.Tariff(price_per_hour=per_hour, price_per_mb=per_mb, minimum=minimum,
                          increment=increment)


def _create_sessions(items: list[_Item]) -> None:
    """Create these sessions, each in a transaction of its own (one a parallel batch
    created meanwhile is left as it is); a Start whose key belongs to a session that
    ended a while ago retires that session's key first."""
    now = clock.now()
    for it in items:
        try:
            with transaction.atomic():
                if it.req.status == START:
                    old = (HotspotSession.objects.select_for_update()
                           .filter(nas=it.nas, session_key=it.key).first())
                    if old is not None:
                        if not old.ended_before(now):
                            continue  # open (a parallel batch made it) or just ended
                        _retire(old)
                _new_session(it.nas, it.key, it.req, now, *_owner(it.req))
        except IntegrityError:
            pass


def _retire(session: HotspotSession) -> None:
    """Give an ended session's key up for a new session of the same key."""
    HotspotSession.objects.filter(pk=session.pk).update(session_key=session.retired_key())


def _new_session(nas: Nas, key: str, req: AcctRequest, now, customer, plan) -> HotspotSession:
    paid = False
    if customer is not None and plan is not None and plan.validity_seconds:
        first = (HotspotAccount.objects.filter(customer=customer)
                 .values_list("first_login_at", flat=True).first())
        paid = minimum_paid(plan, customer.pk, first)
    # the credit the Access-Accept counted on (its Class): the first CoA decision
    # compares with it, so a top-up made before this record reaches the gateway
    parts = class_parts(req.klass) if req.klass and customer is not None else None
    decided = parts[2] if parts is not None and parts[0] == customer.pk else None
    # a session whose Start was lost began Acct-Session-Time before its first record,
    # not before its customer's account existed
    started = now if req.status == START else now - dt.timedelta(
        seconds=min(max(0, int(req.session_time)), MAX_SESSION_TIME))
    if customer is not None and customer.created_at and started < customer.created_at <= now:
        started = customer.created_at
    session = HotspotSession(
        nas=nas, session_key=key, acct_session_id=req.session_id[:100],
        username=req.username[:150], customer=customer, plan=plan,
        mac=normalize_mac(req.mac) if req.mac else "", called_station=req.called[:100],
        framed_ip=_ip_or_none(req.framed_ip), started_at=started, updated_at=now,
        pass_paid=paid, decided_credit=decided, decided_at=now if decided is not None else None)
    if plan is not None:
        session.keep_prices(plan)
    session.save(force_insert=True)
    return session


def _create_session(nas: Nas, key: str, req: AcctRequest, now) -> tuple[HotspotSession, bool]:
    """A new session for the first record of ``key`` (a Start, or any record whose Start
    was lost); (session, True), or the session a parallel batch just created, locked."""
    customer, plan = _owner(req)
    try:
        with transaction.atomic():
            session = _new_session(nas, key, req, now, customer, plan)
    except IntegrityError:  # a parallel batch created it
        return _lock_sessions([(nas.pk, key)])[(nas.pk, key)], False
    session.owner = (customer.username, customer.credit_account_id, None) if customer else None
    session.tariff = session.session_tariff() if (customer and plan) else None
    return session, True


def _seen_and_balances(sigs: list[tuple], accounts_: dict[int, str]
                       ) -> tuple[set[tuple], dict[int, int]]:
    """Which of these (session, kind, seconds, input, output) records exist already, and
    the balances of these credit accounts ({id: kind}, locked by the sessions' read on
    PostgreSQL): one statement there, read after the locks are held."""
    if connection.vendor != "postgresql":
        found: list = []
        with prepared.cursor() as cursor:
            for chunk in _chunks(sigs, _SQLITE_CHUNK):
                cursor.execute(_sql("seen", len(chunk)), [v for sig in chunk for v in sig])
                found += cursor.fetchall()
        return set(map(tuple, found)), {}  # balances read once something is owed
    if not sigs and not accounts_:
        return set(), {}
    seen: set[tuple] = set()
    sums = {pk: (0, 0) for pk in accounts_}
    columns = [list(col) for col in zip(*sigs, strict=True)] if sigs else [[]] * 5
    with prepared.cursor() as cursor:
        cursor.execute(_sql("seen_sums"), [*columns, sorted(accounts_)])
        for tag, *row in cursor.fetchall():
            if tag:
                sums[row[0]] = (row[2], row[3])
            else:
                seen.add(tuple(row))
    return seen, {pk: ledger.spendable_of(accounts_[pk], total, holds)
                  for pk, (total, holds) in sums.items()}


def _lock_credit(account_ids: list[int]) -> dict[int, int]:
    """Lock the credit accounts (the lock every balance change takes, in id order), then
    read what a debit may take from each: {account id: balance − open holds}."""
    with prepared.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_sql("credit"), [account_ids])
            kinds = dict(cursor.fetchall())
            cursor.execute(_sql("sums"), [account_ids])
            sums = {pk: (total, holds) for pk, total, holds in cursor.fetchall()}
        else:
            kinds, sums = {}, {}
            for chunk in _chunks(account_ids, _SQLITE_CHUNK):
                cursor.execute(_sql("credit", len(chunk)), chunk)
                kinds.update(cursor.fetchall())
                cursor.execute(_sql("sums", len(chunk)), chunk)
                sums.update((pk, (total, holds)) for pk, total, holds in cursor.fetchall())
    return {pk: ledger.spendable_of(kind, *sums.get(pk, (0, 0)))
            for pk, kind in kinds.items()}


def _write(records: list[AccountingRecord], sessions: list[HotspotSession],
           ids: list[int] | None) -> None:
    """Write the new records and the changed sessions (one statement on PostgreSQL, the
    records taking ``ids``, drawn in advance: nothing to wait for)."""
    if not records:
        return
    if connection.vendor != "postgresql":
        for record in records:
            rows.insert(record)
        for session in sessions:
            _save(session, list(_WRITTEN))
        return
    for record, pk in zip(records, ids, strict=False):
        record.pk = pk
    fields = list(AccountingRecord._meta.concrete_fields)
    columns = [[s.pk for s in sessions]] + [[getattr(s, f) for s in sessions]
                                            for f in _WRITTEN]
    columns += [[getattr(r, f.attname) for r in records] for f in fields]
    with prepared.cursor() as cursor:
        cursor.execute(_sql("writes"), columns)
    for record in records:
        record._state.adding = False
        record._state.db = connection.alias


_UPDATE: dict[tuple[str, tuple[str, ...]], tuple[str, list]] = {}


def _save(session: HotspotSession, fields: list[str]) -> None:
    """``session.save(update_fields=fields)`` as one written-out UPDATE."""
    key = (connection.vendor, tuple(fields))
    found = _UPDATE.get(key)
    if found is None:
        q = connection.ops.quote_name
        model_fields = [HotspotSession._meta.get_field(f) for f in fields]
        found = _UPDATE[key] = (
            f"UPDATE {q(HotspotSession._meta.db_table)} SET "
            + ", ".join(f"{q(f.column)} = %s" for f in model_fields)
            + f" WHERE {q('id')} = %s", model_fields)
    sql, model_fields = found
    params = [f.get_db_prep_save(getattr(session, f.attname), connection)
              for f in model_fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, session.pk])


def _ip_or_none(text) -> str | None:
    try:
        return str(ipaddress.ip_address(str(text))) if text else None
    except ValueError:
        return None


def _owner(req: AcctRequest) -> tuple[Customer | None, Plan | None]:
    """Whose usage this is: from the Class of our Access-Accept, else the User-Name."""
    ids = parse_class(req.klass) if req.klass else None
    if ids is not None:
        customer = Customer.objects.filter(pk=ids[0]).first()
        plan = Plan.objects.filter(pk=ids[1]).first()
        if customer is not None:
            if plan is None:
                plan = plan_for(customer, HotspotAccount.objects.filter(
                    customer=customer).first())
            return customer, plan
    customer = accounts.find_customer(req.username) if req.username else None
    if customer is None and req.username and _looks_like_code(req.username):
        customer = accounts.find_customer(codes.normalize(req.username))
    if customer is None:
        return None, None
    return customer, plan_for(customer, HotspotAccount.objects.filter(
        customer=customer).first())
