"""PostgreSQL plans the redemption's written-out statements once per connection.

``ficha.core.db.prepared`` gives those statements a server-binding cursor with psycopg's
prepared statements (Django turns them off for its own cursors). The statements and the
rows they write are the same; what changes is visible in ``pg_prepared_statements``.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ficha.core.db import prepared
from ficha.recharges import services as rs
from ficha.recharges.models import Recharge

from .conftest import actor_for
from .recharges_support import assert_books_balanced, fresh_source

on_postgres = pytest.mark.skipif(connection.vendor != "postgresql",
                                 reason="prepared statements are PostgreSQL's")


def _prepared_statements() -> list[str]:
    with connection.cursor() as cur:
        cur.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cur.fetchall()]


@pytest.fixture
def sold(office, desk):
    batch = rs.generate(office, count=6, amount=500, label="PS")
    rs.sell_batch(desk, batch)
    return [r.code for r in batch.recharges.order_by("id")]


@on_postgres
def test_redemptions_are_prepared_once_per_connection(db, sold, make_customer, manager):
    amina = make_customer("amina")
    for code in sold[:4]:
        done = rs.redeem(code, customer=amina, source=fresh_source(),
                         actor=actor_for(manager))
    assert done.balance == 2000
    statements = _prepared_statements()
    assert any("recharges_recharge" in s and "UPDATE" in s for s in statements)  # take
    assert any("ledger_transaction" in s for s in statements)
    assert any("core_throttle" in s for s in statements)  # the claim
    assert Recharge.objects.filter(status="used").count() == 4
    assert_books_balanced()


@on_postgres
def test_the_statements_still_show_in_the_query_log(db, sold, make_customer, manager):
    amina = make_customer("amina")
    rs.redeem(sold[0], customer=amina, source=fresh_source())
    with CaptureQueriesContext(connection) as got:
        rs.redeem(sold[1], customer=amina, source=fresh_source(), actor=actor_for(manager))
    sqls = [q["sql"] for q in got.captured_queries]
    take = next(s for s in sqls if s.startswith('UPDATE "recharges_recharge"'))
    assert sold[1] in take  # the values are written into the logged text, as Django does


@on_postgres
def test_off_by_setting(db, settings, sold, make_customer):
    settings.DATABASE_PREPARE = False
    amina = make_customer("amina")
    before = len(_prepared_statements())
    for code in sold[:4]:
        rs.redeem(code, customer=amina, source=fresh_source())
    assert len(_prepared_statements()) == before
    assert not prepared.enabled()


def test_sqlite_uses_djangos_cursor(db):
    if connection.vendor == "postgresql":
        assert prepared.enabled()
    else:
        assert not prepared.enabled()
        with prepared.cursor() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)


# --- lists travel as array literals (core.db.bulk.literal) -------------------------------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                 max_size=12)


@on_postgres
@settings(max_examples=60, deadline=None)
@given(texts=st.lists(st.one_of(st.none(), _texts), max_size=8),
       ints=st.lists(st.one_of(st.none(), st.integers(-2**63, 2**63 - 1)), max_size=8))
def test_lists_reach_postgresql_exactly_as_given(django_db_blocker, texts, ints):
    """Any text (quotes, backslashes, braces, commas, "NULL", blanks, unicode) and any
    bigint, with NULLs, arrive unchanged: through a cast and through ``= ANY``."""
    import datetime as dt

    when = [dt.datetime(2026, 12, 2, 18, 30, 5, 123456, tzinfo=dt.UTC), None]
    with django_db_blocker.unblock(), prepared.cursor() as cur:
        cur.execute("SELECT %s::text[], %s::bigint[], %s::timestamptz[]", [texts, ints, when])
        assert cur.fetchone() == (texts, ints, when)
        cur.execute("SELECT 7 = ANY(%s)", [[1, 7]])
        assert cur.fetchone() == (True,)


def test_only_plain_values_become_literals():
    from ficha.core.db import bulk

    assert bulk.literal([1, None, True, 'a"b\\c', "{x,y}"]) == '{1,NULL,t,"a\\"b\\\\c","{x,y}"}'
    assert bulk.literal([b"raw"]) is None  # the driver dumps it
    assert bulk.array_params([[b"raw"], [2], "x"]) == [[b"raw"], "{2}", "x"]


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.one_of(st.none(), _texts, st.integers(), st.booleans()), max_size=8))
def test_the_fast_paths_write_what_the_long_way_writes(values):
    from ficha.core.db import bulk

    long_way = "{" + ",".join(
        "NULL" if v is None else "t" if v is True else "f" if v is False
        else str(v) if isinstance(v, int) else bulk._quoted(v) for v in values) + "}"
    assert bulk.literal(values) == long_way


@on_postgres
def test_postgresql_sessions_never_jit_compile(db):
    """A batch statement's planner cost can pass jit_above_cost; compiling it took ~0.5 s
    per execution (logins/s fell 50-fold in bench radius.servers)."""
    with connection.cursor() as cur:
        cur.execute("SHOW jit")
        assert cur.fetchone()[0] == "off"
    fresh = connection.copy()  # a new session gets it too
    try:
        with fresh.cursor() as cur:
            cur.execute("SHOW jit")
            assert cur.fetchone()[0] == "off"
    finally:
        fresh.close()
