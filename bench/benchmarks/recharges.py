"""Recharges: generating codes, the recharges window at 1,000,000 codes, and concurrent
redemption.

``recharges.generate``
    ``ficha.recharges.services.generate`` storing 100,000 codes, against a raw bulk
    insert of the same rows (one ``executemany`` of the same columns and values in one
    database transaction, codes drawn beforehand and not timed) measured in the same
    run: target ≥ 0.5×; and the absolute target of 100,000 codes in ≤ 2 s.

``recharges.redeem``
    Redemptions per second through ``services.redeem`` by 32 concurrent clients
    (forked processes, each with its own connection; and 32 threads for comparison),
    each redeeming its own sold codes for its own customer. On PostgreSQL the baseline is
    pgbench's built-in tpcb-like TPS with 32 clients against the same server (target
    ≥ 0.5×); SQLite, whose writers take turns, is compared with one client alone. After
    every run the books are checked: each used code credited exactly once, credits equal
    the face value of the used codes, the ledger sums to zero.

``recharges.window``
    1,000,000 recharges built with raw bulk inserts (20 batches, a realistic mix of
    statuses, sellers, shifts, customers and ledger links, tallies consistent with the
    rows), then p50/p95 latency of the console's recharges window through Django's test
    client as a logged-in manager (what a person waits for), and of the service calls
    behind it (``search`` + ``totals`` + one page of rows), for a set of realistic
    queries. Target p95 ≤ 100 ms per page. It first empties the recharge tables of its
    throw-away database, so that exactly 1,000,000 codes are listed.

Sizes can be lowered for a quick look with environment variables (``BENCH_GENERATE_COUNT``,
``BENCH_WINDOW_ROWS``, ``BENCH_REDEEM_CLIENTS``, ``BENCH_REDEEM_SECONDS``); targets are
defined for the default sizes.
"""

from __future__ import annotations

import datetime as dt
import glob
import math
import multiprocessing
import os
import random
import re
import secrets
import shutil
import statistics
import subprocess
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from django.db import connection, connections
from django.db.models import Count, Max, Min, Sum

from ficha.accounts import services as accounts
from ficha.accounts.models import Customer
from ficha.core import audit, clock, roles
from ficha.core.codes import group, random_code
from ficha.core.money import Money
from ficha.core.services import currency, venue_settings
from ficha.ledger import services as ledger
from ficha.ledger.models import Entry, Transaction
from ficha.recharges import services as rs
from ficha.recharges.models import Batch, Recharge, RedeemAttempt, Tally

from ..runner import Context, Measurement, register
from . import _rawdb as rawdb

S = Recharge.Status


def _size(name: str, default: int) -> int:
    raw = os.environ.get(f"BENCH_{name}", "")
    return int(raw) if raw.strip() else default


GENERATE_COUNT = 100_000
GENERATE_SECONDS = 2.0  # the absolute target for 100,000 codes
GENERATE_RATIO = 0.5
WINDOW_ROWS = 1_000_000
WINDOW_BATCHES = 20
PAGE_TARGET_MS = 100.0
REDEEM_CLIENTS = 32
REDEEM_SECONDS = 10
REDEEM_RATIO = 0.5
PGBENCH_JOBS = 2


def _tag() -> str:
    return secrets.token_hex(3)


def _staff(role: str, prefix: str):
    roles.sync_roles()
    user = accounts.create_staff(audit.SYSTEM, f"{prefix}-{_tag()}", secrets.token_urlsafe(16),
                                 role, prefix.title())
    return user, audit.Actor(user=user, ip="192.0.2.20", source="console")


def _pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def _columns() -> list:
    """Recharge's concrete columns other than the id, in model order."""
    return [f for f in Recharge._meta.concrete_fields if not f.primary_key]


# =========================================================================================
# recharges.generate
# =========================================================================================
class RawInsert:
    """The baseline: the rows ``generate`` stores, written with one DB-API ``executemany``
    in one transaction on the same connection (plain INSERT of fresh codes).

    Like any hand-written bulk insert it names the code and the columns that get a
    value; the others (all nullable) take their default, NULL.
    """

    def rows(self, batch: Batch, codes: list[str]) -> list[tuple]:
        """The same values ``generate`` writes for ``batch``; sets :attr:`sql`."""
        adapt = connection.ops.adapt_datetimefield_value
        fixed = {"amount": batch.amount, "currency": batch.currency, "batch": batch.pk,
                 "status": S.UNSOLD, "created_at": adapt(batch.created_at),
                 "expires_at": adapt(batch.expires_at) if batch.expires_at else None}
        fields = _columns()
        columns, tail = [fields[0].column], []
        for f in fields[1:]:
            value = fixed.get(f.name)
            if value is None and f.null:
                continue  # NULL by default
            columns.append(f.column)
            tail.append("" if value is None else value)
        q = connection.ops.quote_name
        placeholder = "?" if connection.vendor == "sqlite" else "%s"
        self.sql = (
            f"INSERT INTO {q(Recharge._meta.db_table)} ({', '.join(q(c) for c in columns)}) "
            f"VALUES ({', '.join([placeholder] * len(columns))})"
        )
        tail = tuple(tail)
        return [(code, *tail) for code in codes]

    def insert(self, rows: list[tuple]) -> None:
        rawdb.executemany(self.sql, rows)


def _fresh_codes(n: int, taken: set[str], length: int) -> list[str]:
    out: set[str] = set()
    space = 10**length
    while len(out) < n:
        code = str(secrets.randbelow(space)).zfill(length)
        if code not in taken:
            out.add(code)
    return list(out)


@register("recharges.generate",
          "100,000 codes through recharges.services.generate vs one raw executemany")
def generation(ctx: Context, count: int | None = None) -> list[Measurement]:
    """Generate-and-store time of a batch of codes vs a raw bulk insert (target 0.5x), and
    the absolute target (100,000 codes in 2 s)."""
    count = count or _size("GENERATE_COUNT", GENERATE_COUNT)
    repeats = ctx.repeats
    _owner, actor = _staff(roles.OWNER, "bench-gen")
    raw = RawInsert()
    amount = 1_000
    tag = _tag()
    vs_len = venue_settings().code_length
    check = venue_settings().code_check_digit
    if check:  # the baseline draws plain codes of the same length: same row widths
        ctx.log("note: check digits are on; the baseline's codes have none (same length)")
    taken = set(Recharge.objects.values_list("code", flat=True))

    def subject(label: str, n: int) -> float:
        start = time.perf_counter()
        batch = rs.generate(actor, count=n, amount=amount, valid_days=30, label=label)
        elapsed = time.perf_counter() - start
        taken.update(Recharge.objects.filter(batch=batch).values_list("code", flat=True))
        return elapsed

    def baseline(label: str, n: int) -> float:
        # set-up, not timed: a batch row like generate's, and fresh codes
        now = clock.now()
        batch = Batch.objects.create(
            label=label, amount=amount, currency=currency(), count=n,
            expires_at=rs.end_of_day(rs.local_time(now).date() + dt.timedelta(days=30)),
            valid_days=30, code_length=vs_len, check_digit=False, created_at=now)
        codes = _fresh_codes(n, taken, vs_len)
        rows = raw.rows(batch, codes)
        start = time.perf_counter()
        raw.insert(rows)
        elapsed = time.perf_counter() - start
        taken.update(codes)
        return elapsed

    # warm-up: first-use caches on both sides
    warm = min(count, 1_000)
    subject(f"bench-gen-{tag}-warm", warm)
    baseline(f"bench-raw-{tag}-warm", warm)
    draw_start = time.perf_counter()
    for _ in range(count):
        random_code(vs_len, check)
    draw = time.perf_counter() - draw_start

    subject_times, baseline_times, ratios = [], [], []
    for i in range(repeats):
        order = [("subject", subject, subject_times), ("baseline", baseline, baseline_times)]
        if i % 2:
            order.reverse()
        for side, fn, times in order:
            times.append(fn(f"bench-{side[:3]}-{tag}-{i}", count))
        ratios.append(baseline_times[-1] / subject_times[-1])  # rate ratio
        ctx.log(f"recharges.generate: rep {i + 1}/{repeats} generate {subject_times[-1]:.3f} s"
                f", raw insert {baseline_times[-1]:.3f} s for {count:,} codes")
    t_subject = statistics.median(subject_times)
    t_baseline = statistics.median(baseline_times)
    details = {
        "count": count,
        "repeats": repeats,
        "generate_seconds": [round(t, 4) for t in subject_times],
        "raw_insert_seconds": [round(t, 4) for t in baseline_times],
        "ratios": [round(r, 4) for r in ratios],
        "drawing_codes_seconds": round(draw, 4),
        "load_average": os.getloadavg(),
    }
    name = f"recharges.generate[{count:,} codes]"
    return [
        Measurement(
            name=name, unit="codes/s", value=count / t_subject,
            baseline=count / t_baseline, baseline_unit="raw codes/s",
            ratio=statistics.median(ratios), target=GENERATE_RATIO,
            subject_label=f"recharges.services.generate, {count:,} codes (median "
                          f"{t_subject:.3f} s)",
            baseline_label=f"one executemany of the same rows, one transaction (median "
                           f"{t_baseline:.3f} s)",
            details=details,
        ),
        Measurement(
            name=f"{name} <= {GENERATE_SECONDS:g} s", unit="codes/s", value=count / t_subject,
            baseline=GENERATE_COUNT / GENERATE_SECONDS, baseline_unit="codes/s target",
            target=1.0,
            subject_label=f"recharges.services.generate, median {t_subject:.3f} s",
            baseline_label=f"the issue's target: {GENERATE_COUNT:,} codes in "
                           f"{GENERATE_SECONDS:g} s",
            details=details,
        ),
    ]


# =========================================================================================
# recharges.redeem
# =========================================================================================
@dataclass
class RedeemRun:
    mode: str  # "processes" or "threads"
    clients: int
    ok: int = 0
    reasons: Counter = field(default_factory=Counter)
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    exhausted: int = 0  # clients that ran out of codes before the end
    errors: list[str] = field(default_factory=list)
    client_cpu: float = 0.0  # CPU seconds the clients used while redeeming
    server_cpu: float | None = None  # CPU seconds their PostgreSQL processes used

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0

    def summary(self) -> dict:
        lat = self.latencies or [0.0]
        return {"mode": self.mode, "clients": self.clients, "redeemed": self.ok,
                "refused": dict(self.reasons), "seconds": round(self.elapsed, 3),
                "per_second": round(self.rate, 1),
                "latency_ms_p50": round(_pct(lat, 50) * 1000, 2),
                "latency_ms_p95": round(_pct(lat, 95) * 1000, 2),
                "clients_out_of_codes": self.exhausted, "errors": self.errors[:5],
                "client_cpu_ms_per_redemption": round(self.client_cpu / self.ok * 1000, 2)
                if self.ok else None,
                "server_cpu_ms_per_redemption": round(self.server_cpu / self.ok * 1000, 2)
                if self.ok and self.server_cpu is not None else None}


def _backend_pid() -> int | None:
    """The PostgreSQL server process serving this connection (None on SQLite)."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        return cur.fetchone()[0]


def _cpu_seconds(pid: int | None) -> float | None:
    """CPU time (user + system) a process on this machine has used, from /proc."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None  # a server on another machine


def _redeem_client(i: int, codes: list[str], customer_id: int, seconds: float, barrier,
                   out, forked: bool) -> None:
    """One client: its own connection, customer and source; redeems until time is up."""
    if forked:
        connections.close_all()  # never use a connection inherited from the parent
    result = {"ok": 0, "reasons": Counter(), "lat": [], "start": 0.0, "end": 0.0,
              "exhausted": False, "error": "", "cpu": 0.0, "server_cpu": None}
    try:
        customer = Customer.objects.get(pk=customer_id)
        backend = _backend_pid()
        source = rs.Source(ip=f"198.18.{i // 250}.{i % 250 + 1}", door="api")
        try:
            barrier.wait(timeout=300)
        except threading.BrokenBarrierError:
            result["error"] = "start barrier broken"
            return
        result["start"] = time.time()
        cpu0, server0 = time.thread_time(), _cpu_seconds(backend)
        deadline = time.perf_counter() + seconds
        lat = result["lat"]
        for code in codes:
            t0 = time.perf_counter()
            if t0 >= deadline:
                break
            try:
                rs.redeem(code, customer=customer, source=source)
                result["ok"] += 1
            except rs.RechargeError as exc:
                result["reasons"][exc.reason] += 1
            lat.append(time.perf_counter() - t0)
        else:
            result["exhausted"] = True
        result["end"] = time.time()
        result["cpu"] = time.thread_time() - cpu0
        server1 = _cpu_seconds(backend)
        if server0 is not None and server1 is not None:
            result["server_cpu"] = server1 - server0
    except BaseException as exc:  # reported to the parent
        result["error"] = f"{type(exc).__name__}: {exc}"
        result["end"] = time.time()
    finally:
        connections.close_all()
        out.put(result)


def gather(run: RedeemRun, workers: list, barrier, out, seconds: float) -> list[dict]:
    """Start the clients together, wait for every one's result and add up what all
    redemption runs report (count, reasons, latencies, exhaustion, errors, elapsed time);
    the results, for what a caller adds of its own."""
    for w in workers:
        w.start()
    try:
        barrier.wait(timeout=300)
    except threading.BrokenBarrierError:
        pass
    results = [out.get(timeout=seconds + 600) for _ in workers]
    for w in workers:
        w.join(timeout=60)
    starts = [r["start"] for r in results if r["start"]]
    ends = [r["end"] for r in results if r["end"]]
    run.elapsed = (max(ends) - min(starts)) if starts and ends else 0.0
    for r in results:
        run.ok += r["ok"]
        run.reasons.update(r["reasons"])
        run.latencies += r["lat"]
        run.exhausted += int(r["exhausted"])
        if r["error"]:
            run.errors.append(r["error"])
    return results


def run_redeemers(mode: str, codes: list[list[str]], customer_ids: list[int],
                  seconds: float) -> RedeemRun:
    """``len(codes)`` clients redeem their own codes for ``seconds``, all started at once."""
    n = len(codes)
    run = RedeemRun(mode=mode, clients=n)
    connections.close_all()  # nobody may share the parent's connection after a fork
    if mode == "processes":
        mp = multiprocessing.get_context("fork")
        barrier, out = mp.Barrier(n + 1), mp.Queue()
        workers = [mp.Process(target=_redeem_client,
                              args=(i, codes[i], customer_ids[i], seconds, barrier, out, True))
                   for i in range(n)]
    elif mode == "threads":
        import queue

        barrier, out = threading.Barrier(n + 1), queue.Queue()
        workers = [threading.Thread(target=_redeem_client,
                                    args=(i, codes[i], customer_ids[i], seconds, barrier, out,
                                          False))
                   for i in range(n)]
    else:
        raise ValueError(mode)
    for r in gather(run, workers, barrier, out, seconds):
        run.client_cpu += r["cpu"]
        if r["server_cpu"] is not None:
            run.server_cpu = (run.server_cpu or 0.0) + r["server_cpu"]
    return run


class RedeemFixture:
    """Staff, an open shift, customers, and sold codes to redeem."""

    def __init__(self, clients: int, amount: int = 500) -> None:
        self.owner, self.owner_actor = _staff(roles.OWNER, "bench-redeem-owner")
        self.cashier, self.cashier_actor = _staff(roles.CASHIER, "bench-redeem-cashier")
        ledger.open_shift(self.cashier_actor, 0)
        tag = _tag()
        self.customers = [accounts.create_customer(audit.SYSTEM, f"bench-{tag}-{i}")
                          for i in range(clients)]
        self.amount = amount
        self.batches: list[int] = []
        self.runs: list[RedeemRun] = []

    def sold_codes(self, clients: int, per_client: int) -> list[list[str]]:
        """A fresh sold batch, split into one list of codes per client."""
        need = clients * per_client
        out: list[str] = []
        while len(out) < need:
            n = min(rs.MAX_BATCH, need - len(out))
            batch = rs.generate(self.owner_actor, count=n, amount=self.amount,
                                label=f"bench-redeem-{_tag()}")
            rs.sell_batch(self.cashier_actor, batch)
            self.batches.append(batch.pk)
            out += list(Recharge.objects.filter(batch=batch).order_by("id")
                        .values_list("code", flat=True))
        return [out[i::clients] for i in range(clients)]

    def run(self, mode: str, clients: int, seconds: float, per_client: int) -> RedeemRun:
        codes = self.sold_codes(clients, per_client)
        customer_ids = [c.pk for c in self.customers[:clients]]
        run = run_redeemers(mode, codes, customer_ids, seconds)
        self.runs.append(run)
        return run

    def verify(self) -> dict:
        """The books after every run: each used code credited once, nothing else moved."""
        mine = Recharge.objects.filter(batch_id__in=self.batches)
        used = mine.filter(status=S.USED)
        n_used = used.count()
        face_used = int(used.aggregate(s=Sum("amount"))["s"] or 0)
        refs = [f"recharge:{pk}" for pk in used.values_list("pk", flat=True)]
        credits = 0
        duplicated = 0
        for start in range(0, len(refs), 500):
            chunk = refs[start:start + 500]
            per_ref = (Transaction.objects.filter(kind="recharge.redeem", reference__in=chunk)
                       .values("reference").annotate(n=Count("id")))
            for row in per_ref:
                credits += row["n"]
                duplicated += row["n"] > 1
        # every redeem posting of these customers, whichever code it named
        accounts_ids = [c.credit_account_id for c in self.customers]
        customer_credits = Transaction.objects.filter(
            kind="recharge.redeem", entries__account_id__in=accounts_ids).distinct().count()
        credited = -int(Entry.objects.filter(account_id__in=accounts_ids)
                        .aggregate(s=Sum("amount"))["s"] or 0)
        unbalanced = (Entry.objects.values("transaction_id").annotate(s=Sum("amount"))
                      .exclude(s=0).count())
        ledger_sum = int(Entry.objects.aggregate(s=Sum("amount"))["s"] or 0)
        successes = sum(r.ok for r in self.runs)
        # what the codes say is owed vs the liability account (sold, not yet used)
        owed = int(Recharge.objects.filter(status=S.SOLD).aggregate(s=Sum("amount"))["s"]
                   or 0)
        liability = ledger.balance(ledger.RECHARGE_LIABILITY)  # normal sign: owed > 0
        facts = {
            "codes_used": n_used, "successes_reported": successes,
            "credits_posted": credits, "customer_credit_postings": customer_credits,
            "codes_credited_twice": duplicated,
            "double_credits": (credits - n_used) + (customer_credits - n_used) + duplicated,
            "face_used": face_used, "customers_credited": credited,
            "unbalanced_transactions": unbalanced, "ledger_sum": ledger_sum,
            "owed_by_codes": owed, "liability_balance": liability,
        }
        problems = []
        if n_used != successes:
            problems.append(f"{successes} successes reported but {n_used} codes used")
        if credits != n_used or customer_credits != n_used or duplicated:
            problems.append(f"{n_used} codes used but {credits} credits posted "
                            f"({customer_credits} to the customers, {duplicated} codes "
                            f"credited twice)")
        if credited != face_used:
            problems.append(f"customers credited {credited} for {face_used} of codes")
        if unbalanced or ledger_sum:
            problems.append(f"ledger: {unbalanced} unbalanced transactions, sum {ledger_sum}")
        if liability != owed:
            problems.append(f"liability {liability} but sold, unused codes {owed}")
        facts["problems"] = problems
        return facts


def _pgbench_exe() -> str | None:
    found = shutil.which("pgbench")
    if found:
        return found
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pgbench"))
    return candidates[-1] if candidates else None


_TPS = re.compile(r"tps = ([0-9.]+) \((?:without initial connection|excluding connections)")


def pgbench_tps(clients: int, seconds: int, scale: int, log) -> dict:
    """pgbench's built-in tpcb-like TPS with ``clients`` clients on this database's server,
    in a scratch database created and dropped here."""
    exe = _pgbench_exe()
    if exe is None:
        raise FileNotFoundError("pgbench is not installed (postgresql-client)")
    s = connection.settings_dict
    env = dict(os.environ)
    for key, value in (("PGHOST", s.get("HOST")), ("PGPORT", s.get("PORT")),
                       ("PGUSER", s.get("USER")), ("PGPASSWORD", s.get("PASSWORD"))):
        if value:
            env[key] = str(value)
    name = f"ficha_bench_pgbench_{os.getpid()}_{scale}"
    connection.ensure_connection()
    with connection.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        t0 = time.perf_counter()
        subprocess.run([exe, "-i", "-q", "-s", str(scale), name], env=env, check=True,
                       capture_output=True, text=True, timeout=1800)
        log(f"pgbench -i -s {scale}: {time.perf_counter() - t0:.1f} s")
        proc = subprocess.run(
            [exe, "-c", str(clients), "-j", str(PGBENCH_JOBS), "-T", str(seconds),
             "-b", "tpcb-like", name],
            env=env, check=True, capture_output=True, text=True, timeout=seconds + 600)
        found = _TPS.search(proc.stdout)
        if found is None:
            raise RuntimeError(f"no tps in pgbench's output:\n{proc.stdout}")
        tps = float(found.group(1))
        latency = re.search(r"latency average = ([0-9.]+) ms", proc.stdout)
        return {"scale": scale, "clients": clients, "jobs": PGBENCH_JOBS, "seconds": seconds,
                "tps": tps, "latency_ms": float(latency.group(1)) if latency else None,
                "command": f"pgbench -c {clients} -j {PGBENCH_JOBS} -T {seconds} "
                           f"-b tpcb-like (scale {scale})"}
    finally:
        connections.close_all()
        with connection.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@register("recharges.redeem",
          "redemptions/s by 32 concurrent clients vs pgbench tpcb-like TPS (PostgreSQL)")
def redemption(ctx: Context, clients: int | None = None, seconds: float | None = None,
               per_client: int | None = None, modes: tuple[str, ...] = ("processes",
                                                                       "threads"),
               pgbench: bool = True) -> list[Measurement]:
    """Redemptions/s by concurrent clients through services.redeem, each code redeemed
    once, vs pgbench tpcb-like (PostgreSQL) or one client alone (SQLite)."""
    clients = clients or _size("REDEEM_CLIENTS", REDEEM_CLIENTS)
    seconds = seconds or _size("REDEEM_SECONDS", REDEEM_SECONDS)
    if ctx.fixed_ops is not None:
        per_client = per_client or ctx.fixed_ops
    # enough codes that no client runs dry: ~2,000 redemptions/s would need 60 per client
    per_client = per_client or max(60, math.ceil(2_500 * seconds / clients))
    fx = RedeemFixture(clients)
    runs: dict[str, RedeemRun] = {}
    for mode in modes:
        ctx.log(f"recharges.redeem: {clients} {mode}, {seconds:g} s, load "
                f"{os.getloadavg()[0]:.2f}")
        runs[mode] = fx.run(mode, clients, seconds, per_client)
        ctx.log(f"recharges.redeem: {clients} {mode}: {runs[mode].summary()}")
    single = fx.run("processes", 1, seconds, per_client * clients // 4 or per_client)
    ctx.log(f"recharges.redeem: 1 client: {single.summary()}")
    books = fx.verify()
    ctx.log(f"recharges.redeem: books: {books}")
    if books["problems"]:
        raise RuntimeError("redemption broke the books: " + "; ".join(books["problems"]))
    for run in [*runs.values(), single]:
        if run.errors:
            raise RuntimeError(f"redeem clients failed: {run.errors[:3]}")
        if run.exhausted:
            ctx.log(f"warning: {run.exhausted} of {run.clients} {run.mode} ran out of codes "
                    f"before the end; the rate is a lower bound")

    details_common = {"books": books, "single_client": single.summary(),
                      "load_average": os.getloadavg()}
    baseline_rate, baseline_unit, baseline_label = single.rate, "redemptions/s, 1 client", (
        "the same load from one client alone")
    target = REDEEM_RATIO
    if ctx.vendor == "postgresql" and pgbench:
        try:
            bench_runs = []
            # pgbench -i's default scale (1 branch row, which all 32 clients update) and
            # the scale pgbench's manual asks for (>= clients): the higher TPS is the bar
            for scale in sorted({1, clients}):
                got = pgbench_tps(clients, int(seconds), scale, ctx.log)
                ctx.log(f"pgbench: {got}")
                bench_runs.append(got)
            best = max(bench_runs, key=lambda b: b["tps"])
            baseline_rate = best["tps"]
            baseline_unit = "pgbench tps"
            baseline_label = best["command"] + f"; every run: {bench_runs}"
            details_common["pgbench"] = bench_runs
        except (FileNotFoundError, subprocess.SubprocessError) as exc:
            ctx.log(f"pgbench skipped: {exc}; comparing with one client instead")
            details_common["pgbench"] = f"skipped: {exc}"
    out = []
    for mode, run in runs.items():
        out.append(Measurement(
            name=f"recharges.redeem[{clients} {mode}]", unit="redemptions/s",
            value=run.rate, baseline=baseline_rate, baseline_unit=baseline_unit,
            target=target,
            subject_label=f"services.redeem, {clients} {mode}, each its own connection, "
                          f"customer and codes",
            baseline_label=baseline_label,
            details={**details_common, "run": run.summary()},
        ))
    return out


# =========================================================================================
# recharges.window
# =========================================================================================
AMOUNTS = (500, 1_000, 2_000, 5_000, 10_000)
EXPIRY_DAYS = 180
HISTORY_DAYS = 300


@dataclass
class WindowData:
    rows: int
    batches: list[Batch]
    manager: object
    sample_codes: list[str]
    amounts: list[int]
    today: dt.date
    mix: dict
    build_seconds: float


def _empty_recharge_tables() -> None:
    """Remove every code, batch, tally and attempt of this throw-away database."""
    tables = [m._meta.db_table for m in (RedeemAttempt, Tally, Recharge, Batch)]
    q = connection.ops.quote_name
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            # CASCADE: rows of other apps that point at codes (a call paid by a code as a
            # calling-card PIN) go too; this database is the benchmark's own
            cur.execute(f"TRUNCATE {', '.join(q(t) for t in tables)} CASCADE")
        return
    with connection.cursor() as cur:
        cur.execute("PRAGMA foreign_keys=OFF")  # lets SQLite drop the pages at once
        try:
            for t in tables:
                cur.execute(f"DELETE FROM {q(t)}")
        finally:
            cur.execute("PRAGMA foreign_keys=ON")


class WindowBuilder:
    """A realistic shop's history of recharges, written with raw bulk inserts.

    ``batches`` batches over ``HISTORY_DAYS`` days, every third without expiry, the others
    valid ``EXPIRY_DAYS`` days. Older batches are mostly used; sold codes have a seller,
    a shift and a sale posting; used ones a customer and a redeem posting; sold codes
    past their expiry are expired with their value moved to breakage (the default
    setting); a few sold codes are void (refunded), a few unsold ones deleted. The
    ledger postings are real (balanced) and the tally matches the rows, so the window's
    totals and the books agree.
    """

    def __init__(self, rows: int, batches: int, customers: int, sellers: int, seed: int,
                 log) -> None:
        self.n_rows, self.n_batches = rows, batches
        self.n_customers, self.n_sellers = customers, sellers
        self.rng = random.Random(seed)
        self.log = log

    def build(self) -> WindowData:
        t0 = time.perf_counter()
        _empty_recharge_tables()
        rng = self.rng
        self.owner, self.owner_actor = _staff(roles.OWNER, "bench-owner")
        manager, _m = _staff(roles.MANAGER, "bench-manager")
        self.owner_shift = ledger.open_shift(self.owner_actor, 0)
        self.sellers = []
        for _ in range(self.n_sellers):
            user, act = _staff(roles.VOUCHER_SELLER, "bench-seller")
            self.sellers.append((user, act, ledger.open_shift(act, 0)))
        tag = _tag()
        self.customers = [
            accounts.create_customer(audit.SYSTEM, f"bench-{tag}-{i}")
            for i in range(self.n_customers)
        ]
        self.log(f"window: staff, shifts and {self.n_customers} customers in "
                 f"{time.perf_counter() - t0:.1f} s")
        codes = [str(c).zfill(8) for c in rng.sample(range(10**8), self.n_rows)]
        per_batch = [self.n_rows // self.n_batches] * self.n_batches
        per_batch[-1] += self.n_rows - sum(per_batch)
        now = clock.now()
        cur_code = currency()
        self.fields = _columns()
        mix: Counter = Counter()
        batches = []
        offset = 0
        for i, n in enumerate(per_batch):
            age = (self.n_batches - i) / self.n_batches  # 1 = oldest
            created = now - dt.timedelta(days=HISTORY_DAYS * age, minutes=rng.randrange(600))
            expires = None if i % 3 == 0 else created + dt.timedelta(days=EXPIRY_DAYS)
            amount = AMOUNTS[i % len(AMOUNTS)]
            batch = Batch.objects.create(
                label=f"bench-{created:%Y%m%d}-{i}", amount=amount, currency=cur_code,
                count=n, expires_at=expires, valid_days=EXPIRY_DAYS if expires else None,
                code_length=8, check_digit=False, created_by=self.owner, created_at=created)
            bt = time.perf_counter()
            counts = self._batch(batch, codes[offset:offset + n], age, now)
            offset += n
            mix.update(counts)
            batches.append(batch)
            self.log(f"window: batch {i + 1}/{self.n_batches} ({n:,} codes) in "
                     f"{time.perf_counter() - bt:.1f} s: {dict(counts)}")
        for b in batches:
            span = Recharge.objects.filter(batch=b).aggregate(lo=Min("id"), hi=Max("id"))
            Batch.objects.filter(pk=b.pk).update(first_id=span["lo"], last_id=span["hi"])
            b.first_id, b.last_id = span["lo"], span["hi"]
        if connection.vendor == "postgresql":
            at = time.perf_counter()
            with connection.cursor() as cur:  # what autovacuum does after a bulk load
                cur.execute("VACUUM ANALYZE recharges_recharge")
                cur.execute("VACUUM ANALYZE recharges_batch")
                cur.execute("VACUUM ANALYZE recharges_tally")
            self.log(f"window: VACUUM ANALYZE in {time.perf_counter() - at:.1f} s")
        rs.clear_cache()
        sample = rng.sample(codes, min(len(codes), 500))
        return WindowData(rows=self.n_rows, batches=batches, manager=manager,
                          sample_codes=sample, amounts=sorted({b.amount for b in batches}),
                          today=rs.local_time(now).date(), mix=dict(mix),
                          build_seconds=time.perf_counter() - t0)

    # -- one batch ------------------------------------------------------------------------
    def _batch(self, batch: Batch, codes: list[str], age: float, now: dt.datetime) -> Counter:
        rng = self.rng
        created, expires, amount = batch.created_at, batch.expires_at, batch.amount
        end = min(now, expires) if expires else now
        span = (end - created).total_seconds()
        p_used = 0.10 + 0.45 * age
        p_sold = 0.30 - 0.10 * age
        p_void, p_deleted = 0.01, 0.02
        expired = expires is not None and expires <= now
        specs = []  # (status, sold_at, seller index, used_at, customer index)
        for _code in codes:
            r = rng.random()
            sold_at = used_at = None
            seller = cust = None
            if r < p_deleted:
                status = S.DELETED
            elif r < p_deleted + p_void:
                status = S.VOID
            elif r < p_deleted + p_void + p_used:
                status = S.USED
            elif r < p_deleted + p_void + p_used + p_sold:
                status = S.SOLD
            else:
                status = S.UNSOLD
            if status in (S.SOLD, S.USED, S.VOID):
                sold_at = created + dt.timedelta(seconds=span * rng.random() ** 1.5)
                seller = rng.randrange(len(self.sellers))
            if status == S.USED:
                left = (end - sold_at).total_seconds()
                used_at = sold_at + dt.timedelta(seconds=left * rng.random() ** 3)
                cust = rng.randrange(len(self.customers))
            if expired and status in (S.SOLD, S.UNSOLD):
                status = S.EXPIRED
            specs.append((status, sold_at, seller, used_at, cust))

        # the postings the rows link to, one per kind (and seller / customer) per batch
        sold_by_seller: Counter = Counter()
        used_by_customer: Counter = Counter()
        n_void = n_broken = 0
        for status, sold_at, seller, _used_at, cust in specs:
            if sold_at is not None:
                sold_by_seller[seller] += amount
            if cust is not None:
                used_by_customer[cust] += amount
            n_void += status == S.VOID
            n_broken += status == S.EXPIRED and sold_at is not None
        sale_tx = {}
        for s, value in sold_by_seller.items():
            user, act, shift = self.sellers[s]
            sale_tx[s] = ledger.post("recharge.sale", [(ledger.CASH, value),
                                                       (ledger.RECHARGE_LIABILITY, -value)],
                                     actor=act, shift=shift, memo="bench sale",
                                     reference="recharges").pk
        redeem_tx = None
        if used_by_customer:
            lines = [(ledger.RECHARGE_LIABILITY, sum(used_by_customer.values()))]
            lines += [(self.customers[c].credit_account_id, -v)
                      for c, v in sorted(used_by_customer.items())]
            redeem_tx = ledger.post("recharge.redeem", lines, memo="bench redemptions",
                                    reference=f"batch:{batch.pk}").pk
        void_tx = breakage_tx = None
        if n_void:
            void_tx = ledger.post("recharge.void", [(ledger.CASH, -amount * n_void),
                                                    (ledger.RECHARGE_LIABILITY, amount * n_void)],
                                  actor=self.owner_actor, shift=self.owner_shift,
                                  memo="bench refunds", reference=f"batch:{batch.pk}").pk
        if n_broken:
            breakage_tx = ledger.post("recharge.breakage",
                                      [(ledger.RECHARGE_LIABILITY, amount * n_broken),
                                       (ledger.BREAKAGE, -amount * n_broken)],
                                      memo="bench breakage", reference="recharges").pk

        adapt = (connection.ops.adapt_datetimefield_value if connection.vendor == "sqlite"
                 else (lambda v: v))
        created_v, expires_v = adapt(created), adapt(expires) if expires else None
        owner_id = self.owner.pk
        rows = []
        counts: Counter = Counter()
        tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for code, (status, sold_at, seller, used_at, cust) in zip(codes, specs, strict=True):
            values = {
                "code": code, "amount": amount, "currency": batch.currency,
                "batch": batch.pk, "status": status, "created_at": created_v,
                "expires_at": expires_v,
            }
            if sold_at is not None:
                values.update(sold_at=adapt(sold_at), sold_by=self.sellers[seller][0].pk,
                              sold_shift=self.sellers[seller][2].pk, sale_price=amount,
                              payment_method="cash", sale_transaction=sale_tx[seller])
            if used_at is not None:
                values.update(used_at=adapt(used_at), used_by=self.customers[cust].pk,
                              used_door=("portal", "portal_login", "api")[cust % 3],
                              redeem_transaction=redeem_tx)
            if status == S.EXPIRED:
                values["expired_at"] = adapt(expires + dt.timedelta(minutes=5))
                if sold_at is not None:
                    values["breakage_transaction"] = breakage_tx
            elif status == S.VOID:
                values.update(voided_at=adapt(sold_at + dt.timedelta(hours=1)),
                              voided_by=owner_id, void_reason="bench: card lost",
                              void_transaction=void_tx)
            elif status == S.DELETED:
                values.update(deleted_at=adapt(created + dt.timedelta(days=1)),
                              deleted_by=owner_id)
            rows.append(tuple(values.get(f.name, None if f.null else "")
                              for f in self.fields))
            counts[status] += 1
            tally[status][0] += 1
            tally[status][1] += amount
        if tally[S.SOLD][0]:
            tally[Tally.LIABILITY] = list(tally[S.SOLD])
        self._insert(rows)
        Tally.objects.bulk_create([Tally(key=k, batch_id=batch.pk, count=n, value=v)
                                   for k, (n, v) in tally.items()])
        return counts

    def _insert(self, rows: list[tuple]) -> None:
        q = connection.ops.quote_name
        cols = ", ".join(q(f.column) for f in self.fields)
        table = q(Recharge._meta.db_table)
        connection.ensure_connection()
        raw = connection.connection
        if connection.vendor == "sqlite":
            cur = raw.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                cur.executemany(
                    f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' * len(self.fields))})",
                    rows)
            except BaseException:
                raw.rollback()
                raise
            raw.commit()
            return
        with raw.transaction(), raw.cursor() as cur:
            with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)


@dataclass
class WindowQuery:
    name: str
    params: object  # (data, i) -> GET parameters of the window
    service_only: object = None  # (data, i) -> callable timed instead of a page


def _major(minor: int) -> str:
    return Money(minor, currency()).major_str()


def _queries() -> list[WindowQuery]:
    def day(d: dt.date) -> str:
        return d.isoformat()

    def batch(d, i):
        return d.batches[(i * 7) % len(d.batches)].label

    def amount(d, i):
        return _major(d.amounts[i % len(d.amounts)])

    def prefix(d, i):
        return d.sample_codes[i % len(d.sample_codes)][:4]

    def whole(d, i):
        return group(d.sample_codes[(i * 3) % len(d.sample_codes)])

    return [
        WindowQuery("newest first", lambda d, i: {}),
        WindowQuery("newest first, 200 per page", lambda d, i: {"per_page": 200}),
        WindowQuery("status unsold", lambda d, i: {"status": "unsold"}),
        WindowQuery("status sold", lambda d, i: {"status": "sold"}),
        WindowQuery("status used", lambda d, i: {"status": "used"}),
        WindowQuery("status expired", lambda d, i: {"status": "expired"}),
        WindowQuery("status void", lambda d, i: {"status": "void"}),
        WindowQuery("batch", lambda d, i: {"batch": batch(d, i)}),
        WindowQuery("batch + status sold", lambda d, i: {"batch": batch(d, i),
                                                         "status": "sold"}),
        WindowQuery("amount", lambda d, i: {"amount": amount(d, i)}),
        WindowQuery("code prefix (4 digits)", lambda d, i: {"code": prefix(d, i)}),
        WindowQuery("code (whole)", lambda d, i: {"code": whole(d, i)}),
        WindowQuery("sold in the last 7 days", lambda d, i: {
            "sold_from": day(d.today - dt.timedelta(days=6 + i % 5)),
            "sold_to": day(d.today - dt.timedelta(days=i % 5))}),
        WindowQuery("sold in a month 8 months ago", lambda d, i: {
            "sold_from": day(d.today - dt.timedelta(days=240 + i % 9)),
            "sold_to": day(d.today - dt.timedelta(days=210 + i % 9))}),
        WindowQuery("used in the last 30 days", lambda d, i: {
            "used_from": day(d.today - dt.timedelta(days=29)), "used_to": day(d.today)}),
        WindowQuery("created in a 2-month span", lambda d, i: {
            "created_from": day(d.today - dt.timedelta(days=150 + i % 9)),
            "created_to": day(d.today - dt.timedelta(days=90 + i % 9))}),
        WindowQuery("sorted by expiry", lambda d, i: {"sort": "expires_at"}),
        WindowQuery("sold, sorted by expiry", lambda d, i: {"status": "sold",
                                                            "sort": "expires_at"}),
        # every column header of the window, in the direction its first click sorts
        WindowQuery("sorted by code", lambda d, i: {"sort": "code"}),
        WindowQuery("sorted by amount (desc)", lambda d, i: {"sort": "-amount"}),
        WindowQuery("sorted by status", lambda d, i: {"sort": "status"}),
        WindowQuery("sorted by batch (desc)", lambda d, i: {"sort": "-batch"}),
        WindowQuery("sorted by sold date (desc)", lambda d, i: {"sort": "-sold_at"}),
        WindowQuery("sorted by used date (desc)", lambda d, i: {"sort": "-used_at"}),
        WindowQuery("status sold, page 50", lambda d, i: {"status": "sold", "page": 50}),
        WindowQuery("amount, page 50", lambda d, i: {"amount": amount(d, i), "page": 50}),
        WindowQuery("totals per status + liability", lambda d, i: {},
                    service_only=lambda d, i: rs.totals),
        WindowQuery("totals, sold in the last 30 days", lambda d, i: {},
                    service_only=lambda d, i: (lambda: rs.totals(rs.search(
                        sold_from=d.today - dt.timedelta(days=29), sold_to=d.today)))),
    ]


class _Recorder:
    """Every SQL statement a call runs, with its parameters and duration."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, str, object]] = []

    def __call__(self, execute, sql, params, many, context):
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.calls.append((time.perf_counter() - t0, sql, params))


def _explain(sql: str, params) -> list[str]:
    if connection.vendor == "sqlite":
        with connection.cursor() as cur:
            cur.execute("EXPLAIN QUERY PLAN " + sql, params)
            return [row[-1] for row in cur.fetchall()]
    with connection.cursor() as cur:
        cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        return [row[0] for row in cur.fetchall()]


def measure_window(ctx: Context, data: WindowData, samples: int,
                   queries: list[WindowQuery] | None = None) -> list[Measurement]:
    """p50/p95 of each query's page load through the console view (or service call),
    with the share spent in SQL, the slowest statement and, for a miss, its plan."""
    from django.test import Client
    from django.urls import reverse

    url = reverse("console:recharges")
    client = Client()
    client.force_login(data.manager)
    out = []
    summary = []
    for wq in queries or _queries():
        if wq.service_only is None:
            def load(i: int, wq=wq) -> int:
                resp = client.get(url, wq.params(data, i))
                if resp.status_code != 200:
                    raise RuntimeError(f"window {wq.name}: HTTP {resp.status_code}")
                return resp.content.count(b'data-code="')
            what = "console window page (test client, logged-in manager)"
        else:
            def load(i: int, wq=wq) -> None:
                wq.service_only(data, i)()
            what = "recharges.services call"

        first = time.perf_counter()
        rows_shown = load(0)  # warm-up: first-use caches
        first_ms = (time.perf_counter() - first) * 1000
        diag = _Recorder()
        with connection.execute_wrapper(diag):  # one recorded load: its statements
            load(1)
        slowest = sorted(diag.calls, key=lambda c: -c[0])[:3]
        times, sql_times = [], []
        for i in range(samples):
            rec = _Recorder()
            with connection.execute_wrapper(rec):
                t0 = time.perf_counter()
                load(i)
                times.append(time.perf_counter() - t0)
            sql_times.append(sum(t for t, _s, _p in rec.calls))
        p50, p95 = _pct(times, 50) * 1000, _pct(times, 95) * 1000
        sql50, sql95 = _pct(sql_times, 50) * 1000, _pct(sql_times, 95) * 1000
        details = {
            "params_example": wq.params(data, 0), "samples": samples, "what": what,
            "ms_p50": round(p50, 2), "ms_p95": round(p95, 2), "ms_first": round(first_ms, 2),
            "sql_ms_p50": round(sql50, 2), "sql_ms_p95": round(sql95, 2),
            "queries_per_page": len(diag.calls),
            "slowest_sql": [{"ms": round(t * 1000, 2), "sql": sql[:600]}
                            for t, sql, _p in slowest],
            "load_average": os.getloadavg(),
        }
        if rows_shown is not None:
            details["rows_shown"] = rows_shown
        if slowest and (p95 > PAGE_TARGET_MS or ctx.fixed_ops is not None):
            _t, sql, params = slowest[0]
            try:
                details["plan_of_slowest"] = _explain(sql, params)
            except Exception as exc:  # a plan is a diagnostic: never fail the run on it
                details["plan_of_slowest"] = [f"EXPLAIN failed: {exc}"]
        line = (f"{wq.name:34} {'view' if rows_shown is not None else 'call'} p50 {p50:7.1f} "
                f"p95 {p95:7.1f} ms | SQL p50 {sql50:6.1f} p95 {sql95:6.1f} ms in "
                f"{len(diag.calls):2} queries, slowest {slowest[0][0] * 1000 if slowest else 0:.1f}"
                f" ms" + ("  MISS" if p95 > PAGE_TARGET_MS else ""))
        summary.append(line)
        ctx.log("window: " + line)
        if p95 > PAGE_TARGET_MS and "plan_of_slowest" in details:
            ctx.log("window:   slowest SQL: " + slowest[0][1][:400])
            for step in details["plan_of_slowest"]:
                ctx.log("window:   plan: " + step)
        out.append(Measurement(
            name=f"recharges.window[{wq.name}]", unit="pages/s at p95",
            value=1000 / p95 if p95 else math.inf,
            baseline=1000 / PAGE_TARGET_MS, baseline_unit=f"pages/s ({PAGE_TARGET_MS:g} ms)",
            target=1.0,
            subject_label=f"{what}: p50 {p50:.1f} ms, p95 {p95:.1f} ms over {samples} loads",
            baseline_label=f"target p95 <= {PAGE_TARGET_MS:g} ms per page at "
                           f"{data.rows:,} recharges",
            details=details,
        ))
    if ctx.verbose:
        ctx.log(f"window summary ({data.rows:,} recharges, {ctx.db}, load "
                f"{os.getloadavg()[0]:.2f}):")
        for line in summary:
            ctx.log("  " + line)
    return out


@register("recharges.window",
          "recharges window p50/p95 page latency at 1,000,000 recharges (target p95 100 ms)")
def window(ctx: Context, rows: int | None = None, batches: int | None = None,
           customers: int = 500, sellers: int = 4, samples: int | None = None,
           queries: list[WindowQuery] | None = None) -> list[Measurement]:
    """The console's recharges window at 1,000,000 recharges: p95 per page <= 100 ms."""
    rows = rows or _size("WINDOW_ROWS", WINDOW_ROWS)
    batches = batches or min(WINDOW_BATCHES, rows)
    if samples is None:
        samples = ctx.fixed_ops or max(20, round(40 * ctx.seconds))
    ctx.log(f"window: building {rows:,} recharges (load {os.getloadavg()[0]:.2f})")
    data = WindowBuilder(rows, batches, customers, sellers, seed=20_251_125,
                         log=ctx.log).build()
    ctx.log(f"window: built in {data.build_seconds:.1f} s; statuses {data.mix}")
    measurements = measure_window(ctx, data, samples, queries)
    for m in measurements:
        m.details["build_seconds"] = round(data.build_seconds, 1)
        m.details["status_mix"] = data.mix
    return measurements
