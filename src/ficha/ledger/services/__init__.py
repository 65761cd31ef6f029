"""The only code that writes money.

``post`` records one balanced transaction; ``reverse`` undoes one by posting its
mirror image. Shifts hold the cash drawer: every line on the cash account belongs to an
open shift.

Holds set credit aside for a debit still to come (a live call): ``place_hold``,
``release_hold``, ``settle_hold``. The one rule for the credit a debit of a customer's
account may take is :func:`spendable` — balance − open holds — read after
:func:`lock_accounts` (``spendable_sql`` is the same rule for set-based statements).

Its modules, whose names are this door's: ``reading`` (sums and balances), ``holds``,
``shifts``, ``batches`` (``post_many``) and ``checkpoints`` (balance checkpoints, sound
because every posting to a customer account locks it before drawing its id).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import partial

from django.db import IntegrityError, connections, router, transaction
from django.utils.translation import gettext as _

from ficha.core import audit, clock
from ficha.core.db import bulk, prepared
from ficha.core.services import currency

from ..models import Account, Entry, Shift, Transaction

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
    checkpoints.clear()


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


# PostgreSQL: lock accounts (an array of ids) in id order, as every posting and hold does
_LOCK_SQL = (f'SELECT "id" FROM "{Account._meta.db_table}" WHERE "id" = ANY(%s) '
             'ORDER BY "id" FOR UPDATE')


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


from . import checkpoints  # noqa: E402
from .batches import Posting, next_id_sql, post_many  # noqa: E402, F401
from .checkpoints import checkpoint, checkpoint_long_histories  # noqa: E402, F401
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
