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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial

from django.db import IntegrityError, connections, router, transaction
from django.db.models import Sum
from django.utils.translation import gettext as _

from ficha.core import audit, clock
from ficha.core.db import bulk, prepared
from ficha.core.services import currency

from .models import Account, Entry, Hold, Shift, Transaction

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
                transaction.on_commit(lambda: _ids.__setitem__(code, pk))
                return acct
    _ids[code] = acct.pk
    return acct


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
            row["id"] = _insert(conn, cursor, row, clean, cur)
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


def _insert(conn, cursor, row: dict, lines: list[tuple[int, int]], cur: str) -> int:
    """Write the transaction ``row`` and its entries; return the transaction's id.

    Entry values are already what the database stores: ints (ids, amounts) and the
    currency code.
    """
    tx_sql = _insert_sql(conn, 0)
    params = [row[a] if prep is None else prep(row[a], conn) for a, prep in _tx_layout()[1]]
    cursor.execute(tx_sql, params)
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


# --- batches ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Posting:
    """One balanced transaction of a batch (see :func:`post_many`)."""

    kind: str
    lines: Sequence[Line]
    actor: audit.Actor = audit.SYSTEM
    memo: str = ""
    reference: str = ""


def post_many(postings: Sequence[Posting], ids: Sequence[int] | None = None) -> list[int]:
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
    with transaction.atomic(using=alias, savepoint=False), prepared.cursor(conn) as cursor:
        if conn.vendor == "postgresql":
            if ids is None:
                ids = _insert_many_pg(conn, cursor, rows_, cleaned, cur)
            else:
                ids = _insert_many_pg_with_ids(conn, cursor, rows_, cleaned, cur, ids)
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


def _insert_many_pg_with_ids(conn, cursor, rows_: list[dict], cleaned, cur: str,
                             ids: Sequence[int]) -> list[int]:
    """:func:`_insert_many_pg` with the ids given: nothing comes back to wait for."""
    if len(ids) < len(rows_):
        raise LedgerError("fewer transaction ids than postings")
    ids = [int(i) for i in ids[:len(rows_)]]
    sql = _many_sql.get("tx_ids")
    if sql is None:
        q, meta, fields, emeta, efields = _many_fields(conn)
        fields = [meta.pk, *fields]
        sql = _many_sql["tx_ids"] = (
            f"WITH t AS (INSERT INTO {q(meta.db_table)} "
            f"({', '.join(q(f.column) for f in fields)}) "
            f"SELECT * FROM {bulk.unnest(conn, fields)}) "
            f"INSERT INTO {q(emeta.db_table)} ({', '.join(q(f.column) for f in efields)}) "
            f"SELECT * FROM {bulk.unnest(conn, efields)}")
    columns = _tx_columns(conn, rows_)
    txs, accts, amounts = [], [], []
    for tx_id, clean in zip(ids, cleaned, strict=True):
        for acct, amount in clean:
            txs.append(tx_id)
            accts.append(acct)
            amounts.append(amount)
    cursor.execute(sql, [ids, *columns, txs, accts, amounts, [cur] * len(txs)])
    return ids


def next_id_sql() -> str:
    """An SQL expression drawing the next transaction id (PostgreSQL), for a caller that
    draws the ids of :func:`post_many` in a statement it sends anyway."""
    return bulk.next_id_sql(connections[router.db_for_write(Transaction)], Transaction)


# --- reading ----------------------------------------------------------------------------
# Σ of one account's entries, for callers that append it to a statement of their own
# (a redemption reads the new balance in the round trip that writes its last rows).
RAW_SUM_SQL = 'SELECT SUM("amount") FROM "ledger_entry" WHERE "account_id" = %s'


def raw_sum(acct: Account | str | int) -> int:
    """Σ of an account's entries (read after every redemption and top-up: plain SQL)."""
    conn = connections[router.db_for_read(Entry)]
    with conn.cursor() as cur:
        cur.execute(RAW_SUM_SQL, [_resolve(acct)])
        total = cur.fetchone()[0]
    return int(total or 0)


def sum_sql(account_column: str) -> str:
    """Σ of the entries of the account in ``account_column`` (a qualified, quoted column of
    an outer query) as a written-out scalar subquery, 0 without entries, so a balance can
    be read with the row that names the account (``account.normal_sign × the sum``). A
    read only: a balance that decides a debit is read after locking the account. The
    value may come back as a Decimal (PostgreSQL's SUM of bigint): pass it through int()."""
    q = connections[router.db_for_read(Entry)].ops.quote_name
    table = q(Entry._meta.db_table)
    return (f"(SELECT COALESCE(SUM({table}.{q('amount')}), 0) FROM {table} "
            f"WHERE {table}.{q('account_id')} = {account_column})")


def balance(acct: Account | str) -> int:
    """Balance in minor units, in the account's normal sign (customer credit positive)."""
    if isinstance(acct, str):
        acct = account(acct)
    return acct.normal_sign * raw_sum(acct)


def balances(accounts: Iterable[Account]) -> dict[int, int]:
    accounts = list(accounts)
    sums = dict(
        Entry.objects.filter(account__in=accounts)
        .values_list("account_id")
        .annotate(s=Sum("amount"))
        .values_list("account_id", "s")
    )
    return {a.pk: a.normal_sign * (sums.get(a.pk) or 0) for a in accounts}


def has_entries() -> bool:
    return Entry.objects.exists()


# --- shifts -----------------------------------------------------------------------------
def current_shift(user) -> Shift | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return Shift.objects.filter(opened_by=user, closed_at__isnull=True).first()


def require_shift(user) -> Shift:
    shift = current_shift(user)
    if shift is None:
        raise NoOpenShift(_("Open a shift before moving cash."))
    return shift


def shift_cash(shift: Shift) -> int:
    """Cash that should be in the drawer now (float included, before closing)."""
    return (
        Entry.objects.filter(transaction__shift=shift, account_id=account_id(CASH))
        .exclude(transaction__kind="shift.close")
        .aggregate(s=Sum("amount"))["s"]
        or 0
    )


def open_shift(actor: audit.Actor, opening_float: int = 0) -> Shift:
    user = actor.staff
    if user is None:
        raise LedgerError(_("Only a staff member can open a shift."))
    if isinstance(opening_float, bool) or not isinstance(opening_float, int):
        raise LedgerError("opening float must be an integer of minor units")
    if opening_float < 0:
        raise LedgerError(_("The opening float cannot be negative."))
    with transaction.atomic():
        if current_shift(user) is not None:
            raise LedgerError(_("You already have an open shift."))
        try:
            with transaction.atomic():
                shift = Shift.objects.create(
                    opened_by=user, opening_float=opening_float, currency=currency(),
                    opened_at=clock.now(),
                )
        except IntegrityError:
            raise LedgerError(_("You already have an open shift."))
        if opening_float:
            post("shift.open", [(CASH, opening_float), (SAFE, -opening_float)],
                 actor=actor, shift=shift, memo="opening float")
        audit.record(actor, "shift.open", shift,
                     after={"opening_float": opening_float, "currency": shift.currency},
                     summary=_("Shift opened"))
    return shift


def close_shift(actor: audit.Actor, shift: Shift, counted: int, note: str = "") -> Shift:
    """Close with the cash counted: records expected, counted and variance.

    The variance goes to cash over/short; then the counted cash leaves the drawer for
    the safe, so the drawer starts the next shift at its new float.
    """
    if isinstance(counted, bool) or not isinstance(counted, int):
        raise LedgerError("counted cash must be an integer of minor units")
    if counted < 0:
        raise LedgerError(_("Counted cash cannot be negative."))
    with transaction.atomic():
        locked = Shift.objects.select_for_update().get(pk=shift.pk)
        if locked.closed_at is not None:
            raise LedgerError(_("This shift is already closed."))
        expected = shift_cash(locked)
        variance = counted - expected
        if variance:
            post("shift.variance", [(CASH, variance), (OVER_SHORT, -variance)],
                 actor=actor, shift=locked, memo="drawer variance")
        if counted:
            post("shift.close", [(CASH, -counted), (SAFE, counted)],
                 actor=actor, shift=locked, memo="cash to safe")
        locked.closed_at = clock.now()
        locked.closed_by = actor.staff
        locked.expected = expected
        locked.counted = counted
        locked.variance = variance
        locked.note = note
        locked.save()
        audit.record(actor, "shift.close", locked,
                     before={"expected": expected},
                     after={"counted": counted, "variance": variance, "note": note},
                     summary=_("Shift closed"))
    return locked


# --- holds: credit set aside for a debit still to come -----------------------------------
# The locking rule: every debit of a customer's credit (and every hold) first locks the
# credit account's ledger_account row (``SELECT ... FOR UPDATE`` in account-id order; on
# SQLite the IMMEDIATE write transaction already excludes every other writer), then reads
# ``spendable`` and takes at most that. A hold placed under the lock is seen by every
# later debit, so the credit never goes below zero while a held debit is outstanding.


class InsufficientCredit(LedgerError):
    """A hold for more than the account's spendable credit."""


def lock_accounts(ids: Iterable[Account | str | int]) -> None:
    """Lock the accounts' rows until the end of the transaction, in id order (the lock
    every debit of customer credit takes)."""
    pks = sorted({_resolve(a) for a in ids})
    if not pks:
        return
    conn = connections[router.db_for_write(Account)]
    if conn.vendor == "postgresql":
        # Written out, one shape for any number of accounts: planned once per connection
        # (a CDR batch locks hundreds of accounts; the ORM's IN list is a new text each time).
        q = conn.ops.quote_name
        with prepared.cursor(conn) as cur:
            cur.execute(f"SELECT {q('id')} FROM {q(Account._meta.db_table)} "
                        f"WHERE {q('id')} = ANY(%s) ORDER BY {q('id')} FOR UPDATE", [pks])
            cur.fetchall()
        return
    list(Account.objects.select_for_update().filter(pk__in=pks).order_by("pk")
         .values_list("pk", flat=True))


def held_sql(account_column: str) -> str:
    """Σ of the open holds on the account in ``account_column`` (a qualified, quoted column
    of an outer query) as a scalar subquery, 0 without holds (as :func:`sum_sql`)."""
    q = connections[router.db_for_read(Hold)].ops.quote_name
    table = q(Hold._meta.db_table)
    return (f"(SELECT COALESCE(SUM({table}.{q('amount')}), 0) FROM {table} "
            f"WHERE {table}.{q('account_id')} = {account_column} "
            f"AND {table}.{q('released_at')} IS NULL)")


def spendable_sql(account_column: str, normal_sign: int = -1) -> str:
    """:func:`spendable` as a scalar SQL expression for set-based statements: balance
    (``normal_sign`` × Σ entries; −1 for customer credit, a liability) − open holds.
    A read only: a statement that debits with it locks the accounts first
    (:func:`lock_accounts`). Pass the value through int() (PostgreSQL: Decimal)."""
    if normal_sign not in (1, -1):
        raise ValueError("normal_sign is 1 or -1")
    return f"({normal_sign} * {sum_sql(account_column)} - {held_sql(account_column)})"


def held(acct: Account | str | int) -> int:
    """Credit set aside on the account by its open holds (minor units)."""
    total = Hold.objects.filter(account_id=_resolve(acct), released_at__isnull=True
                                ).aggregate(s=Sum("amount"))["s"]
    return int(total or 0)


def spendable(acct: Account | str | int) -> int:
    """What a debit of the account may take: its balance (normal sign, customer credit
    positive) minus its open holds. May be negative (older debits, or a hold's own
    debit). Decides a debit only when read after :func:`lock_accounts`."""
    pk = _resolve(acct)
    conn = connections[router.db_for_read(Entry)]
    q = conn.ops.quote_name
    table = q(Account._meta.db_table)
    col = f"{table}.{q('id')}"
    with conn.cursor() as cur:
        cur.execute(f"SELECT {q('kind')}, {sum_sql(col)}, {held_sql(col)} FROM {table} "
                    f"WHERE {col} = %s", [pk])
        found = cur.fetchone()
    if found is None:
        raise LedgerError(f"unknown ledger account {acct!r}")
    return spendable_of(*found)


def spendable_of(kind: str, total, holds) -> int:
    """The rule of :func:`spendable` on values read in bulk (:func:`sum_sql` and
    :func:`held_sql` of an account of ``kind``): balance in its normal sign − open holds."""
    return Account(kind=kind).normal_sign * int(total or 0) - int(holds or 0)


def place_hold(acct: Account | str | int, amount: int, reference: str) -> Hold:
    """Set ``amount`` of the account's spendable credit aside for ``reference`` (e.g.
    "call:42") until :func:`release_hold`/:func:`settle_hold`. Locks the account; raises
    :class:`InsufficientCredit` when the amount is more than :func:`spendable`. A second
    placement for the same reference returns the first hold."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise LedgerError("hold amounts are integers of minor units")
    if amount <= 0:
        raise LedgerError("a hold is for more than zero")
    reference = (reference or "").strip()
    if not reference or len(reference) > 64:
        raise LedgerError("a hold needs a reference of at most 64 characters")
    pk = _resolve(acct)
    with transaction.atomic():
        lock_accounts([pk])
        existing = Hold.objects.filter(reference=reference).first()
        if existing is not None:
            return existing
        free = spendable(pk)
        if amount > free:
            raise InsufficientCredit(_("Not enough credit: %(free)d available, %(amount)d "
                                       "to hold.") % {"free": max(free, 0), "amount": amount})
        return Hold.objects.create(account_id=pk, amount=amount, currency=currency(),
                                   reference=reference, created_at=clock.now())


def release_hold(hold: Hold | str) -> int:
    """Release a hold (by object or reference): its credit is spendable again. Exactly
    once: returns the amount released now, 0 when it was released before (or unknown)."""
    reference = hold.reference if isinstance(hold, Hold) else hold
    with transaction.atomic():
        found = (Hold.objects.select_for_update()
                 .filter(reference=reference, released_at__isnull=True)
                 .values_list("pk", "amount").first())
        if found is None:
            return 0
        done = Hold.objects.filter(pk=found[0], released_at__isnull=True).update(
            released_at=clock.now())
    return found[1] if done else 0


def within_credit(acct: Account | str | int, amount: int) -> int:
    """How much of ``amount`` a debit of the account may take now: at most its spendable
    credit, never less than 0 — so the balance (less holds) is never driven below zero.
    Read after :func:`lock_accounts`; the caller records the rest as unpaid."""
    return max(0, min(amount, spendable(acct)))


def within_credit_many(amounts: dict[int, int]) -> dict[int, int]:
    """:func:`within_credit` for many accounts (ids → amounts) in one query (a CDR batch's
    customers): ids → what each debit may take. Read after :func:`lock_accounts`."""
    if not amounts:
        return {}
    conn = connections[router.db_for_read(Entry)]
    q = conn.ops.quote_name
    table = q(Account._meta.db_table)
    col = f"{table}.{q('id')}"
    ids = sorted(amounts)
    free: dict[int, int] = {}
    head = f"SELECT {col}, {q('kind')}, {sum_sql(col)}, {held_sql(col)} FROM {table} WHERE "
    with prepared.cursor(conn) as cur:
        if conn.vendor == "postgresql":
            # One statement of one shape for any number of accounts (an array parameter):
            # PostgreSQL plans it once per connection (core.db.prepared).
            cur.execute(head + f"{col} = ANY(%s)", [ids])
            found = cur.fetchall()
        else:
            found = []
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                cur.execute(head + f"{col} IN ({', '.join(['%s'] * len(chunk))})", chunk)
                found += cur.fetchall()
    for pk, kind, total, holds in found:
        free[pk] = spendable_of(kind, total, holds)
    missing = set(ids) - set(free)
    if missing:
        raise LedgerError(f"unknown ledger accounts {sorted(missing)!r}")
    return {pk: max(0, min(amount, free[pk])) for pk, amount in amounts.items()}


def settle_hold_within_credit(hold: Hold | str, kind: str, debit: Account | str | int,
                              credit: Account | str | int, amount: int, **post_kwargs
                              ) -> tuple[Transaction | None, int]:
    """Release ``hold`` and debit ``amount`` from ``debit`` (customer credit) to ``credit``
    in one transaction, but at most :func:`within_credit` once the hold is released (its
    own hold is usable; a hold released before, e.g. a lost call's, is not). Returns the
    transaction (None when nothing was taken) and the amount taken."""
    with transaction.atomic():
        lock_accounts([debit])
        release_hold(hold)
        take = within_credit(debit, amount)
        if take <= 0:
            return None, 0
        return post(kind, [(debit, take), (credit, -take)], **post_kwargs), take


def settle_hold(hold: Hold | str, kind: str, lines: Sequence[Line], **post_kwargs
                ) -> Transaction | None:
    """The debit a hold was placed for: release it and post ``lines`` in one transaction
    (the debit may use its own hold). Lines that are all zero post nothing (None)."""
    with transaction.atomic():
        release_hold(hold)
        if not any(amount for _acct, amount in lines):
            return None
        return post(kind, lines, **post_kwargs)
