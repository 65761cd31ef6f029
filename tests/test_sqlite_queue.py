"""SQLite writers queue fairly (ficha.core.db.sqlite): never ``database is locked``.

SQLite's busy handler lets a waiting writer lose every race until its timeout; the backend
queues writers first come, first served across threads (a ticket lock) and processes (a
file lock). These tests storm one database file from several processes with many threads
each, on a machine kept busy by CPU burners, with a short busy timeout (1 s) that the stock
backend does not survive, and count the errors: none.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from ficha.core.db.sqlite import base as queued

ROOT = Path(__file__).resolve().parent.parent

WRITER = textwrap.dedent("""
    import json, sys, threading, time
    import django
    from django.conf import settings

    engine, path, n_threads, n_tx = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    settings.configure(DATABASES={"default": {
        "ENGINE": engine, "NAME": path,
        "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 1,
                    "init_command": "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=1000;"},
    }}, USE_TZ=True)
    django.setup()
    from django.db import connection, transaction

    errors, done = [], []
    start = threading.Barrier(n_threads)

    def work(i):
        try:
            start.wait()
            for n in range(n_tx):
                try:
                    with transaction.atomic():
                        with connection.cursor() as cur:
                            cur.execute("SELECT COALESCE(MAX(n), 0) FROM counter")
                            value = cur.fetchone()[0] + 1
                            time.sleep(0.001)  # hold the write lock a moment, as real work does
                            cur.execute("INSERT INTO counter (n, who) VALUES (%s, %s)",
                                        [value, f"{i}"])
                    # and one write outside a transaction (autocommit)
                    with connection.cursor() as cur:
                        cur.execute("UPDATE hits SET n = n + 1")
                    done.append(1)
                except Exception as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
    for t in threads: t.start()
    for t in threads: t.join()
    print(json.dumps({"done": len(done), "errors": errors}))
""")

BURNER = "import time\nend = time.time() + {seconds}\nwhile time.time() < end: pass\n"


def _make_db(path: Path) -> None:
    import sqlite3

    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE counter (n INTEGER PRIMARY KEY, who TEXT)")
    con.execute("CREATE TABLE hits (n INTEGER)")
    con.execute("INSERT INTO hits VALUES (0)")
    con.commit()
    con.close()


def storm(path: Path, engine: str, processes: int, threads: int, tx: int, burners: int):
    """Run writers in ``processes`` processes × ``threads`` threads while ``burners`` CPU
    burners keep the machine loaded (each stops by itself after 60 s at most)."""
    _make_db(path)
    burn = [subprocess.Popen([sys.executable, "-c", BURNER.format(seconds=60)])
            for _ in range(burners)]
    try:
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        env.pop("DJANGO_SETTINGS_MODULE", None)
        writers = [subprocess.Popen([sys.executable, "-c", WRITER, engine, str(path),
                                     str(threads), str(tx)],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                    text=True)
                   for _ in range(processes)]
        results = []
        for w in writers:
            out, err = w.communicate(timeout=600)
            assert w.returncode == 0, err[-3000:]
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for b in burn:
            b.kill()
            b.wait()
    return results


@pytest.mark.slow
def test_many_threads_in_several_processes_never_see_database_is_locked(tmp_path):
    processes, threads, tx = 3, 16, 8
    path = tmp_path / "storm.sqlite3"
    results = storm(path, "ficha.core.db.sqlite", processes, threads, tx, burners=8)
    errors = [e for r in results for e in r["errors"]]
    assert not errors, f"{len(errors)} failed writes, e.g. {errors[:3]}"
    import sqlite3

    con = sqlite3.connect(path)
    rows = con.execute("SELECT COUNT(*), MAX(n) FROM counter").fetchone()
    hits = con.execute("SELECT n FROM hits").fetchone()[0]
    con.close()
    assert rows == (processes * threads * tx, processes * threads * tx)  # no write lost
    assert hits == processes * threads * tx
    assert Path(str(path) + ".lock").exists()


def test_writers_get_their_turn_in_the_order_they_asked():
    lock = queued._TicketLock()
    assert lock.acquire(1)
    order, ready = [], []

    def wait_turn(i):
        ready.append(i)
        assert lock.acquire(10)
        order.append(i)
        lock.release()

    threads = []
    for i in range(8):
        t = threading.Thread(target=wait_turn, args=(i,))
        t.start()
        threads.append(t)
        while len(ready) <= i:  # each asks after the previous one is queued
            time.sleep(0.001)
        time.sleep(0.02)
    lock.release()
    for t in threads:
        t.join()
    assert order == list(range(8))


def test_a_writer_that_gives_up_does_not_block_the_ones_behind():
    lock = queued._TicketLock()
    assert lock.acquire(1)
    assert not lock.acquire(0.05)  # gives up its place
    got = []
    t = threading.Thread(target=lambda: got.append(lock.acquire(5)))
    t.start()
    time.sleep(0.05)
    lock.release()
    t.join()
    assert got == [True]


@pytest.mark.django_db(transaction=True)
def test_the_suite_and_the_product_use_the_queued_backend():
    from django.db import connections

    connection = connections["default"]

    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL queues its writers itself")
    assert isinstance(connection, queued.DatabaseWrapper)
    from django.db import transaction

    with transaction.atomic():
        assert connection._holds_write_queue
    assert not connection._holds_write_queue


OUTSIDER = textwrap.dedent("""
    import sqlite3, sys, threading, time
    import django
    from django.conf import settings

    engine, path = sys.argv[1], sys.argv[2]
    settings.configure(DATABASES={"default": {
        "ENGINE": engine, "NAME": path,
        "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 0.5,
                    "init_command": "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=500;"},
    }}, USE_TZ=True)
    django.setup()
    from django.db import connection, transaction

    # a program that does not queue (the sqlite3 shell) holds the write lock for 2 s
    outside = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    outside.execute("BEGIN IMMEDIATE")
    threading.Timer(2.0, lambda: outside.execute("COMMIT")).start()
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("INSERT INTO counter (n, who) VALUES (1, 'after the shell')")
    print("ok")
""")


def test_begin_is_retried_while_a_program_that_does_not_queue_writes(tmp_path):
    """BEGIN IMMEDIATE has done nothing yet: it is retried past the busy timeout (0.5 s)
    while the sqlite3 shell holds the database for 2 s."""
    path = tmp_path / "shell.sqlite3"
    _make_db(path)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    run = subprocess.run([sys.executable, "-c", OUTSIDER, "ficha.core.db.sqlite", str(path)],
                         capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-2000:]
