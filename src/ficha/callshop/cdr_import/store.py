"""One prepared batch stored, inside the caller's transaction: lost API calls ended,
prepaid accounts debited through the ledger, calls written in bulk."""

from __future__ import annotations

import zoneinfo

from django.db import connection
from django.utils.translation import gettext as _

from ficha.core import audit
from ficha.ledger import services as ledger

from .. import calls as call_services
from ..cdr import Cdr
from ..models import Call
from .context import _Context
from .prepare import _Prepared
from .result import CdrImport

LEDGER_KIND = "callshop.cdr"


# The columns a CDR call is written with, in COPY / INSERT order.
_COLUMNS = ("booth_id", "session_id", "customer_id", "recharge_id", "source", "external_id",
            "caller", "dialled", "digits", "deck_id", "prefix", "destination", "price",
            "connect_fee", "min_block", "increment", "grace", "free_seconds", "min_cost",
            "tiers", "state", "reason", "disposition", "started_at", "answered_at",
            "ended_at", "max_seconds", "billsec", "billed_seconds", "currency", "cost",
            "unpaid", "reserved", "ledger_transaction_id")



def _write(ctx: _Context, prepared: _Prepared, out: CdrImport, *, last: bool = False) -> None:
    """Store one prepared batch (inside the caller's transaction): end the lost API calls,
    debit the prepaid accounts (one ledger transaction), store the calls in bulk.

    ``last``: the transaction ends right after (nothing else runs in it)."""
    for call_id, record in prepared.lost:
        _end_from_cdr(ctx, call_id, record, out)
    debits = prepared.debits
    if debits:
        # Lock the very accounts the batch debits (read with the customers in _prepare:
        # one statement, not a customer look-up and then the lock), as every debit does.
        ledger.lock_accounts(prepared.credit_accounts[pk] for pk in debits)
        # At most each account's spendable credit: the balance never goes below zero.
        free = ledger.within_credit_many(
            {prepared.credit_accounts[pk]: amount for pk, amount in debits.items()})
        taken = {pk: free[prepared.credit_accounts[pk]] for pk in debits}
        _spread_unpaid(prepared.charged_rows, taken, out)
        lines = [(prepared.credit_accounts[pk], amount)
                 for pk, amount in sorted(taken.items()) if amount]
        if lines:
            lines.append((ledger.REVENUE_CALLS, -sum(taken.values())))
            tx = ledger.post(LEDGER_KIND, lines, actor=audit.Actor(source="cdr"),
                             memo=_("Calls from the PBX's call records: %(n)d")
                             % {"n": len(prepared.charged_rows)})
            for row in prepared.charged_rows:
                if row[_COL_COST] > row[_COL_UNPAID]:
                    row[-1] = tx.pk
    _insert_calls(prepared.rows, ctx.zone, restore=not last)


# What each column is sent as in the COPY (text format: the dumper, not the column type).
_COPY_TYPES = ("int8", "int8", "int8", "int8", "text", "text", "text", "text", "text", "int8",
               "text", "text", "int8", "int8", "int8", "int8", "int8", "int8", "int8", "text",
               "text", "text", "text", "timestamptz", "timestamptz", "timestamptz", "int8",
               "int8", "int8", "text", "int8", "int8", "int8", "int8")
assert len(_COPY_TYPES) == len(_COLUMNS)

_COL_CUSTOMER = _COLUMNS.index("customer_id")
_COL_COST = _COLUMNS.index("cost")
_COL_UNPAID = _COLUMNS.index("unpaid")
_COL_REASON = _COLUMNS.index("reason")
_COL_CURRENCY = _COLUMNS.index("currency")


def _spread_unpaid(rows: list[list], taken: dict[int, int], out: CdrImport) -> None:
    """Each customer's debit (``taken``, at most their credit) pays their calls in file
    order; what is left unpaid is written on the calls it did not cover."""
    left = dict(taken)
    for row in rows:
        customer, cost = row[_COL_CUSTOMER], row[_COL_COST]
        paid = min(cost, left[customer])
        left[customer] -= paid
        if paid < cost:
            row[_COL_UNPAID] = cost - paid
            row[_COL_REASON] = call_services.unpaid_reason(cost - paid, row[_COL_CURRENCY])
            out.unpaid += cost - paid
            out.charged_amount -= cost - paid
            if not paid:
                out.charged -= 1


def _end_from_cdr(ctx: _Context, call_id: int, record: Cdr, out: CdrImport) -> None:
    """A call the PBX authorized through the API and never ended: its CDR ends it."""
    call = Call.objects.select_for_update().get(pk=call_id)
    if not call.live and call.state != Call.State.LOST:
        out.duplicates += 1
        return
    if call.customer_id is not None:
        call_services.lock_customers([call.customer_id])
    ending = call_services._end(
        call, record.billsec, record.disposition, answered_at=ctx.aware(record.answer),
        ended_at=ctx.aware(record.end), source_note=" (CDR)")
    out.ended += 1
    out.total_cost += ending.cost
    if ending.debited:
        out.charged += 1
        out.charged_amount += ending.cost - ending.unpaid
    out.unpaid += ending.unpaid


def _insert_calls(rows: list[list], zone: zoneinfo.ZoneInfo | None = None, *,
                  restore: bool = True) -> None:
    """Store call rows in bulk. Naive times in them are wall-clock times in ``zone``.

    On PostgreSQL the COPY reads them in the session's time zone, set to ``zone`` for the
    rest of the transaction; ``restore`` sets it back to the connection's (Django reads
    times as if in it) — not needed when the transaction ends right after."""
    if not rows:
        return
    q = connection.ops.quote_name
    table = q(Call._meta.db_table)
    columns = ", ".join(q(c) for c in _COLUMNS)
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            # PostgreSQL reads naive times in the session's zone: the venue's for the
            # COPY (no conversion per value here), then back to the connection's.
            if zone is not None:
                cur.execute("SET LOCAL TIME ZONE %s", [zone.key])
            with cur.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                # Each column's dumper chosen once, not per value (a third less time).
                copy.set_types(_COPY_TYPES)
                for row in rows:
                    copy.write_row(row)
            if zone is not None and restore:
                cur.execute("SET LOCAL TIME ZONE %s", [connection.timezone_name])
        else:
            from django.db.models import DateTimeField

            prep = DateTimeField().get_db_prep_save
            sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(_COLUMNS))})"
            for row in rows:
                for i in (23, 24, 25):
                    value = row[i]
                    if value is not None and value.tzinfo is None and zone is not None:
                        value = value.replace(tzinfo=zone)
                    row[i] = prep(value, connection)
            cur.executemany(sql, rows)
