"""Holds: credit set aside for a debit still to come (a live call), and the one rule for
the credit a debit of a customer's account may take (:func:`spendable`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connections, router, transaction
from django.db.models import Sum
from django.utils.translation import gettext as _

from ficha.core import clock
from ficha.core.db import prepared
from ficha.core.services import currency

from ..models import Account, Entry, Hold, Transaction
from . import _LOCK_SQL, LedgerError, Line, _resolve, post
from .reading import account_rows, sum_sql

# --- holds: credit set aside for a debit still to come -----------------------------------
# The locking rule: every posting to a customer's credit (``post`` and ``post_many`` lock
# it for credits too, so checkpoints are sound) and every hold first locks the
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
        with prepared.cursor(conn) as cur:
            cur.execute(_LOCK_SQL, [pks])
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
    return Account.sign_of(kind) * int(total or 0) - int(holds or 0)


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
    kind = connections[router.db_for_read(Entry)].ops.quote_name("kind")
    found = account_rows(amounts, lambda col: [kind, sum_sql(col), held_sql(col)])
    free = {pk: spendable_of(kind_, total, holds) for pk, kind_, total, holds in found}
    missing = set(amounts) - set(free)
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
