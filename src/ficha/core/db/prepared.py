"""Cursors whose statements PostgreSQL plans once per connection.

Django sends every statement with its values written into the text (client-side binding)
and turns psycopg's prepared statements off, so PostgreSQL parses and plans each one
every time. A plain psycopg program does neither by default: values travel apart from
the statement, and a statement used a few times on a connection is prepared. The written-
out statements on the paths that run on every request or redemption (``core.rows``, the
ledger's INSERTs, the redemption's own) are the same text each time: :func:`cursor` gives
them a cursor that binds on the server and lets psycopg prepare a statement from its
second use on the connection (psycopg keeps at most 100 per connection).

The cursor is wrapped as Django wraps its own (it shows in ``connection.queries`` and
``CaptureQueriesContext``) and takes part in the same transaction. Only statements whose
parameters PostgreSQL can type from where they stand belong here (``%s`` compared with or
stored into a column); ORM queries keep Django's cursor. On other databases, and when
``FICHA_DATABASE_PREPARE`` is off (for a connection pooler in transaction mode that
cannot keep prepared statements), :func:`cursor` is Django's ordinary cursor.
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper

from . import bulk

PREPARE_FROM_USE = 2  # a statement run once is not worth preparing


def enabled(conn=None) -> bool:
    db = conn if conn is not None else connections[DEFAULT_DB_ALIAS]
    return (db.vendor == "postgresql"
            and getattr(settings, "DATABASE_PREPARE", True)
            and db.settings_dict["OPTIONS"].get("server_side_binding") is not True)


_pg: tuple | None = None  # what the PostgreSQL cursor needs, imported on first use


def cursor(conn=None):
    """A cursor for written-out statements on ``conn`` (default: the default database's
    connection); use as ``with prepared.cursor() as cur:``."""
    # the connection itself, not the ``django.db.connection`` proxy: each attribute read
    # through the proxy is a thread-local look-up (~1 µs; a dozen per cursor)
    db = conn if conn is not None else connections[DEFAULT_DB_ALIAS]
    if not enabled(db):
        return db.cursor()
    global _pg
    if _pg is None:
        from django.db.backends.postgresql.base import ServerBindingCursor
        from django.db.backends.postgresql.psycopg_any import register_tzloader
        from psycopg.pq import Format

        _pg = (ServerBindingCursor, register_tzloader, Format.TEXT)
    server_binding_cursor, register_tzloader, text = _pg
    db.ensure_connection()
    raw_connection = db.connection
    if raw_connection.prepare_threshold is None:
        raw_connection.prepare_threshold = PREPARE_FROM_USE  # Django's cursors never prepare
    raw = server_binding_cursor(raw_connection)
    tzloader = raw_connection.adapters.get_loader(_TIMESTAMPTZ_OID, text)
    if db.timezone != tzloader.timezone:
        register_tzloader(db.timezone, raw)
    db.validate_thread_sharing()
    return _Logged(raw, db) if db.queries_logged else _Cursor(raw, db)


class _Cursor(CursorWrapper):
    """Django's cursor wrapper; lists of plain values travel as array literals
    (:func:`ficha.core.db.bulk.literal`): psycopg's array dumper costs ~1-3 µs of Python
    per element, a batch's arrays hundreds of elements."""

    def execute(self, sql, params=None):
        return super().execute(sql, bulk.array_params(params))


class _Logged(CursorDebugWrapper):
    """Logs a statement as Django's debug cursor does. Django reads the text back from a
    client-side binding cursor; here the values are written into it for the log only."""

    def execute(self, sql, params=None):
        try:
            shown = self.db.ops.compose_sql(sql, params)
        except Exception:  # noqa: BLE001 - the log falls back to the statement's text
            shown = sql
        with self.debug_sql(shown, params):
            return CursorWrapper.execute(self, sql, bulk.array_params(params))


_TIMESTAMPTZ_OID = 1184  # PostgreSQL's type id of timestamptz


def on_connection_created(sender, connection, **kwargs) -> None:
    """PostgreSQL sessions run without JIT compilation, and read timestamps with
    psycopg's compiled loader.

    JIT: Ficha's statements are short, but the planner's cost of a batch statement (a
    subquery per row, priced from statistics) can pass ``jit_above_cost``: PostgreSQL then
    compiled it for ~0.5 s at every execution (bench radius.servers: 130 logins/s instead
    of 7,000). Set per session: connection poolers pass SET where some refuse the
    ``options`` start-up parameter.

    Timestamps: see :func:`_tz_loader`."""
    if connection.vendor == "postgresql":
        with connection.connection.cursor() as cursor:
            cursor.execute("SET jit = off")
        loader = _tz_loader(connection.timezone)
        if loader is not None:
            connection.connection.adapters.register_loader(_TIMESTAMPTZ_OID, loader)


@functools.cache
def _tz_loader(timezone):
    """A timestamptz loader with Django's result (the value in ``timezone``; naive when
    it is None) that parses with psycopg's compiled loader: Django registers a subclass
    of psycopg's pure-Python one, 3.1 µs per value against 1.0 µs for this one (the
    compiled class, 0.4 µs, cannot be subclassed, so this one holds an instance of it and
    sets the time zone as Django's does). A RADIUS batch reads a
    few timestamps per session, a console page of sessions or postings hundreds. None
    without psycopg's compiled implementation (nothing to gain)."""
    from psycopg import adapt, adapters
    from psycopg.pq import Format

    compiled = adapters.get_loader(_TIMESTAMPTZ_OID, Format.TEXT)
    if compiled is None or compiled.__module__.startswith("psycopg."):
        return None

    class TzLoader(adapt.Loader):
        def __init__(self, oid, context=None):
            super().__init__(oid, context)
            self._load = compiled(oid, context).load

        def load(self, data):
            return self._load(data).replace(tzinfo=self.timezone)

    TzLoader.timezone = timezone  # Django's cursors compare it with the connection's
    return TzLoader
