"""Batches: several balanced transactions written at once (``post_many``), for a door
that posts many in one database transaction (the hotspot's accounting batch). The
ledger door's names; the rules are ``post``'s, checked by the same code."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial

from django.db import connections, router, transaction
from django.utils.translation import gettext as _

from ficha.core import audit, clock
from ficha.core.db import bulk, prepared
from ficha.core.services import currency

from ..models import Entry, Transaction
from . import (
    _ENTRY_BATCH,
    CASH,
    LedgerError,
    Line,
    NoOpenShift,
    _clean_lines,
    _insert,
    _insert_sql,
    _listeners,
    _lock_parties,
    _notify,
    _related_pk,
    _system,
    _tx_layout,
    account_id,
    checkpoints,
)


@dataclass(frozen=True)
class Posting:
    """One balanced transaction of a batch (see :func:`post_many`)."""

    kind: str
    lines: Sequence[Line]
    actor: audit.Actor = audit.SYSTEM
    memo: str = ""
    reference: str = ""


def post_many(postings: Sequence[Posting], ids: Sequence[int] | None = None, *,
              locked: Mapping[int, int | None] | None = None) -> list[int]:
    """Record several balanced transactions at once; return their ids, in order.

    The same rules as :func:`post` for every posting (integer lines, at least two
    non-zero, Σ = 0), checked for all of them before anything is written; no cash (a
    cash line needs its shift locked: use ``post``). The rows are written with one
    INSERT for the transactions and one for all their entries, in the caller's database
    transaction (``python -m bench hotspot.account_many``).

    ``ids`` (PostgreSQL): ids the caller drew in advance from :func:`next_id_sql`, at
    least one per posting (the first ones are used): the statement then returns nothing
    the caller must wait for, so in a pipelined transaction (``core.db.pipeline``) it
    travels with the statements after it.

    ``locked``: {account id: its Σ of entries read in this transaction, or None} for the
    customer accounts the caller locked (``lock_accounts``) before drawing ``ids``; the
    others are locked here, and with ``ids`` given every customer account must be in it
    (an id drawn before the lock could commit below a checkpoint). With a Σ given, the
    account's checkpoint moves to its last posting here now and then (PostgreSQL, with
    ``ids``: in the same statement), so its balance stays a short sum however many
    debits it takes.
    """
    if not postings:
        return []
    cleaned = [_clean_lines(p.lines) for p in postings]
    cash_id = account_id(CASH)
    if any(acct == cash_id for clean in cleaned for acct, _a in clean):
        raise NoOpenShift(_("Open a shift before moving cash."))
    cur = currency()
    now = clock.now()
    rows_ = [{
        "kind": p.kind, "created_at": now, "memo": p.memo[:255], "reference": p.reference[:64],
        "staff_id": _related_pk("staff", p.actor.staff), "shift_id": None,
        "source": p.actor.source[:20], "source_ip": p.actor.ip or None, "reverses_id": None,
    } for p in postings]
    alias = router.db_for_write(Transaction)
    conn = connections[alias]
    locked = locked or {}
    parties = {acct for clean in cleaned for acct, _a in clean}
    if ids is not None and conn.vendor == "postgresql":
        unlocked_ = parties - _system - locked.keys()
        if unlocked_:
            raise LedgerError(f"accounts {sorted(unlocked_)} were not locked before the "
                              "transaction ids were drawn")
    with transaction.atomic(using=alias, savepoint=False), prepared.cursor(conn) as cursor:
        _lock_parties(conn, cursor, parties, locked)
        if conn.vendor == "postgresql":
            if ids is None:
                ids = _insert_many_pg(conn, cursor, rows_, cleaned, cur)
            else:
                ids = [int(i) for i in ids[:len(rows_)]]
                points = checkpoints.due(ids, cleaned, locked)
                ids = _insert_many_pg_with_ids(conn, cursor, rows_, cleaned, cur, ids, points)
        else:  # one writer (SQLite): a row each, their entries together
            if ids is not None:
                raise LedgerError("ids drawn in advance are for PostgreSQL")
            ids = [_insert(conn, cursor, row, [], cur) for row in rows_]
            lines = [(tx_id, acct, amount) for tx_id, clean in zip(ids, cleaned, strict=True)
                     for acct, amount in clean]
            for start in range(0, len(lines), _ENTRY_BATCH):
                batch = lines[start:start + _ENTRY_BATCH]
                values: list = []
                for tx_id, acct, amount in batch:
                    values += (tx_id, acct, amount, cur)
                cursor.execute(_insert_sql(conn, len(batch)), values)
    if _listeners:
        for p, clean in zip(postings, cleaned, strict=True):
            transaction.on_commit(partial(_notify, p.kind, [a for a, _x in clean]),
                                  using=alias)
    return ids


_many_sql: dict[str, str] = {}


def _many_fields(conn):
    """(quote, Transaction meta, its written fields, Entry meta, the entry fields) of the
    batch INSERTs."""
    meta, emeta = Transaction._meta, Entry._meta
    fields = [meta.get_field(a) for a, _prep in _tx_layout()[1]]
    efields = [emeta.get_field(n) for n in ("transaction", "account", "amount", "currency")]
    return conn.ops.quote_name, meta, fields, emeta, efields


def _tx_columns(conn, rows_: list[dict]) -> list[list]:
    """The transactions' column values, one list per written field (for ``unnest``)."""
    return [[row[a] if prep is None else prep(row[a], conn) for row in rows_]
            for a, prep in _tx_layout()[1]]


def _insert_many_pg(conn, cursor, rows_: list[dict], cleaned, cur: str) -> list[int]:
    """PostgreSQL: the transactions and their entries in one statement (the entries'
    INSERT reads the new ids from a WITH ... INSERT ... RETURNING), the values as arrays
    (``unnest``): one text whatever the batch's size, prepared once per connection. Ids
    come from the sequence in row order within the statement, so the n-th smallest new id
    is the n-th posting's."""
    sql = _many_sql.get("tx")
    if sql is None:
        q, meta, fields, emeta, efields = _many_fields(conn)
        sql = _many_sql["tx"] = (
            f"WITH t AS (INSERT INTO {q(meta.db_table)} "
            f"({', '.join(q(f.column) for f in fields)}) "
            f"SELECT * FROM {bulk.unnest(conn, fields)} RETURNING {q(meta.pk.column)}), "
            f"n AS (SELECT {q(meta.pk.column)} AS id, "
            f"row_number() OVER (ORDER BY {q(meta.pk.column)}) AS k FROM t) "
            f"INSERT INTO {q(emeta.db_table)} ({', '.join(q(f.column) for f in efields)}) "
            f"SELECT n.id, e.account, e.amount, e.currency FROM "
            f"{bulk.unnest(conn, efields, ['k', 'account', 'amount', 'currency'], 'e')} "
            f"JOIN n ON n.k = e.k RETURNING {q(efields[0].column)}"
        )
    columns = _tx_columns(conn, rows_)
    ks, accts, amounts = [], [], []
    for k, clean in enumerate(cleaned, start=1):
        for acct, amount in clean:
            ks.append(k)
            accts.append(acct)
            amounts.append(amount)
    cursor.execute(sql, [*columns, ks, accts, amounts, [cur] * len(ks)])
    written = cursor.fetchall()
    ids = sorted({r[0] for r in written})
    if len(ids) != len(rows_) or len(written) != len(ks):
        raise LedgerError("the ledger wrote a different number of transactions")
    return ids


def _insert_many_pg_with_ids(conn, cursor, rows_: list[dict], cleaned, cur: str,
                             ids: list[int], points: list[tuple[int, int, int]]) -> list[int]:
    """:func:`_insert_many_pg` with the ids given: nothing comes back to wait for. The
    checkpoints ``points`` move in the same statement."""
    sql = _many_sql.get("tx_ids")
    if sql is None:
        q, meta, fields, emeta, efields = _many_fields(conn)
        fields = [meta.pk, *fields]
        sql = _many_sql["tx_ids"] = (
            f"WITH t AS (INSERT INTO {q(meta.db_table)} "
            f"({', '.join(q(f.column) for f in fields)}) "
            f"SELECT * FROM {bulk.unnest(conn, fields)}), "
            f"c AS ({checkpoints.upsert_sql(conn)}) "
            f"INSERT INTO {q(emeta.db_table)} ({', '.join(q(f.column) for f in efields)}) "
            f"SELECT * FROM {bulk.unnest(conn, efields)}")
    columns = _tx_columns(conn, rows_)
    txs, accts, amounts = [], [], []
    for tx_id, clean in zip(ids, cleaned, strict=True):
        for acct, amount in clean:
            txs.append(tx_id)
            accts.append(acct)
            amounts.append(amount)
    point_columns = [list(c) for c in zip(*points, strict=True)] or [[], [], []]
    cursor.execute(sql, [ids, *columns, *point_columns, [clock.now()] * len(points),
                         txs, accts, amounts, [cur] * len(txs)])
    return ids


def next_id_sql() -> str:
    """An SQL expression drawing the next transaction id (PostgreSQL), for a caller that
    draws the ids of :func:`post_many` in a statement it sends anyway."""
    return bulk.next_id_sql(connections[router.db_for_write(Transaction)], Transaction)


# Reading (sums and balances), shifts (the cash drawer) and holds (credit set aside for a
# debit still to come) are their own modules of this door; their names are the door's.
