"""The only code that writes money.

``post`` records one balanced transaction; ``reverse`` undoes one by posting its
mirror image. Shifts hold the cash drawer: every line on the cash account belongs to an
open shift.

Holds set credit aside for a debit still to come (a live call): ``place_hold``,
``release_hold``, ``settle_hold``. The one rule for the credit a debit of a customer's
account may take is :func:`spendable` — balance − open holds — read after
:func:`lock_accounts` (``spendable_sql`` is the same rule for set-based statements).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial

from django.db import IntegrityError, connections, router, transaction
from django.utils.translation import gettext as _

from ficha.core import audit, clock
from ficha.core.db import bulk, prepared
from ficha.core.services import currency

from ..models import Account, Checkpoint, Entry, Shift, Transaction

# --- chart of accounts ------------------------------------------------------------------
CASH = "cash"  # the cash drawer
SAFE = "safe"  # where a float comes from and a closed drawer's cash goes (owner's equity)
OVER_SHORT = "cash_over_short"  # drawer variances
RECHARGE_LIABILITY = "recharge_liability"  # sold, unused codes: money the shop owes
REVENUE_CAFE = "revenue:cafe"
REVENUE_HOTSPOT = "revenue:hotspot"
REVENUE_CALLS = "revenue:calls"
REVENUE_PRODUCTS = "revenue:products"
BREAKAGE = "breakage"  # revenue from expired, never-used codes
ADJUSTMENTS = "adjustments"  # discounts and manual adjustments (an expense)

SYSTEM_ACCOUNTS: dict[str, tuple[str, str]] = {
    CASH: (Account.Kind.ASSET, "Cash drawer"),
    SAFE: (Account.Kind.EQUITY, "Safe / owner's cash"),
    OVER_SHORT: (Account.Kind.EXPENSE, "Cash over/short"),
    RECHARGE_LIABILITY: (Account.Kind.LIABILITY, "Recharge liability"),
    REVENUE_CAFE: (Account.Kind.REVENUE, "Revenue: café time"),
    REVENUE_HOTSPOT: (Account.Kind.REVENUE, "Revenue: hotspot"),
    REVENUE_CALLS: (Account.Kind.REVENUE, "Revenue: calls"),
    REVENUE_PRODUCTS: (Account.Kind.REVENUE, "Revenue: products"),
    BREAKAGE: (Account.Kind.REVENUE, "Breakage (expired codes)"),
    ADJUSTMENTS: (Account.Kind.EXPENSE, "Discounts and adjustments"),
}
REVENUE_ACCOUNTS = (REVENUE_CAFE, REVENUE_HOTSPOT, REVENUE_CALLS, REVENUE_PRODUCTS, BREAKAGE)

_ids: dict[str, int] = {}
_system: set[int] = set()  # ids of SYSTEM_ACCOUNTS seen so far (never checkpointed or locked)
log = logging.getLogger("ficha.ledger")

# --- after-commit listeners ---------------------------------------------------------------
# Higher layers subscribe here (e.g. the hotspot, to tell gateways about a customer's new
# credit); the ledger never imports them. A listener gets (kind, account ids) once the
# posting's transaction has committed; it must not raise (errors are logged).
Listener = Callable[[str, list[int]], None]
_listeners: list[Listener] = []


def on_posted(listener: Listener) -> None:
    """Call ``listener(kind, account_ids)`` after every committed posting."""
    if listener not in _listeners:
        _listeners.append(listener)


def _notify(kind: str, account_ids: list[int]) -> None:
    for listener in list(_listeners):
        try:
            listener(kind, account_ids)
        except Exception:
            log.exception("ledger listener %r failed", listener)


class LedgerError(ValueError):
    """A posting that would break the ledger's rules; the message is for people."""


class NoOpenShift(LedgerError):
    pass


def clear_cache() -> None:
    _ids.clear()
    _system.clear()
    _swept.clear()


def customer_code(customer_id: int) -> str:
    return f"customer:{customer_id}"


def account(code: str) -> Account:
    """The account with ``code``; system accounts are created on first use."""
    acct = Account.objects.filter(code=code).first()
    if acct is None:
        if code not in SYSTEM_ACCOUNTS:
            raise LedgerError(f"unknown ledger account {code!r}")
        kind, name = SYSTEM_ACCOUNTS[code]
        try:
            with transaction.atomic():
                acct = Account.objects.create(code=code, kind=kind, name=name)
        except IntegrityError:
            acct = Account.objects.get(code=code)
        else:
            if transaction.get_connection().in_atomic_block:
                # Other threads must not post to the new row before it is committed (the
                # deferred foreign-key check of their entries would fail): remember the
                # id at commit, forget it on rollback.
                pk = acct.pk
                transaction.on_commit(lambda: _remember(code, pk))
                return acct
    _remember(code, acct.pk)
    return acct


def _remember(code: str, pk: int) -> None:
    _ids[code] = pk
    if code in SYSTEM_ACCOUNTS:
        _system.add(pk)


def account_id(code: str) -> int:
    pk = _ids.get(code)
    if pk is None:
        pk = account(code).pk
    return pk


def open_account(code: str, kind: str, name: str) -> Account:
    """Create a per-party account (a customer's credit)."""
    acct = Account.objects.create(code=code, kind=kind, name=name[:120])
    _ids[code] = acct.pk
    return acct


def _resolve(acct: Account | str | int) -> int:
    if isinstance(acct, Account):
        return acct.pk
    if isinstance(acct, str):
        return account_id(acct)
    if isinstance(acct, int) and not isinstance(acct, bool):
        return acct
    raise LedgerError(f"not a ledger account: {acct!r}")


Line = tuple[Account | str | int, int]


def post(
    kind: str,
    lines: Sequence[Line],
    *,
    actor: audit.Actor = audit.SYSTEM,
    shift: Shift | None = None,
    memo: str = "",
    reference: str = "",
    reverses: Transaction | None = None,
) -> Transaction:
    """Record one balanced transaction. Lines are (account, signed minor units).

    The rows are written with two INSERT statements (see :func:`_insert`) instead of
    ``Model.save()`` and ``bulk_create``: the same rows, values converted as the ORM
    converts them, in the same database transaction, at a fraction of the cost
    (``python -m bench ledger.post``). Ledger models have no save signals to miss. The
    returned ``Transaction`` is a saved instance, as ``save()`` would leave it.
    """
    clean = _clean_lines(lines)
    cur = currency()
    cash_id = account_id(CASH)
    staff = actor.staff
    row = {
        "kind": kind,
        "created_at": clock.now(),
        "memo": memo[:255],
        "reference": reference[:64],
        "staff_id": _related_pk("staff", staff),
        "shift_id": _related_pk("shift", shift),
        "source": actor.source[:20],
        "source_ip": actor.ip or None,
        "reverses_id": _related_pk("reverses", reverses),
    }
    alias = router.db_for_write(Transaction)
    conn = connections[alias]
    if any(acct == cash_id for acct, _a in clean) and shift is None:
        raise NoOpenShift(_("Open a shift before moving cash."))
    # No savepoint inside a caller's transaction (two round trips that protect nothing:
    # the INSERTs either all happen or the caller's transaction fails); a closed shift
    # is refused after the block, so it never dooms the caller's transaction.
    closed = False
    with transaction.atomic(using=alias, savepoint=False), prepared.cursor(conn) as cursor:
        if any(acct == cash_id for acct, _a in clean):
            closed = not _lock_open_shift(conn, cursor, shift.pk)
        if not closed:
            row["id"] = _insert(conn, cursor, row, clean, cur,
                                lock=_parties(conn, {acct for acct, _a in clean}))
    if closed:
        raise NoOpenShift(_("This shift is closed; open a new one."))
    if _listeners:
        transaction.on_commit(partial(_notify, kind, [a for a, _x in clean]), using=alias)
    names = _tx_layout()[0]
    tx = Transaction.from_db(alias, names, [row[name] for name in names])
    # Cache the related objects, as assigning them in Transaction(...) does.
    for name, obj in (("staff", staff), ("shift", shift), ("reverses", reverses)):
        if obj is not None:
            setattr(tx, name, obj)
    return tx


# --- writing rows -----------------------------------------------------------------------
# Transaction columns whose value the database driver does not take as it is: they go
# through the ORM's own conversion (``Field.get_db_prep_save``). The other columns hold a
# plain str (``str[:n]`` always is one), an int id or None, which no conversion changes.
_CONVERTED = frozenset({"kind", "created_at", "source_ip"})
# Lines per INSERT into ledger_entry: far below every backend's parameter limit.
_ENTRY_BATCH = 100

_layout: tuple[list[str], list[tuple[str, object]]] | None = None
_related_models: dict[str, type] = {}
_sql: dict[tuple[str, int], str] = {}
_shift_sql: dict[str, str] = {}


def _tx_layout() -> tuple[list[str], list[tuple[str, object]]]:
    """Transaction's column attributes in model order (the order ``from_db`` wants), and
    the columns to INSERT with their conversion (None: stored as given).

    Built once; concurrent first calls build equal values and one of them stays.
    """
    global _layout
    if _layout is None:
        fields = Transaction._meta.concrete_fields
        known = {"id", "kind", "created_at", "memo", "reference", "staff_id", "shift_id",
                 "source", "source_ip", "reverses_id"}
        unknown = {f.attname for f in fields} ^ known
        if unknown:  # a field was added to or removed from the model: update post()
            raise RuntimeError(f"ledger.post does not handle Transaction field(s) {unknown}")
        names = [f.attname for f in fields]
        columns = [
            (f.attname, f.get_db_prep_save if f.name in _CONVERTED else None)
            for f in fields if not f.primary_key
        ]
        _layout = (names, columns)
    return _layout


def _related_pk(name: str, obj) -> int | None:
    """The id to store for a foreign key, with the checks assigning it on a model does."""
    if obj is None:
        return None
    model = _related_models.get(name)
    if model is None:
        model = _related_models[name] = Transaction._meta.get_field(name).related_model
    if not isinstance(obj, model):
        raise ValueError(
            f'Cannot assign "{obj!r}": "Transaction.{name}" must be a "{model.__name__}" '
            f"instance."
        )
    if obj.pk is None:
        raise ValueError(
            f"save() prohibited to prevent data loss due to unsaved related object '{name}'."
        )
    return obj.pk


def _returning(conn) -> bool:
    # SQLite's cursor.lastrowid is the new id, and cheaper than RETURNING plus a fetch.
    return conn.vendor != "sqlite" and conn.features.can_return_columns_from_insert


def _insert_sql(conn, n_entries: int) -> str:
    """INSERT for a transaction row (``n_entries`` 0) or for ``n_entries`` entry rows."""
    key = (conn.vendor, n_entries)
    sql = _sql.get(key)
    if sql is None:
        q = conn.ops.quote_name
        if n_entries == 0:
            meta = Transaction._meta
            columns = [meta.get_field(attname).column for attname, _prep in _tx_layout()[1]]
            sql = (
                f"INSERT INTO {q(meta.db_table)} ({', '.join(q(c) for c in columns)}) "
                f"VALUES ({', '.join(['%s'] * len(columns))})"
            )
            if _returning(conn):
                sql += f" RETURNING {q(meta.pk.column)}"
        else:
            meta = Entry._meta
            columns = [meta.get_field(n).column
                       for n in ("transaction", "account", "amount", "currency")]
            sql = (
                f"INSERT INTO {q(meta.db_table)} ({', '.join(q(c) for c in columns)}) "
                f"VALUES {', '.join(['(%s, %s, %s, %s)'] * n_entries)}"
            )
        _sql[key] = sql
    return sql


def _locking_insert_sql(conn) -> str:
    """PostgreSQL: the transaction's INSERT, its id drawn after the accounts in the first
    parameter are locked (the aggregate reads every locked row before nextval runs)."""
    sql = _sql.get((conn.vendor, -1))
    if sql is None:
        q = conn.ops.quote_name
        meta = Transaction._meta
        columns = [meta.get_field(attname).column for attname, _prep in _tx_layout()[1]]
        next_id = bulk.next_id_sql(conn, Transaction)
        sql = _sql[(conn.vendor, -1)] = (
            f"INSERT INTO {q(meta.db_table)} ({q(meta.pk.column)}, "
            f"{', '.join(q(c) for c in columns)}) VALUES ((SELECT {next_id} FROM "
            f"(SELECT COUNT(*) FROM ({_LOCK_SQL}) AS locked) AS after_lock), "
            f"{', '.join(['%s'] * len(columns))}) RETURNING {q(meta.pk.column)}")
    return sql


def _lock_open_shift(conn, cursor, shift_id: int) -> bool:
    """Lock the shift's row until the end of the transaction (``SELECT ... FOR UPDATE``,
    as ``Shift.objects.select_for_update()`` does; SQLite's IMMEDIATE transaction already
    holds the write lock) and say whether the shift exists and is open."""
    sql = _shift_sql.get(conn.vendor)
    if sql is None:
        q = conn.ops.quote_name
        meta = Shift._meta
        sql = (
            f"SELECT {q(meta.get_field('closed_at').column)} FROM {q(meta.db_table)} "
            f"WHERE {q(meta.pk.column)} = %s"
        )
        if conn.features.has_select_for_update:
            sql += " FOR UPDATE"
        _shift_sql[conn.vendor] = sql
    cursor.execute(sql, [shift_id])
    found = cursor.fetchone()
    return found is not None and found[0] is None


def _lock_parties(conn, cursor, accounts: set[int], locked=()) -> None:
    """The locking rule's half for credits (PostgreSQL): lock the customer accounts a
    posting writes to, in id order, before its transaction id is drawn — debits and holds
    already hold the lock (``holds.lock_accounts``; locking again is free), redemptions
    and deposits take it here. A checkpoint (``Checkpoint``) is written under the same
    lock, so no entry below it can commit after it. System accounts are not locked (every
    posting writes to them; they are never checkpointed). SQLite: the IMMEDIATE write
    transaction already excludes every other writer."""
    pks = _parties(conn, accounts, locked)
    if pks:
        cursor.execute(_LOCK_SQL, [pks])
        cursor.fetchall()


def _parties(conn, accounts: set[int], locked=()) -> list[int]:
    """The accounts of ``accounts`` that a posting must lock (:func:`_lock_parties`)."""
    if conn.vendor != "postgresql":
        return []
    return sorted(accounts - _system - set(locked))


def _lock_sql() -> str:
    return (f'SELECT "id" FROM "{Account._meta.db_table}" WHERE "id" = ANY(%s) '
            'ORDER BY "id" FOR UPDATE')


_LOCK_SQL = _lock_sql()


def _insert(conn, cursor, row: dict, lines: list[tuple[int, int]], cur: str,
            lock: list[int] | None = None) -> int:
    """Write the transaction ``row`` and its entries; return the transaction's id.

    Entry values are already what the database stores: ints (ids, amounts) and the
    currency code. ``lock`` (PostgreSQL): accounts locked in the same statement before
    the transaction's id is drawn (:func:`_lock_parties`' rule without a round trip of
    its own: the id is a scalar subquery that first locks them).
    """
    params = [row[a] if prep is None else prep(row[a], conn) for a, prep in _tx_layout()[1]]
    if lock:
        cursor.execute(_locking_insert_sql(conn), [lock, *params])
    else:
        cursor.execute(_insert_sql(conn, 0), params)
    if _returning(conn):
        tx_id = cursor.fetchone()[0]
    else:
        tx_id = conn.ops.last_insert_id(
            cursor, Transaction._meta.db_table, Transaction._meta.pk.column
        )
    for start in range(0, len(lines), _ENTRY_BATCH):
        batch = lines[start:start + _ENTRY_BATCH]
        values: list = []
        for acct, amount in batch:
            values += (tx_id, acct, amount, cur)
        cursor.execute(_insert_sql(conn, len(batch)), values)
    return tx_id


def reverse(
    tx: Transaction,
    *,
    actor: audit.Actor,
    shift: Shift | None = None,
    memo: str = "",
    kind: str | None = None,
) -> Transaction:
    """Post the mirror image of ``tx``; a transaction can be reversed once."""
    with transaction.atomic():
        if Transaction.objects.filter(reverses=tx).exists():
            raise LedgerError(_("This transaction was already reversed."))
        lines = [(e.account_id, -e.amount) for e in tx.entries.all()]
        try:
            with transaction.atomic():
                return post(
                    kind or f"{tx.kind}.reversal", lines, actor=actor, shift=shift,
                    memo=memo or f"reverses #{tx.pk}", reference=tx.reference, reverses=tx,
                )
        except IntegrityError:
            raise LedgerError(_("This transaction was already reversed."))


# --- checkpoints ----------------------------------------------------------------------------
def checkpoint(accounts: Iterable[Account | str | int]) -> dict[int, tuple[int, int]]:
    """Move the checkpoints of customer ``accounts`` to their last entries, under their
    locks (see ``Checkpoint``); a balance then sums only the entries posted after it.
    Returns {account id: (upto, total)} of the checkpoints it moved. Balances do not
    change: they are the same Σ, read in two parts."""
    pks = sorted({_resolve(a) for a in accounts})
    if not pks:
        return {}
    system = list(Account.objects.filter(pk__in=pks, code__in=SYSTEM_ACCOUNTS)
                  .values_list("code", flat=True))
    if system:
        raise LedgerError(f"system accounts are not checkpointed: {', '.join(system)}")
    alias = router.db_for_write(Checkpoint)
    conn = connections[alias]
    q = conn.ops.quote_name
    entries, points = q(Entry._meta.db_table), q(Checkpoint._meta.db_table)
    moved: dict[int, tuple[int, int]] = {}
    with transaction.atomic(using=alias), conn.cursor() as cursor:
        _lock_parties(conn, cursor, set(pks))
        cursor.execute(
            f"SELECT e.{q('account_id')}, MAX(e.{q('transaction_id')}), SUM(e.{q('amount')}), "
            f"COALESCE(MAX(c.{q('total')}), 0) FROM {entries} AS e "
            f"LEFT OUTER JOIN {points} AS c ON c.{q('account_id')} = e.{q('account_id')} "
            f"WHERE e.{q('account_id')} IN ({', '.join(['%s'] * len(pks))}) "
            f"AND e.{q('transaction_id')} > COALESCE(c.{q('upto')}, 0) "
            f"GROUP BY e.{q('account_id')}", pks)
        now = clock.now()
        for pk, upto, later, before in cursor.fetchall():
            total = int(before) + int(later)
            Checkpoint.objects.using(alias).update_or_create(
                account_id=pk, defaults={"upto": upto, "total": total, "taken_at": now})
            moved[pk] = (int(upto), total)
    return moved


# Entries after its checkpoint from which the worker moves a customer account's
# checkpoint (``checkpoint_long_histories``); every reading of the balance sums at most
# about this many, whatever the account's age.
LONG_HISTORY = 64
# Entries the worker looks back at when it starts (it remembers where it got to after).
_FIRST_LOOK = 100_000
_swept: dict[str, int] = {}  # database alias → the last entry id looked at


def checkpoint_long_histories(limit: int = 500) -> int:
    """The worker's job: move the checkpoints of up to ``limit`` customer accounts that
    took LONG_HISTORY entries or more since theirs (café minutes, calls, top-ups; the
    hotspot's batches move their own). Only accounts with entries since the last round
    are looked at. Returns how many checkpoints moved."""
    alias = router.db_for_write(Checkpoint)
    conn = connections[alias]
    q = conn.ops.quote_name
    entries, points = q(Entry._meta.db_table), q(Checkpoint._meta.db_table)
    with conn.cursor() as cursor:
        cursor.execute(f"SELECT MAX({q('id')}) FROM {entries}")
        newest = cursor.fetchone()[0] or 0
        since = _swept.get(alias)
        if since is None:
            since = max(0, newest - _FIRST_LOOK)
        if newest <= since:
            return 0
        cursor.execute(
            f"SELECT e.{q('account_id')} FROM {entries} AS e "
            f"LEFT OUTER JOIN {points} AS c ON c.{q('account_id')} = e.{q('account_id')} "
            f"WHERE e.{q('account_id')} IN (SELECT DISTINCT {q('account_id')} FROM {entries} "
            f"WHERE {q('id')} > %s AND {q('id')} <= %s) "
            f"AND e.{q('transaction_id')} > COALESCE(c.{q('upto')}, 0) "
            f"GROUP BY e.{q('account_id')} HAVING COUNT(*) >= %s", [since, newest, LONG_HISTORY])
        busy = {row[0] for row in cursor.fetchall()}
    busy -= set(Account.objects.filter(pk__in=busy, code__in=SYSTEM_ACCOUNTS)
                .values_list("pk", flat=True))
    moved = 0
    chosen = sorted(busy)[:limit]
    for start in range(0, len(chosen), 50):  # short transactions: locks held briefly
        moved += len(checkpoint(chosen[start:start + 50]))
    if len(busy) <= limit:  # the rest is looked at again next round
        _swept[alias] = newest
    return moved


# --- batches ------------------------------------------------------------------------------
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
                points = _due_checkpoints(ids, cleaned, locked)
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


def _clean_lines(lines: Sequence[Line]) -> list[tuple[int, int]]:
    """``lines`` as (account id, amount), checked as every posting is."""
    clean: list[tuple[int, int]] = []
    for acct, amount in lines:
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise LedgerError("ledger amounts are integers of minor units")
        if amount:
            # int(): the value the ORM's integer fields would store for an int subclass
            clean.append((int(_resolve(acct)), int(amount)))
    if len(clean) < 2:
        raise LedgerError(_("A transaction needs at least two non-zero lines."))
    if sum(a for _acct, a in clean) != 0:
        raise LedgerError(_("A transaction's lines must sum to zero."))
    return clean


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


# A customer account's checkpoint moves when a batch posts to it with a transaction id
# that is a multiple of this: about every CHECKPOINT_EVERY-th debit, so a balance sums
# that many entries on average (each a heap visit while VACUUM has not yet marked their
# pages all-visible) at the cost of a one-row upsert as often.
CHECKPOINT_EVERY = 8


def _due_checkpoints(ids: list[int], cleaned, locked: Mapping[int, int | None]
                     ) -> list[tuple[int, int, int]]:
    """(account, upto, total) of the checkpoints a batch moves: accounts whose Σ the caller
    read under the lock, whose last posting in the batch has an id that is a multiple of
    CHECKPOINT_EVERY; total = that Σ + the batch's lines."""
    if len(ids) < len(cleaned):
        raise LedgerError("fewer transaction ids than postings")
    last: dict[int, int] = {}
    moved: dict[int, int] = {}
    for tx_id, clean in zip(ids, cleaned, strict=False):
        for acct, amount in clean:
            if locked.get(acct) is not None:
                last[acct] = max(last.get(acct, 0), tx_id)
                moved[acct] = moved.get(acct, 0) + amount
    return [(acct, upto, int(locked[acct]) + moved[acct]) for acct, upto in last.items()
            if upto % CHECKPOINT_EVERY == 0]


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
            f"c AS ({_checkpoint_upsert_sql(conn)}) "
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


def _checkpoint_upsert_sql(conn) -> str:
    """PostgreSQL: INSERT ... ON CONFLICT of checkpoints given as arrays (account, upto,
    total, taken_at); a checkpoint only moves forward."""
    q = conn.ops.quote_name
    meta = Checkpoint._meta
    fields = [meta.get_field(n) for n in ("account", "upto", "total", "taken_at")]
    table = q(meta.db_table)
    return (f"INSERT INTO {table} ({', '.join(q(f.column) for f in fields)}) "
            f"SELECT * FROM {bulk.unnest(conn, fields)} "
            f"ON CONFLICT ({q('account_id')}) DO UPDATE SET {q('upto')} = EXCLUDED.{q('upto')}, "
            f"{q('total')} = EXCLUDED.{q('total')}, "
            f"{q('taken_at')} = EXCLUDED.{q('taken_at')} "
            f"WHERE {table}.{q('upto')} < EXCLUDED.{q('upto')}")


def next_id_sql() -> str:
    """An SQL expression drawing the next transaction id (PostgreSQL), for a caller that
    draws the ids of :func:`post_many` in a statement it sends anyway."""
    return bulk.next_id_sql(connections[router.db_for_write(Transaction)], Transaction)


# Reading (sums and balances), shifts (the cash drawer) and holds (credit set aside for a
# debit still to come) are their own modules of this door; their names are the door's.
from .holds import (  # noqa: E402, F401
    InsufficientCredit,
    held,
    held_sql,
    lock_accounts,
    place_hold,
    release_hold,
    settle_hold,
    settle_hold_within_credit,
    spendable,
    spendable_of,
    spendable_sql,
    within_credit,
    within_credit_many,
)
from .reading import (  # noqa: E402, F401
    RAW_SUM_SQL,
    balance,
    balances,
    credited_since,
    has_entries,
    raw_sum,
    sum_sql,
)
from .shifts import close_shift, current_shift, open_shift, require_shift, shift_cash  # noqa: E402, F401
