"""``core.db.pipeline.atomic``: one transaction whose statements travel together.

What callers rely on: everything of the block commits together or not at all (a Python
error, a statement that failed without its result being read), ``on_commit`` callbacks run
after the commit only, the connection works afterwards, and a block reading once then
writing costs two round trips (counted in libpq's protocol trace on PostgreSQL). On SQLite
and inside another transaction it is ``transaction.atomic()``.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.db import IntegrityError, connection, transaction

from ficha.core.db import pipeline

from .pg_trace import round_trips

on_postgres = pytest.mark.skipif(connection.vendor != "postgresql",
                                 reason="pipeline mode is PostgreSQL's")


P = "pipeline-test-"  # the roles' groups exist already


def _names() -> list[str]:
    return sorted(n.removeprefix(P) for n in Group.objects.filter(
        name__startswith=P).values_list("name", flat=True))


def _insert(cursor, name: str) -> None:
    cursor.execute('INSERT INTO "auth_group" ("name") VALUES (%s)', [P + name])


def test_the_block_commits_together_and_hooks_run_after(transactional_db):
    ran = []
    with pipeline.atomic():
        assert connection.in_atomic_block
        with connection.cursor() as cursor:
            _insert(cursor, "a")
            _insert(cursor, "b")
        transaction.on_commit(lambda: ran.append(_names()))
        assert ran == []  # not before the commit
    assert ran == [["a", "b"]]
    assert not connection.in_atomic_block
    assert _names() == ["a", "b"]


def test_a_python_error_keeps_nothing_and_drops_the_hooks(transactional_db):
    ran = []
    with pytest.raises(ZeroDivisionError), pipeline.atomic():
        with connection.cursor() as cursor:
            _insert(cursor, "a")
        transaction.on_commit(lambda: ran.append(1))
        1 / 0  # noqa: B018
    assert _names() == [] and ran == []
    Group.objects.create(name=P + "after")  # the connection works, in autocommit
    assert _names() == ["after"]


def test_a_failed_statement_whose_result_was_never_read_fails_the_block(transactional_db):
    Group.objects.create(name=P + "taken")
    ran = []
    with pytest.raises(IntegrityError), pipeline.atomic():  # Django's error, not psycopg's
        with connection.cursor() as cursor:
            _insert(cursor, "new")
            _insert(cursor, "taken")  # fails on the server; nothing reads its result
            _insert(cursor, "later")
        transaction.on_commit(lambda: ran.append(1))
    assert _names() == ["taken"] and ran == []
    with pipeline.atomic():  # the next block works
        with connection.cursor() as cursor:
            _insert(cursor, "next")
    assert _names() == ["next", "taken"]


def test_reads_inside_the_block_see_its_own_writes(transactional_db):
    with pipeline.atomic():
        with connection.cursor() as cursor:
            _insert(cursor, "mine")
            cursor.execute('SELECT "name" FROM "auth_group" WHERE "name" LIKE %s', [P + "%"])
            assert cursor.fetchall() == [(P + "mine",)]


def test_a_nested_atomic_without_savepoint_joins_the_transaction(transactional_db):
    with pytest.raises(RuntimeError), pipeline.atomic():
        with transaction.atomic(savepoint=False):
            Group.objects.create(name=P + "inner")
        raise RuntimeError("outer fails")
    assert _names() == []


@on_postgres  # elsewhere a plain atomic: the nested block's savepoint takes the error back
def test_a_nested_block_that_swallowed_its_error_fails_the_whole(transactional_db):
    with pytest.raises(transaction.TransactionManagementError), pipeline.atomic():
        Group.objects.create(name=P + "kept?")
        try:
            with transaction.atomic():
                raise ValueError("caught inside")
        except ValueError:
            pass
    assert _names() == []


def test_inside_another_transaction_it_is_a_plain_atomic(db):
    with transaction.atomic():
        with pipeline.atomic():
            Group.objects.create(name=P + "x")
        try:
            with pipeline.atomic():  # a savepoint, as transaction.atomic() nests
                Group.objects.create(name=P + "y")
                raise ValueError
        except ValueError:
            pass
    assert _names() == ["x"]


@on_postgres
def test_a_read_then_writes_cost_tworound_trips(transactional_db):
    connection.ensure_connection()

    def block():
        with pipeline.atomic():
            with connection.cursor() as cursor:
                cursor.execute('SELECT count(*) FROM "auth_group" WHERE "name" LIKE %s',
                               [P + "%"])
                assert cursor.fetchone() == (0,)
                for name in "abc":
                    _insert(cursor, name)

    def plain():
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute('SELECT count(*) FROM "auth_group" WHERE "name" = %s', ["z"])
                cursor.fetchone()
                for name in "xyz":
                    _insert(cursor, name)

    assert round_trips(block) == 2
    assert _names() == ["a", "b", "c"]
    # without the pipeline: BEGIN, the read, three INSERTs and COMMIT wait one by one
    assert round_trips(plain) == 6


@on_postgres
def test_switched_off_it_is_a_plain_transaction(transactional_db, settings):
    settings.DATABASE_PIPELINE = False

    def block():
        with pipeline.atomic():
            Group.objects.create(name=P + "a")
            Group.objects.create(name=P + "b")

    assert round_trips(block) == 4  # BEGIN, two INSERTs, COMMIT
    assert _names() == ["a", "b"]


@on_postgres
def test_generic_plans_hold_for_the_block_only(transactional_db):
    """``generic_plans``: the block's prepared statements run on the plan made once for
    the connection (planning a batch statement costs more than running it for a few
    items); the connection's other transactions plan as before."""
    def mode():
        with connection.cursor() as cursor:
            cursor.execute("SHOW plan_cache_mode")
            return cursor.fetchone()[0]

    before = mode()
    with pipeline.atomic(generic_plans=True):
        inside = mode()
    with pipeline.atomic():
        plain = mode()
    assert (before, inside, plain, mode()) == ("auto", "force_generic_plan", "auto", "auto")
