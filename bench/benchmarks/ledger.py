"""Ledger postings per second through ``ficha.ledger.services.post`` vs raw INSERTs.

Subject: ``ledger.post`` as the accounts services call it (a staff actor with an IP, a
memo and a reference), for three shapes of posting:

* ``2 lines``: a cash-free customer credit movement (what ``accounts.adjust`` posts);
* ``3 lines``: café time paid from a customer's credit with a discount;
* ``cash, 2 lines``: a cash deposit to a customer's credit within an open shift (``post``
  also locks the shift row and checks it is open).

Baseline: the same ``ledger_transaction`` row and ``ledger_entry`` rows written with the
DB-API cursor of the same database connection (same driver settings, same pragmas), one
database transaction per posting with the BEGIN/COMMIT pattern Django uses
(``BEGIN IMMEDIATE`` on SQLite; BEGIN … COMMIT on PostgreSQL), the entries in one
multi-row INSERT. The baseline computes the timestamp, as any writer must, and for the
cash posting reads the shift row first (``FOR UPDATE`` on PostgreSQL) and checks that it
is open.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from django.db import connection

from ficha.accounts import services as accounts
from ficha.core import audit, roles
from ficha.core.services import currency
from ficha.ledger import services as ledger

from ..runner import Context, Measurement, register

TARGET = 0.5
SHAPES = ("2 lines", "3 lines", "cash, 2 lines")

_TX_COLUMNS = (
    "kind", "created_at", "memo", "reference", "source", "source_ip",
    "reverses_id", "shift_id", "staff_id",
)


@dataclass(frozen=True)
class Posting:
    kind: str
    memo: str
    lines: list
    cash: bool = False


class LedgerFixture:
    """A staff member with an open shift, a customer, and the postings the benchmark times."""

    def __init__(self) -> None:
        roles.sync_roles()
        tag = secrets.token_hex(3)
        self.staff = accounts.create_staff(
            audit.SYSTEM, f"bench-{tag}", secrets.token_urlsafe(16), roles.MANAGER, "Bench"
        )
        self.customer = accounts.create_customer(audit.SYSTEM, f"bench-customer-{tag}")
        self.actor = audit.Actor(user=self.staff, ip="192.0.2.10", source="console")
        self.shift = ledger.open_shift(self.actor, 0)
        self.reference = f"customer:{self.customer.pk}"
        credit = self.customer.credit_account
        self.postings = {
            "2 lines": Posting("adjustment", "bench: goodwill credit",
                               [(ledger.ADJUSTMENTS, 500), (credit, -500)]),
            "3 lines": Posting("sale.cafe", "bench: café time, 10% off",
                               [(credit, 900), (ledger.ADJUSTMENTS, 100),
                                (ledger.REVENUE_CAFE, -1_000)]),
            "cash, 2 lines": Posting("deposit", "bench: cash deposit",
                                     [(ledger.CASH, 500), (credit, -500)], cash=True),
        }

    # -- subject ---------------------------------------------------------------------------
    def post_work(self, shape: str):
        p = self.postings[shape]
        kind, memo, lines = p.kind, p.memo, p.lines
        actor, reference, post = self.actor, self.reference, ledger.post
        shift = self.shift if p.cash else None

        def work(n: int) -> None:
            for _ in range(n):
                post(kind, lines, actor=actor, shift=shift, memo=memo, reference=reference)

        return work

    # -- baseline --------------------------------------------------------------------------
    def raw_work(self, shape: str):
        p = self.postings[shape]
        kind, memo, reference = p.kind, p.memo, self.reference
        source, ip, staff_id = self.actor.source, self.actor.ip, self.staff.pk
        shift_id = self.shift.pk if p.cash else None
        entries = [(acct.pk if hasattr(acct, "pk") else ledger.account_id(acct), amount)
                   for acct, amount in p.lines]
        cur_code = currency()
        connection.ensure_connection()
        raw = connection.connection  # the DB-API connection under Django's wrapper
        cursor = raw.cursor()
        columns = ", ".join(_TX_COLUMNS)

        def check_open(row) -> None:
            if row is None or row[0] is not None:
                raise RuntimeError("the benchmark's shift is not open")

        if connection.vendor == "sqlite":
            tx_sql = f"INSERT INTO ledger_transaction ({columns}) VALUES ({', '.join('?' * 9)})"
            entry_sql = (
                "INSERT INTO ledger_entry (transaction_id, account_id, amount, currency) VALUES "
                + ", ".join(["(?, ?, ?, ?)"] * len(entries))
            )
            shift_sql = "SELECT closed_at FROM ledger_shift WHERE id = ?"

            def work(n: int) -> None:
                execute = cursor.execute
                for _ in range(n):
                    # Django stores aware datetimes on SQLite as naive UTC text.
                    now = str(dt.datetime.now(dt.UTC).replace(tzinfo=None))
                    execute("BEGIN IMMEDIATE")
                    try:
                        if shift_id is not None:
                            check_open(execute(shift_sql, (shift_id,)).fetchone())
                        execute(tx_sql, (kind, now, memo, reference, source, ip,
                                         None, shift_id, staff_id))
                        tx_id = cursor.lastrowid
                        params = []
                        for account_id, amount in entries:
                            params += (tx_id, account_id, amount, cur_code)
                        execute(entry_sql, params)
                    except BaseException:
                        raw.rollback()
                        raise
                    raw.commit()

            return work

        if connection.vendor == "postgresql":
            tx_sql = (
                f"INSERT INTO ledger_transaction ({columns}) VALUES "
                f"({', '.join(['%s'] * 9)}) RETURNING id"
            )
            entry_sql = (
                "INSERT INTO ledger_entry (transaction_id, account_id, amount, currency) VALUES "
                + ", ".join(["(%s, %s, %s, %s)"] * len(entries))
            )
            shift_sql = "SELECT closed_at FROM ledger_shift WHERE id = %s FOR UPDATE"

            def work(n: int) -> None:
                execute = cursor.execute
                for _ in range(n):
                    now = dt.datetime.now(dt.UTC)
                    with raw.transaction():  # BEGIN ... COMMIT (the connection autocommits)
                        if shift_id is not None:
                            execute(shift_sql, (shift_id,))
                            check_open(cursor.fetchone())
                        execute(tx_sql, (kind, now, memo, reference, source, ip,
                                         None, shift_id, staff_id))
                        tx_id = cursor.fetchone()[0]
                        params = []
                        for account_id, amount in entries:
                            params += (tx_id, account_id, amount, cur_code)
                        execute(entry_sql, params)

            return work

        raise NotImplementedError(f"no raw baseline for {connection.vendor}")


@register("ledger.post", "ledger postings/s through ledger.services.post vs raw INSERTs")
def ledger_post(ctx: Context) -> list[Measurement]:
    """Ledger postings per second vs raw INSERTs of the same rows (target 0.5x)."""
    fixture = LedgerFixture()
    return [
        ctx.compare(
            f"ledger.post[{shape}]",
            fixture.post_work(shape),
            fixture.raw_work(shape),
            unit="postings/s",
            baseline_unit="raw postings/s",
            target=TARGET,
            subject_label=f"ledger.services.post, {shape}",
            baseline_label="DB-API INSERTs of the same rows, one DB transaction each",
        )
        for shape in SHAPES
    ]
