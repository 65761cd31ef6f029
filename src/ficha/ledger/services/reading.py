"""Reading the ledger: Σ of an account's entries and balances (the ledger door's
reading part; the names are imported by ``ledger.services``)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connections, router
from django.db.models import Sum

from ..models import Account, Entry
from . import _resolve, account

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


def credited_since(acct: Account | str | int, since) -> bool:
    """Whether money came into the account (its balance went up) after ``since``."""
    acct = acct if isinstance(acct, Account) else Account.objects.get(pk=_resolve(acct))
    rising = {"amount__gt": 0} if acct.normal_sign > 0 else {"amount__lt": 0}
    return Entry.objects.filter(account=acct, transaction__created_at__gt=since,
                                **rising).exists()


def has_entries() -> bool:
    return Entry.objects.exists()
