"""The accounting batch's statements (``accounting``), written out once per database vendor.

Building ORM queries costs more CPU than the database needs to answer them. On
PostgreSQL each statement takes its values as arrays (``core.db.bulk``), so one text
serves every batch size and is prepared once per connection; SQLite gets a row-values
list (one writer, in process)."""

from __future__ import annotations

from django.db import connection

from ficha.accounts.models import Customer
from ficha.core import rows
from ficha.core.db import bulk
from ficha.ledger import services as ledger
from ficha.ledger.models import Account

from ..models import AccountingRecord, HotspotSession, Plan

_SQL: dict[tuple[str, str, int], str] = {}


def sql(name: str, n: int = 0) -> str:
    """The statement ``name`` for the connection's database (``n`` rows on SQLite)."""
    pg = connection.vendor == "postgresql"
    key = (connection.vendor, name, 0 if pg else n)
    text = _SQL.get(key)
    if text is None:
        text = _SQL[key] = _build_sql(name, n, pg)
    return text


def _rows_in(pg: bool, columns: str, fields: list, n: int) -> str:
    """``(columns) IN (<the batch's rows>)``."""
    if pg:
        return f"({columns}) IN (SELECT * FROM {bulk.unnest(connection, fields)})"
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    return f"({columns}) IN (VALUES {', '.join([row] * n)})"


def _build_sql(name: str, n: int, pg: bool) -> str:
    q = connection.ops.quote_name
    s, r, c, p = (q(m._meta.db_table)
                  for m in (HotspotSession, AccountingRecord, Customer, Plan))
    sf, rf = HotspotSession._meta.get_field, AccountingRecord._meta.get_field
    a = q(Account._meta.db_table)
    next_record = bulk.next_id_sql(connection, AccountingRecord) if pg else ""
    if name == "sessions":
        joins = (f"LEFT OUTER JOIN {c} ON {c}.{q('id')} = {s}.{q('customer_id')} "
                 f"LEFT OUTER JOIN {a} ON {a}.{q('id')} = {c}.{q('credit_account_id')} "
                 f"LEFT OUTER JOIN {p} ON {p}.{q('id')} = {s}.{q('plan_id')}")
        columns = (f"{rows.columns(HotspotSession)}, {c}.{q('username')}, "
                   f"{c}.{q('credit_account_id')}, {a}.{q('kind')}, "
                   # the prices the session kept when it began (else its plan's)
                   + ", ".join(f"COALESCE({s}.{q(price)}, {p}.{q(price)})"
                               for price in HotspotSession.PRICES))
        if not pg:  # SQLite: the write transaction excludes every other writer
            where = _rows_in(pg, f"{s}.{q('nas_id')}, {s}.{q('session_key')}",
                             [sf("nas"), sf("session_key")], n)
            return f"SELECT {columns} FROM {s} {joins} WHERE {where}"
        # Each item's session is found LATERAL ... LIMIT 1 through the unique index (as in
        # "batch": a plan PostgreSQL keeps for the connection never scans the table). The
        # owners' credit accounts are locked first (the lock every balance change takes,
        # in id order; a one-time filter runs it before the sessions are read), then the
        # sessions in id order: every batch takes its locks in the same order.
        k = bulk.unnest(connection, [sf("nas"), sf("session_key")], ["nas", "skey"], "k")
        found = (f"{k} CROSS JOIN LATERAL (SELECT {s}.{q('id')}, {s}.{q('customer_id')} "
                 f"FROM {s} WHERE {s}.{q('nas_id')} = k.nas AND "
                 f"{s}.{q('session_key')} = k.skey LIMIT 1) AS f")
        return (
            f"WITH owners AS (SELECT {a}.{q('id')} FROM {a} WHERE {a}.{q('id')} IN ("
            f"SELECT {c}.{q('credit_account_id')} FROM {found} "
            f"JOIN {c} ON {c}.{q('id')} = f.{q('customer_id')}) "
            f"ORDER BY {a}.{q('id')} FOR UPDATE OF {a}) "
            f"SELECT {columns} FROM {found} JOIN {s} ON {s}.{q('id')} = f.{q('id')} "
            f"{joins} WHERE (SELECT count(*) FROM owners) >= 0 "
            f"ORDER BY {s}.{q('id')} FOR UPDATE OF {s}")
    if name == "batch":  # PostgreSQL only, after "sessions" in the same pipeline
        v = bulk.unnest(connection, [sf("nas"), sf("session_key"), rf("kind"),
                                     rf("session_time"), rf("input_octets"),
                                     rf("output_octets")],
                        ["nas", "skey", "kind", "st", "inp", "outp"])
        k = bulk.unnest(connection, [sf("nas"), sf("session_key")], ["nas", "skey"], "k")
        col = f"{a}.{q('id')}"
        # Each item's look-ups are LATERAL ... LIMIT 1 (keys are unique: the limit changes
        # nothing but the plan): PostgreSQL then reads the unique indexes once per item,
        # whatever the statistics said when the connection prepared the statement (a
        # generic plan made while the tables were small scanned them whole, for as long
        # as the connection lived: bench radius.servers, round 1, 25 ms per statement).
        session_of = (f"(SELECT {s}.{q('id')} FROM {s} WHERE {s}.{q('nas_id')} = v.nas "
                      f"AND {s}.{q('session_key')} = v.skey LIMIT 1)")
        return (
            f"SELECT 0, x.* FROM {v} CROSS JOIN LATERAL (SELECT {r}.{q('session_id')}, "
            f"{r}.{q('kind')}, {r}.{q('session_time')}, {r}.{q('input_octets')}, "
            f"{r}.{q('output_octets')} FROM {r} WHERE {r}.{q('session_id')} = {session_of} "
            f"AND {r}.{q('kind')} = v.kind AND {r}.{q('session_time')} = v.st "
            f"AND {r}.{q('input_octets')} = v.inp AND {r}.{q('output_octets')} = v.outp "
            f"LIMIT 1) AS x "
            # the owners' balances and open holds (locked by "sessions")
            f"UNION ALL SELECT 1, {col}, NULL, {ledger.sum_sql(col)}::bigint, "
            f"{ledger.held_sql(col)}::bigint, NULL FROM {a} WHERE {col} IN ("
            f"SELECT o.id FROM {k} CROSS JOIN LATERAL (SELECT {c}.{q('credit_account_id')} "
            f"AS id FROM {s} JOIN {c} ON {c}.{q('id')} = {s}.{q('customer_id')} "
            f"WHERE {s}.{q('nas_id')} = k.nas AND {s}.{q('session_key')} = k.skey "
            f"LIMIT 1) AS o) "
            # ids for the writes
            f"UNION ALL SELECT 2, {ledger.next_id_sql()}, NULL, {next_record}, "
            f"NULL, NULL FROM generate_series(1, %s)")
    if name == "ids":  # PostgreSQL only
        return (f"SELECT {ledger.next_id_sql()}, {next_record} "
                f"FROM generate_series(1, %s)")
    if name == "seen":
        names = ["session", "kind", "session_time", "input_octets", "output_octets"]
        fields = [rf(f) for f in names]
        columns = ", ".join(q(f.column) for f in fields)
        return f"SELECT {columns} FROM {r} WHERE " + _rows_in(pg, columns, fields, n)
    if name == "seen_sums":  # PostgreSQL only: after the locks, a snapshot of its own
        fields = [rf(f) for f in
                  ("session", "kind", "session_time", "input_octets", "output_octets")]
        columns = ", ".join(q(f.column) for f in fields)
        # what a debit may take: balance and open holds (ledger.spendable_of decides)
        col = f"{a}.{q('id')}"
        return (f"SELECT 0, {columns} FROM {r} WHERE " + _rows_in(pg, columns, fields, n)
                + f" UNION ALL SELECT 1, {col}, NULL, {ledger.sum_sql(col)}::bigint, "
                f"{ledger.held_sql(col)}::bigint, NULL FROM {a} "
                f"WHERE {col} = ANY(%s::bigint[])")
    if name == "credit":
        if pg:
            return (f"SELECT {q('id')}, {q('kind')} FROM {a} WHERE {q('id')} = "
                    f"ANY(%s::bigint[]) ORDER BY {q('id')} FOR UPDATE")
        return (f"SELECT {q('id')}, {q('kind')} FROM {a} "
                f"WHERE {q('id')} IN ({', '.join(['%s'] * n)})")
    if name == "sums":  # balance and open holds (ledger.spendable_of decides)
        col = f"{a}.{q('id')}"
        where = ("= ANY(%s::bigint[])" if pg else f"IN ({', '.join(['%s'] * n)})")
        return (f"SELECT {col}, {ledger.sum_sql(col)}, {ledger.held_sql(col)} FROM {a} "
                f"WHERE {col} {where}")
    if name == "writes":  # PostgreSQL only: the sessions' UPDATE, then the records
        fields = [sf(f) for f in ("id", *WRITTEN)]
        names = [q(f.column) for f in fields]
        sets = ", ".join(f"{col} = v.{col}" for col in names[1:])
        rfields = list(AccountingRecord._meta.concrete_fields)  # the id drawn in advance
        return (f"WITH u AS (UPDATE {s} SET {sets} FROM "
                f"{bulk.unnest(connection, fields, names)} WHERE {s}.{q('id')} = v.{q('id')}) "
                f"INSERT INTO {r} ({', '.join(q(f.column) for f in rfields)}) "
                f"SELECT * FROM {bulk.unnest(connection, rfields)}")
    raise KeyError(name)


# what an accounting record may change on its session
WRITTEN = ("session_time", "input_octets", "output_octets", "updated_at", "status",
            "stopped_at", "terminate_cause", "framed_ip", "charged", "debited")


