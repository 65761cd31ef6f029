"""Balance checkpoints (``ledger.Checkpoint``): moving them, under the locking rule.

A customer account's checkpoint is Σ of its entries up to a transaction; balances read
checkpoint + the later entries (``reading.sum_sql``). Only this module writes them: the
hotspot's accounting batch through :func:`due` and :func:`upsert_sql` (in
``post_many``'s own statement), the worker through :func:`checkpoint_long_histories`,
anyone through :func:`checkpoint`. Its names are the ledger door's."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.db import connections, router, transaction

from ficha.core import clock
from ficha.core.db import bulk

from ..models import Account, Checkpoint, Entry
from . import SYSTEM_ACCOUNTS, LedgerError, _lock_parties, _resolve

# A customer account's checkpoint moves when a batch posts to it with a transaction id
# that is a multiple of this: about every CHECKPOINT_EVERY-th debit, so a balance sums
# that many entries on average (each a heap visit while VACUUM has not yet marked their
# pages all-visible) at the cost of a one-row upsert as often.
CHECKPOINT_EVERY = 8
# Entries after its checkpoint from which the worker moves a customer account's
# checkpoint (``checkpoint_long_histories``); every reading of the balance sums at most
# about this many, whatever the account's age.
LONG_HISTORY = 64
# Entries the worker looks back at when it starts (it remembers where it got to after).
_FIRST_LOOK = 100_000
_swept: dict[str, int] = {}  # database alias → the last entry id looked at


def clear() -> None:
    _swept.clear()


def _system_codes(pks: Iterable[int]) -> dict[int, str]:
    """{id: code} of the system accounts among ``pks`` (never checkpointed)."""
    return dict(Account.objects.filter(pk__in=list(pks), code__in=SYSTEM_ACCOUNTS)
                .values_list("pk", "code"))


def _after_checkpoint(q) -> tuple[str, str]:
    """(FROM, condition) of an account's entries after its checkpoint, as ``e`` joined to
    its checkpoint ``c``."""
    entries, points = q(Entry._meta.db_table), q(Checkpoint._meta.db_table)
    return (f"{entries} AS e LEFT OUTER JOIN {points} AS c "
            f"ON c.{q('account_id')} = e.{q('account_id')}",
            f"e.{q('transaction_id')} > COALESCE(c.{q('upto')}, 0)")


def checkpoint(accounts: Iterable[Account | str | int]) -> dict[int, tuple[int, int]]:
    """Move the checkpoints of customer ``accounts`` to their last entries, under their
    locks (see ``Checkpoint``); a balance then sums only the entries posted after it.
    Returns {account id: (upto, total)} of the checkpoints it moved. Balances do not
    change: they are the same Σ, read in two parts."""
    pks = sorted({_resolve(a) for a in accounts})
    if not pks:
        return {}
    system = _system_codes(pks)
    if system:
        raise LedgerError(f"system accounts are not checkpointed: "
                          f"{', '.join(sorted(system.values()))}")
    alias = router.db_for_write(Checkpoint)
    conn = connections[alias]
    q = conn.ops.quote_name
    source, later = _after_checkpoint(q)
    moved: dict[int, tuple[int, int]] = {}
    with transaction.atomic(using=alias), conn.cursor() as cursor:
        _lock_parties(conn, cursor, set(pks))
        cursor.execute(
            f"SELECT e.{q('account_id')}, MAX(e.{q('transaction_id')}), SUM(e.{q('amount')}), "
            f"COALESCE(MAX(c.{q('total')}), 0) FROM {source} "
            f"WHERE e.{q('account_id')} IN ({', '.join(['%s'] * len(pks))}) AND {later} "
            f"GROUP BY e.{q('account_id')}", pks)
        now = clock.now()
        for pk, upto, entries, before in cursor.fetchall():
            total = int(before) + int(entries)
            Checkpoint.objects.using(alias).update_or_create(
                account_id=pk, defaults={"upto": upto, "total": total, "taken_at": now})
            moved[pk] = (int(upto), total)
    return moved


def checkpoint_long_histories(limit: int = 500) -> int:
    """The worker's job: move the checkpoints of up to ``limit`` customer accounts that
    took LONG_HISTORY entries or more since theirs (café minutes, calls, top-ups; the
    hotspot's batches move their own). Only accounts with entries since the last round
    are looked at. Returns how many checkpoints moved."""
    alias = router.db_for_write(Checkpoint)
    conn = connections[alias]
    q = conn.ops.quote_name
    entries = q(Entry._meta.db_table)
    source, later = _after_checkpoint(q)
    with conn.cursor() as cursor:
        cursor.execute(f"SELECT MAX({q('id')}) FROM {entries}")
        newest = cursor.fetchone()[0] or 0
        since = _swept.get(alias)
        if since is None:
            since = max(0, newest - _FIRST_LOOK)
        if newest <= since:
            return 0
        cursor.execute(
            f"SELECT e.{q('account_id')} FROM {source} "
            f"WHERE e.{q('account_id')} IN (SELECT DISTINCT {q('account_id')} FROM {entries} "
            f"WHERE {q('id')} > %s AND {q('id')} <= %s) AND {later} "
            f"GROUP BY e.{q('account_id')} HAVING COUNT(*) >= %s", [since, newest, LONG_HISTORY])
        busy = {row[0] for row in cursor.fetchall()}
    busy -= _system_codes(busy).keys()
    moved = 0
    chosen = sorted(busy)[:limit]
    for start in range(0, len(chosen), 50):  # short transactions: locks held briefly
        moved += len(checkpoint(chosen[start:start + 50]))
    if len(busy) <= limit:  # the rest is looked at again next round
        _swept[alias] = newest
    return moved


def due(ids: list[int], cleaned, locked: Mapping[int, int | None]
        ) -> list[tuple[int, int, int]]:
    """(account, upto, total) of the checkpoints a batch of ``post_many`` moves: accounts
    whose Σ the caller read under the lock, whose last posting in the batch has an id
    that is a multiple of CHECKPOINT_EVERY; total = that Σ + the batch's lines."""
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


def upsert_sql(conn) -> str:
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
