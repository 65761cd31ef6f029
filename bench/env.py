"""A throw-away Django for one benchmark run — never the user's data directory.

:func:`django_env` empties every ``FICHA_*`` variable, points ``FICHA_DATA_DIR`` at a new
temporary directory, and for PostgreSQL creates a scratch database (dropped afterwards),
then sets Django up with Ficha's production settings (``ficha.settings``: SQLite file with
WAL, ``synchronous=NORMAL`` and IMMEDIATE transactions) and migrates.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/postgres"


class Unavailable(Exception):
    """The database for this run cannot be reached; the run is skipped."""


def _pg_admin(server_url: str):
    import psycopg

    try:
        return psycopg.connect(server_url, autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise Unavailable(f"PostgreSQL at {_safe(server_url)} is unreachable: {first}")


def _safe(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{host}{port}"


def _with_db(server_url: str, name: str) -> str:
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@contextlib.contextmanager
def django_env(db: str, pg_server: str = DEFAULT_PG, *, migrate: bool = True) -> Iterator[dict]:
    """Set up Django on a fresh database for ``db`` ("sqlite" or "postgres").

    Yields facts about the run (versions, database name). Everything it created is
    removed on the way out, also after an error or Ctrl-C.
    """
    data_dir = tempfile.mkdtemp(prefix="ficha-bench-")
    pg_name = None
    info: dict = {"db": db}
    try:
        for key in [k for k in os.environ if k.startswith("FICHA_")]:
            del os.environ[key]
        os.environ["FICHA_DATA_DIR"] = data_dir
        os.environ["FICHA_DEBUG"] = "0"  # DEBUG keeps every query in memory
        os.environ["FICHA_LOG_LEVEL"] = "WARNING"
        os.environ["DJANGO_SETTINGS_MODULE"] = "ficha.settings"
        if db == "postgres":
            name = f"ficha_bench_{os.getpid()}"
            with _pg_admin(pg_server) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {_quote(name)} WITH (FORCE)")
                admin.execute(f"CREATE DATABASE {_quote(name)}")
                pg_name = name
                info["server_version"] = admin.execute("SHOW server_version").fetchone()[0]
            os.environ["FICHA_DATABASE_URL"] = _with_db(pg_server, name)
            info["database"] = name
        elif db != "sqlite":
            raise ValueError(f"unknown database {db!r}")

        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        if migrate:
            call_command("migrate", verbosity=0, interactive=False)
        if migrate and connection.vendor == "sqlite":
            import sqlite3

            info["server_version"] = sqlite3.sqlite_version
            with connection.cursor() as cur:
                cur.execute("PRAGMA journal_mode")
                info["journal_mode"] = cur.fetchone()[0]
            info["database"] = connection.settings_dict["NAME"]
            info["transaction_mode"] = connection.settings_dict["OPTIONS"].get(
                "transaction_mode", "")
        info["vendor"] = connection.vendor
        info["django"] = django.get_version()
        yield info
    finally:
        if "django.db" in sys.modules:
            from django.db import connections

            connections.close_all()
        if pg_name is not None:
            try:
                with _pg_admin(pg_server) as admin:
                    admin.execute(f"DROP DATABASE IF EXISTS {_quote(pg_name)} WITH (FORCE)")
            except Unavailable:
                pass
        shutil.rmtree(data_dir, ignore_errors=True)
