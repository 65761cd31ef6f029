"""PostgreSQL timestamps are read with psycopg's compiled loader, with Django's result.

Django registers a subclass of psycopg's pure-Python timestamptz loader (3.9 µs a value,
against 0.4 µs compiled); ``core.db.prepared`` replaces it on each new connection with a
loader that parses with the compiled one and returns what Django's returns: the same
instant, in the connection's time zone object (``datetime.timezone.utc`` for Ficha).
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from hypothesis import given, settings
from hypothesis import strategies as st

from ficha.core.db import prepared
from ficha.hotspot.models import Nas

on_postgres = pytest.mark.skipif(connection.vendor != "postgresql",
                                 reason="psycopg's loaders are PostgreSQL's")
UTC = dt.UTC
OID = prepared._TIMESTAMPTZ_OID


def _django_loader():
    from django.db.backends.postgresql.psycopg_any import BaseTzLoader

    class Django(BaseTzLoader):
        timezone = connection.timezone

    return Django(OID, connection.connection)


def _ours():
    connection.ensure_connection()
    from psycopg.pq import Format

    loader = connection.connection.adapters.get_loader(OID, Format.TEXT)
    if loader is not prepared._tz_loader(connection.timezone):
        pytest.skip("psycopg without its compiled implementation keeps Django's loader")
    return loader(OID, connection.connection)


@on_postgres
def test_every_cursor_reads_timestamps_as_django_does(db):
    ours = _ours()  # in place on the connection (skips without psycopg's C part)
    stamp = dt.datetime(2026, 1, 1, 8, 0, 0, 123456, tzinfo=UTC)
    nas = Nas.objects.create(name="clock", address="10.9.9.9", secret="s" * 16)
    Nas.objects.filter(pk=nas.pk).update(created_at=stamp)
    assert Nas.objects.get(pk=nas.pk).created_at == stamp
    assert Nas.objects.get(pk=nas.pk).created_at.tzinfo is UTC
    with connection.cursor() as cur:  # Django's cursor keeps the connection's loader
        cur.execute("SELECT '2026-01-01 10:00:00.123456+02'::timestamptz")
        value = cur.fetchone()[0]
        # Django registers its own loader on a cursor only when the connection's has
        # another time zone: ours has the connection's
        assert cur.cursor.adapters.get_loader(OID, 0) is type(ours)
    assert value == stamp and value.tzinfo is UTC
    with prepared.cursor() as cur:
        cur.execute("SELECT %s::timestamptz, NULL::timestamptz", [stamp])
        assert cur.fetchone() == (stamp, None)


@on_postgres
def test_the_compiled_loader_gives_what_djangos_gives(db):
    """PostgreSQL's text for a timestamptz in any offset a session could be in, read by
    both loaders: the same value, the same time zone object."""
    ours, django = _ours(), _django_loader()

    @settings(max_examples=300, deadline=None)
    @given(st.datetimes(min_value=dt.datetime(1900, 1, 1),
                        max_value=dt.datetime(2200, 1, 1)),
           st.integers(min_value=-14 * 4, max_value=14 * 4))
    def same(when, quarter_hours):
        offset = dt.timedelta(minutes=15 * quarter_hours)
        aware = when.replace(tzinfo=dt.timezone(offset))
        hours, minutes = divmod(abs(int(offset.total_seconds())) // 60, 60)
        sign = "-" if offset < dt.timedelta(0) else "+"
        text = (when.isoformat(sep=" ") + f"{sign}{hours:02d}"
                + (f":{minutes:02d}" if minutes else ""))
        got, expected = ours.load(text.encode()), django.load(text.encode())
        assert got == expected == aware
        assert got.tzinfo is expected.tzinfo

    same()
