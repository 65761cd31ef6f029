"""Reading the ledger: Σ of an account's entries and balances (the ledger door's
reading part; the names are imported by ``ledger.services``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.db import connections, router

from ficha.core.db import prepared

from ..models import Account, Checkpoint, Entry
from . import _resolve, account


def sum_sql(account_column: str) -> str:
    """Σ of the entries of the account in ``account_column`` (a qualified, quoted column of
    an outer query) as a written-out scalar expression, 0 without entries, so a balance
    can be read with the row that names the account (``account.normal_sign × the sum``):
    the account's checkpoint (``Checkpoint``: Σ up to a transaction) plus Σ of its
    entries of later transactions, read through ``ledger_entry_balance``. A read only: a
    balance that decides a debit is read after locking the account. The value may come
    back as a Decimal (PostgreSQL's SUM of bigint): pass it through int()."""
    return _sum_sql(connections[router.db_for_read(Entry)].ops.quote_name, account_column)


def _sum_sql(q, account_column: str) -> str:
    entries, points = q(Entry._meta.db_table), q(Checkpoint._meta.db_table)
    point = f"FROM {points} WHERE {points}.{q('account_id')} = {account_column}"
    return (f"(COALESCE((SELECT {points}.{q('total')} {point}), 0) + "
            f"(SELECT COALESCE(SUM({entries}.{q('amount')}), 0) FROM {entries} "
            f"WHERE {entries}.{q('account_id')} = {account_column} AND "
            f"{entries}.{q('transaction_id')} > "
            f"COALESCE((SELECT {points}.{q('upto')} {point}), 0)))")


# Σ of one account's entries (its id the one parameter), for callers that append it to a
# statement of their own (a redemption reads the new balance in the round trip that
# writes its last rows). Both databases quote names with double quotes.
RAW_SUM_SQL = (f"SELECT {_sum_sql(lambda name: f'{chr(34)}{name}{chr(34)}', 'p.id')} "
               "FROM (SELECT CAST(%s AS BIGINT) AS id) AS p")


def raw_sum(acct: Account | str | int) -> int:
    """Σ of an account's entries (read after every redemption and top-up: plain SQL)."""
    conn = connections[router.db_for_read(Entry)]
    with conn.cursor() as cur:
        cur.execute(RAW_SUM_SQL, [_resolve(acct)])
        total = cur.fetchone()[0]
    return int(total or 0)


def balance(acct: Account | str) -> int:
    """Balance in minor units, in the account's normal sign (customer credit positive)."""
    if isinstance(acct, str):
        acct = account(acct)
    return acct.normal_sign * raw_sum(acct)


def balances(accounts: Iterable[Account]) -> dict[int, int]:
    accounts = list(accounts)
    sums = {pk: int(total or 0)
            for pk, total in account_rows([a.pk for a in accounts], lambda col: [sum_sql(col)])}
    return {a.pk: a.normal_sign * sums.get(a.pk, 0) for a in accounts}


def account_rows(ids: Iterable[int], columns: Callable[[str], list[str]]) -> list[tuple]:
    """(id, *columns) of the accounts ``ids``, ``columns(col)`` being SQL expressions on
    the account id column ``col`` (:func:`sum_sql`, ``held_sql``): one statement of one
    shape for any number of accounts on PostgreSQL (an array parameter, planned once per
    connection: ``core.db.prepared``), chunks of 500 on SQLite."""
    ids = sorted(set(ids))
    if not ids:
        return []
    conn = connections[router.db_for_read(Entry)]
    q = conn.ops.quote_name
    table = q(Account._meta.db_table)
    col = f"{table}.{q('id')}"
    head = f"SELECT {col}, {', '.join(columns(col))} FROM {table} WHERE "
    found: list[tuple] = []
    with prepared.cursor(conn) as cur:
        if conn.vendor == "postgresql":
            cur.execute(head + f"{col} = ANY(%s)", [ids])
            return list(cur.fetchall())
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            cur.execute(head + f"{col} IN ({', '.join(['%s'] * len(chunk))})", chunk)
            found += cur.fetchall()
    return found


def credited_since(acct: Account | str | int, since) -> bool:
    """Whether money came into the account (its balance went up) after ``since``."""
    acct = acct if isinstance(acct, Account) else Account.objects.get(pk=_resolve(acct))
    rising = {"amount__gt": 0} if acct.normal_sign > 0 else {"amount__lt": 0}
    return Entry.objects.filter(account=acct, transaction__created_at__gt=since,
                                **rising).exists()


def has_entries() -> bool:
    return Entry.objects.exists()
