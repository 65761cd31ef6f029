"""The benchmark code works (bench/ measures speed by hand; nothing here is timed).

The ledger benchmark runs on the test database with a few operations per repetition;
the raw baseline opens its own database transactions, so these tests use a transactional
database rather than the usual wrapping transaction.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Sum

from bench.__main__ import format_table
from bench.benchmarks.ledger import SHAPES, LedgerFixture, ledger_post
from bench.runner import Context, Measurement, discover
from ficha.ledger.models import Entry, Transaction

ROOT = Path(__file__).resolve().parent.parent


def _tiny_context() -> Context:
    return Context(db=connection.vendor, vendor=connection.vendor, fixed_ops=3, repeats=2,
                   verbose=False)


def test_the_ledger_benchmark_is_registered():
    assert "ledger.post" in discover()


@pytest.mark.django_db(transaction=True)
def test_ledger_benchmark_posts_and_reports_a_ratio_per_posting_shape():
    measurements = ledger_post(_tiny_context())

    assert [m.name for m in measurements] == [
        "ledger.post[2 lines]", "ledger.post[3 lines]", "ledger.post[cash, 2 lines]"]
    for m in measurements:
        assert m.value > 0 and m.baseline > 0
        assert m.target == 0.5
        assert m.passed == (m.ratio >= 0.5)
        assert len(m.details["ratios"]) == 2
    # Each side of each measurement: 1 warm-up call + 2 repetitions x 3 postings.
    assert Transaction.objects.count() == 3 * 2 * 7
    # Everything written, by the service or raw, is balanced double entry.
    sums = Entry.objects.values("transaction_id").annotate(s=Sum("amount"))
    assert {row["s"] for row in sums} == {0}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("shape", SHAPES)
def test_the_raw_baseline_writes_the_rows_post_writes(shape):
    fixture = LedgerFixture()

    fixture.post_work(shape)(1)
    by_post = Transaction.objects.order_by("-id").first()
    fixture.raw_work(shape)(1)
    by_raw = Transaction.objects.order_by("-id").first()

    assert by_raw.pk != by_post.pk
    columns = ["kind", "memo", "reference", "staff_id", "shift_id", "source", "source_ip",
               "reverses_id"]
    assert [getattr(by_raw, c) for c in columns] == [getattr(by_post, c) for c in columns]
    assert by_post.staff_id == fixture.staff.pk and by_post.source_ip == "192.0.2.10"
    assert by_post.shift_id == (fixture.shift.pk if shape.startswith("cash") else None)
    assert abs((by_raw.created_at - by_post.created_at).total_seconds()) < 60

    def entries(tx):
        return sorted(tx.entries.values_list("account_id", "amount", "currency"))

    assert len(entries(by_post)) == len(fixture.postings[shape].lines)
    assert entries(by_raw) == entries(by_post)


def test_the_table_shows_rates_ratio_and_verdict():
    ok = Measurement(name="x.fast", unit="ops/s", value=900, baseline=1000, target=0.5,
                     db="sqlite")
    slow = Measurement(name="x.slow", unit="ops/s", value=100, baseline=1000, target=0.5,
                       db="postgres")
    table = format_table([
        {"db": "sqlite", "measurements": [ok.as_dict()]},
        {"db": "postgres", "measurements": [slow.as_dict()], "skipped": None},
        {"db": "postgres", "measurements": [], "skipped": "PostgreSQL is unreachable"},
    ])
    fast_row = next(line for line in table.splitlines() if line.startswith("x.fast"))
    slow_row = next(line for line in table.splitlines() if line.startswith("x.slow"))
    assert "900 ops/s" in fast_row and "1,000 ops/s" in fast_row
    assert "0.90x" in fast_row and fast_row.endswith("PASS")
    assert "0.10x" in slow_row and slow_row.endswith("MISS")
    assert "skipped — PostgreSQL is unreachable" in table


@pytest.mark.slow
def test_the_runner_sets_up_migrates_measures_and_cleans_up(tmp_path):
    """``python -m bench`` end to end on SQLite, in a throw-away directory it removes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FICHA_")}
    env["TMPDIR"] = str(tmp_path)
    env["FICHA_DATA_DIR"] = str(tmp_path / "must-not-be-used")
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "ledger.post", "--db", "sqlite",
         "--seconds", "0.02", "--repeats", "1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode in (0, 1), proc.stderr  # 1: a MISS, which a smoke run may see
    rows = [line for line in proc.stdout.splitlines() if line.startswith("ledger.post[")]
    assert len(rows) == len(SHAPES) and all(" sqlite " in r for r in rows)
    assert list(tmp_path.iterdir()) == []  # data dir, database and result file removed
