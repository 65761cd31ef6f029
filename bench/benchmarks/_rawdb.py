"""Baselines that bypass Django: rows written by the database driver itself."""

from __future__ import annotations

from django.db import connection


def executemany(sql: str, rows: list[tuple]) -> None:
    """One DB-API ``executemany`` of ``rows`` in one transaction (``BEGIN IMMEDIATE`` on
    SQLite, as Ficha's own writes). ``sql`` uses the driver's placeholders (``?`` on
    SQLite, ``%s`` on PostgreSQL)."""
    connection.ensure_connection()
    raw = connection.connection
    if connection.vendor == "sqlite":
        cur = raw.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            cur.executemany(sql, rows)
        except BaseException:
            raw.rollback()
            raise
        raw.commit()
    else:
        with raw.transaction(), raw.cursor() as cur:
            cur.executemany(sql, rows)
