"""The recharges benchmarks work (bench/ measures speed by hand; nothing here is timed).

Each benchmark runs on the test database with tiny sizes, and the tests check what it
wrote: the rows ``generate`` and the raw baseline store, the books after concurrent
redemption, and the window's data set (statuses, links, tallies, ledger). The benchmarks
open their own database transactions, so the tests use a transactional database.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import Count, F, Q, Sum

from bench.benchmarks import recharges as rb
from bench.runner import Context, discover
from ficha.ledger import services as ledger
from ficha.ledger.models import Entry, Transaction
from ficha.recharges import services as rs
from ficha.recharges.models import Batch, Recharge, Tally

S = Recharge.Status
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _tiny(ops: int = 2) -> Context:
    return Context(db=connection.vendor, vendor=connection.vendor, fixed_ops=ops, repeats=2,
                   verbose=False)


def test_the_recharges_benchmarks_are_registered():
    found = discover()
    assert {"recharges.generate", "recharges.redeem", "recharges.window"} <= set(found)


# --- generation ---------------------------------------------------------------------------
def test_generation_stores_every_code_on_both_sides_and_reports_both_targets():
    measurements = rb.generation(_tiny(), count=40)

    assert [m.name for m in measurements] == ["recharges.generate[40 codes]",
                                              "recharges.generate[40 codes] <= 2 s"]
    ratio, absolute = measurements
    assert ratio.target == 0.5 and absolute.target == 1.0
    assert ratio.value > 0 and ratio.baseline > 0
    assert ratio.passed == (ratio.ratio >= 0.5)
    assert len(ratio.details["generate_seconds"]) == 2
    assert len(ratio.details["raw_insert_seconds"]) == 2
    # the absolute measurement compares with 100,000 codes in 2 s
    assert absolute.baseline == 50_000
    assert absolute.ratio == pytest.approx(ratio.value / 50_000)
    # warm-up (up to 1,000 codes: here 40) + 2 repetitions, on each side
    services_batches = Batch.objects.filter(label__startswith="bench-sub-")
    raw_batches = Batch.objects.filter(label__startswith="bench-bas-")
    assert services_batches.count() == 2 and raw_batches.count() == 2
    for b in Batch.objects.all():
        assert Recharge.objects.filter(batch=b).count() == b.count == 40
    assert Recharge.objects.count() == 6 * 40
    assert Recharge.objects.values("code").distinct().count() == 6 * 40


def test_the_raw_baseline_writes_the_row_generate_writes():
    raw = rb.RawInsert()
    _owner, actor = rb._staff("owner", "smoke")
    by_service = rs.generate(actor, count=3, amount=700, valid_days=30, label="svc")
    other = Batch.objects.create(label="raw", amount=700, currency=by_service.currency,
                                 count=3, expires_at=by_service.expires_at, valid_days=30,
                                 code_length=8, check_digit=False,
                                 created_at=by_service.created_at)
    raw.insert(raw.rows(other, ["00000001", "00000002", "00000003"]))

    skip = {"id", "code", "batch"}
    names = [f.attname for f in Recharge._meta.concrete_fields if f.name not in skip]
    service_rows = set(Recharge.objects.filter(batch=by_service).values_list(*names))
    raw_rows = set(Recharge.objects.filter(batch=other).values_list(*names))
    assert len(service_rows) == 1 and service_rows == raw_rows
    assert sorted(Recharge.objects.filter(batch=other).values_list("code", flat=True)) == [
        "00000001", "00000002", "00000003"]


# --- redemption ---------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["processes", "threads"])
def test_concurrent_redemption_credits_each_code_once(mode):
    measurements = rb.redemption(_tiny(), clients=3, seconds=1, per_client=4, modes=(mode,),
                                 pgbench=False)

    assert [m.name for m in measurements] == [f"recharges.redeem[3 {mode}]"]
    m = measurements[0]
    run, books = m.details["run"], m.details["books"]
    assert run["clients"] == 3 and run["redeemed"] > 0
    assert m.value == pytest.approx(run["per_second"], rel=0.01)
    assert m.baseline_unit == "redemptions/s, 1 client"  # no pgbench: one client alone
    # the books: every redemption of the run and of the one-client run, each once
    single = m.details["single_client"]["redeemed"]
    used = Recharge.objects.filter(status=S.USED)
    assert books["codes_used"] == used.count() == run["redeemed"] + single
    assert books["double_credits"] == 0 and books["codes_credited_twice"] == 0
    assert books["credits_posted"] == used.count()
    assert (Transaction.objects.filter(kind="recharge.redeem").count() == used.count())
    assert books["customers_credited"] == used.aggregate(s=Sum("amount"))["s"]
    assert books["ledger_sum"] == 0 and not books["problems"]
    assert ledger.balance(ledger.RECHARGE_LIABILITY) == (
        Recharge.objects.filter(status=S.SOLD).aggregate(s=Sum("amount"))["s"] or 0)


def test_the_books_check_notices_a_double_credit():
    fx = rb.RedeemFixture(clients=1)
    codes = fx.sold_codes(1, 2)[0]
    run = rb.run_redeemers("threads", [codes], [fx.customers[0].pk], seconds=5)
    fx.runs.append(run)
    assert fx.verify()["problems"] == []
    # a second credit for a code already used
    code = Recharge.objects.get(code=codes[0])
    ledger.post("recharge.redeem", [(ledger.RECHARGE_LIABILITY, code.amount),
                                    (fx.customers[0].credit_account_id, -code.amount)],
                reference=f"recharge:{code.pk}")

    facts = fx.verify()
    assert facts["codes_credited_twice"] == 1 and facts["double_credits"] > 0
    assert facts["problems"]


@pytest.mark.skipif(rb._pgbench_exe() is None, reason="pgbench is not installed")
def test_pgbench_reports_tps_and_drops_its_database():
    if connection.vendor != "postgresql":
        pytest.skip("pgbench needs PostgreSQL (set FICHA_TEST_DATABASE_URL)")
    got = rb.pgbench_tps(clients=2, seconds=1, scale=1, log=lambda message: None)

    assert got["tps"] > 0 and got["clients"] == 2 and got["scale"] == 1
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_database WHERE datname LIKE %s",
                    ["ficha_bench_pgbench_%"])
        assert cur.fetchone()[0] == 0


# --- the window ---------------------------------------------------------------------------
def test_the_window_data_set_is_consistent_and_every_query_is_measured():
    queries = rb._queries()
    measurements = rb.window(_tiny(), rows=3_000, batches=6, customers=12, sellers=2,
                             samples=2)

    assert [m.name for m in measurements] == [f"recharges.window[{q.name}]" for q in queries]
    assert Recharge.objects.count() == 3_000
    # every status of a code's life is present
    mix = dict(Recharge.objects.values_list("status").annotate(n=Count("id")))
    assert set(mix) == set(S.values)
    assert mix[S.UNSOLD] + mix[S.SOLD] > 3_000 // 4
    # batches: counts and the id spans search() relies on
    for b in Batch.objects.all():
        assert Recharge.objects.filter(batch=b).count() == b.count
        assert set(Recharge.objects.filter(id__gte=b.first_id, id__lte=b.last_id)
                   .values_list("batch_id", flat=True)) == {b.pk}
    # links: sellers, shifts and sales on sold codes; customers and redemptions on used
    sold = Recharge.objects.filter(sold_at__isnull=False)
    assert not sold.filter(Q(sold_by=None) | Q(sold_shift=None) | Q(sale_transaction=None))
    used = Recharge.objects.filter(status=S.USED)
    assert not used.filter(Q(used_by=None) | Q(redeem_transaction=None) | Q(used_at=None))
    assert not used.filter(used_at__lt=F("sold_at")).exists()
    assert used.values("used_by").distinct().count() > 1
    # the tally (what the window's totals read) matches the rows
    totals = rs.totals()
    for status in S.values:
        face = Recharge.objects.filter(status=status).aggregate(s=Sum("amount"))["s"] or 0
        assert totals[status] == {"count": mix[status], "value": face}
    sold_face = Recharge.objects.filter(status=S.SOLD).aggregate(s=Sum("amount"))["s"]
    assert totals["outstanding"]["value"] == sold_face
    assert Tally.objects.exists()
    # the ledger postings the rows link to are balanced and agree with the codes
    assert (Entry.objects.aggregate(s=Sum("amount"))["s"] or 0) == 0
    assert ledger.balance(ledger.RECHARGE_LIABILITY) == sold_face
    # measurements: a page of rows per query, p50/p95 and a plan of the slowest SQL
    by_name = {m.name: m for m in measurements}
    newest = by_name["recharges.window[newest first]"]
    assert newest.details["rows_shown"] == 50
    assert by_name["recharges.window[newest first, 200 per page]"].details["rows_shown"] == 200
    assert by_name["recharges.window[code (whole)]"].details["rows_shown"] == 1
    for m in measurements:
        assert m.target == 1.0 and m.baseline == pytest.approx(10.0)
        assert m.details["samples"] == 2 and m.details["plan_of_slowest"]
        # SQL time is part of each load; the slowest statement is one of the page's
        assert 0 < m.details["sql_ms_p95"] <= m.details["ms_p95"]
        assert m.details["queries_per_page"] >= 1 and m.details["slowest_sql"]
        assert m.passed == (m.ratio >= 1.0)
        if "rows_shown" in m.details:
            assert m.value == pytest.approx(1000 / m.details["ms_p95"], rel=0.01)


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_redemption_against_plain_sql_writes_the_same_books():
    """recharges.redeem_sql (PostgreSQL only): the plain-psycopg baseline, the service and
    the API each redeem; every code is credited once and the tally matches the codes."""
    from bench.benchmarks import redeem_sql

    found = redeem_sql.redeem_vs_sql(_tiny(3), clients=2, seconds=1, http=False)
    assert [m.name for m in found] == ["recharges.redeem_sql[service 2]",
                                       "recharges.redeem_sql[api 2]"]
    books = found[0].details["books"]
    assert books["double_credits"] == 0 and not books["problems"]
    rates = found[0].details["rates"]
    assert all(r and r[0] > 0 for r in rates.values()), rates
    # the baseline wrote the rows a redemption writes: attempts, audit, tallies
    used = Recharge.objects.filter(status=S.USED)
    assert used.count() == books["codes_used"] > 0
    assert not used.filter(Q(used_by=None) | Q(redeem_transaction=None)).exists()
    tallied = Tally.objects.filter(key=S.USED).aggregate(n=Sum("count"))["n"]
    assert tallied == used.count()
    from ficha.core.models import AuditLog
    from ficha.recharges.models import RedeemAttempt

    assert RedeemAttempt.objects.filter(outcome="success").count() == used.count()
    assert AuditLog.objects.filter(action="recharges.redeem").count() == used.count()
