"""Append-only protection for posted ledger rows, in code and in the database.

In code, the models and their querysets refuse update and delete. In the database a
trigger aborts every UPDATE and DELETE of ``ledger_transaction`` and ``ledger_entry``:
on PostgreSQL unless the session sets ``ficha.ledger_unlocked = 'on'``; on SQLite unless
the per-connection function ``ficha_ledger_unlocked()`` (registered only inside this
process, see :func:`on_connection_created`) answers 1. Nothing in Ficha unlocks; the
test suite does so only to empty tables between tests.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

_unlocked = False

TABLES = ("ledger_transaction", "ledger_entry")
MESSAGE = "ledger rows are append-only"


class LedgerImmutable(Exception):
    """A posted ledger row was about to change."""


def on_connection_created(sender, connection, **kwargs) -> None:
    if connection.vendor == "sqlite":
        connection.connection.create_function(
            "ficha_ledger_unlocked", 0, lambda: 1 if _unlocked else 0
        )


@contextlib.contextmanager
def unlocked() -> Iterator[None]:
    """Let the database accept UPDATE/DELETE on ledger tables (test teardown only)."""
    global _unlocked
    from django.db import connections

    previous, _unlocked = _unlocked, True
    try:
        for conn in connections.all():
            if conn.vendor == "postgresql" and conn.connection is not None:
                with conn.cursor() as cur:
                    cur.execute("SELECT set_config('ficha.ledger_unlocked', 'on', false)")
        yield
    finally:
        _unlocked = previous
        for conn in connections.all():
            if conn.vendor == "postgresql" and conn.connection is not None:
                with conn.cursor() as cur:
                    cur.execute("SELECT set_config('ficha.ledger_unlocked', 'off', false)")


def install_sql(vendor: str) -> list[str]:
    if vendor == "sqlite":
        out = []
        for table in TABLES:
            for op in ("UPDATE", "DELETE"):
                out.append(
                    f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} "
                    f"BEFORE {op} ON {table} WHEN ficha_ledger_unlocked() = 0 "
                    f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
                )
        return out
    if vendor == "postgresql":
        out = [
            "CREATE OR REPLACE FUNCTION ficha_ledger_guard() RETURNS trigger AS $$ "
            "BEGIN "
            "IF coalesce(current_setting('ficha.ledger_unlocked', true), '') = 'on' THEN "
            "  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF; RETURN NEW; "
            "END IF; "
            f"RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'restrict_violation'; "
            "END $$ LANGUAGE plpgsql"
        ]
        for table in TABLES:
            out.append(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            out.append(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION ficha_ledger_guard()"
            )
        return out
    return []


def uninstall_sql(vendor: str) -> list[str]:
    if vendor == "sqlite":
        return [
            f"DROP TRIGGER IF EXISTS {t}_no_{op}" for t in TABLES for op in ("update", "delete")
        ]
    if vendor == "postgresql":
        return [f"DROP TRIGGER IF EXISTS {t}_append_only ON {t}" for t in TABLES] + [
            "DROP FUNCTION IF EXISTS ficha_ledger_guard()"
        ]
    return []
