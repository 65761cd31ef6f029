"""Redemption against plain SQL: ``recharges.redeem_sql`` (PostgreSQL).

Three ways to redeem sold codes, run one after the other in the same run, each by 32
concurrent clients (forked processes, each with its own connection, customer, API token
and codes):

*baseline*  plain psycopg, no Django: per code one transaction writing the same rows as
            a redemption through the API (the throttle claim of the staff and customer
            keys, the code marked used, a ledger transaction and its two entries, the
            code's links, three tally rows, the attempt, the customer's new balance read,
            the audit row), with the statements a careful hand-written version sends;
*service*   ``recharges.services.redeem`` with the same staff actor (so the same audit
            row), as a door calls it;
*api*       ``POST /api/v1/recharges/redeem`` with a bearer token, through Django's test
            client: the whole WSGI application (middleware, authentication, the API
            layer, JSON in and out), without a socket.
*api-http*  the same requests over HTTP to ``ficha web`` as it runs in production
            (Granian, ``FICHA_WEB_WORKERS`` processes x ``FICHA_WEB_THREADS`` threads,
            default one process per core, one thread), sent by ``wrk`` (32 connections,
            each request with its client's token, customer and next code); skipped when
            wrk is not installed. Its PostgreSQL connections are the server's threads,
            not 32.

Reported: the service's and the API's redemptions/s as ratios of the baseline's (target
≥ 0.5× through the API). After the three runs the books are checked: every used code
credited exactly once (0 double credits), the ledger balanced, the liability equal to
the sold, unused codes.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import shutil
import threading
import time
from collections import Counter

from django.conf import settings
from django.db import connection, connections

from ficha.accounts import tokens
from ficha.accounts.models import Customer
from ficha.core import audit, roles
from ficha.core.codes import group
from ficha.core.services import currency
from ficha.ledger import services as ledger
from ficha.recharges import services as rs

from ..runner import Context, Measurement, register
from . import web
from .recharges import RedeemFixture, RedeemRun, _pct, _size, _tag, gather

CLIENTS = 32
SECONDS = 10
TARGET_API = 0.5


# --- the plain SQL redemption ------------------------------------------------------------
CLAIM = """
INSERT INTO core_throttle (scope, key, failures, last_failure_at)
VALUES ('redeem', %(staff_key)s, 0, %(now)s), ('redeem', %(account_key)s, 0, %(now)s)
ON CONFLICT (scope, key) DO UPDATE SET
    failures = CASE WHEN core_throttle.last_failure_at < %(stale)s THEN 0
                    ELSE core_throttle.failures END,
    last_failure_at = %(now)s
RETURNING locked_until"""
TAKE = """
UPDATE recharges_recharge SET status = 'used', used_at = %(now)s, used_door = 'api'
WHERE code = %(code)s AND status = 'sold' AND (expires_at IS NULL OR expires_at > %(now)s)
RETURNING id, amount, batch_id"""
POST = """
INSERT INTO ledger_transaction (kind, created_at, memo, reference, staff_id, shift_id,
                                source, source_ip, reverses_id)
VALUES ('recharge.redeem', %(now)s, %(memo)s, %(reference)s, %(staff)s, NULL, 'api',
        '127.0.0.1', NULL)
RETURNING id"""
ENTRIES = """
INSERT INTO ledger_entry (transaction_id, account_id, amount, currency)
VALUES (%(tx)s, %(liability)s, %(amount)s, %(currency)s),
       (%(tx)s, %(credit)s, -%(amount)s, %(currency)s)"""
LINK = """
UPDATE recharges_recharge SET used_by_id = %(customer)s, redeem_transaction_id = %(tx)s
WHERE id = %(id)s"""
TALLY = """
INSERT INTO recharges_tally (key, batch_id, count, value)
VALUES ('sold', %(batch)s, -1, -%(amount)s), ('used', %(batch)s, 1, %(amount)s),
       ('liability', %(batch)s, -1, -%(amount)s)"""
ATTEMPT = """
INSERT INTO recharges_redeemattempt (at, door, outcome, ip, mac, station, account,
                                     code_hint, code_length, recharge_id, customer_id,
                                     staff_id)
VALUES (%(now)s, 'api', 'success', '127.0.0.1', '', '', %(username)s, '', %(length)s,
        %(id)s, %(customer)s, %(staff)s)"""
BALANCE = "SELECT SUM(amount) FROM ledger_entry WHERE account_id = %(credit)s"
AUDIT = """
INSERT INTO core_auditlog (at, actor_id, actor_label, source, ip, action, object_type,
                           object_id, summary, before, after)
VALUES (%(now)s, %(staff)s, %(staff_name)s, 'api', '127.0.0.1', 'recharges.redeem',
        'recharges.recharge', %(id)s, %(summary)s, NULL, %(after)s)"""


def plain_redeem(cur, code: str, who: dict) -> bool:
    """One redemption in plain SQL on a psycopg cursor (autocommit off): True if credited.
    The caller commits."""
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    p = {**who, "now": now, "stale": now - dt.timedelta(days=1), "code": code}
    cur.execute(CLAIM, p)
    if any(locked and locked > now for (locked,) in cur.fetchall()):
        return False
    cur.execute(TAKE, p)
    row = cur.fetchone()
    if row is None:
        return False
    p["id"], p["amount"], p["batch"] = row
    p["memo"], p["reference"] = f"recharge {group(code)}", f"recharge:{row[0]}"
    cur.execute(POST, p)
    p["tx"] = cur.fetchone()[0]
    cur.execute(ENTRIES, p)
    cur.execute(LINK, p)
    cur.execute(TALLY, p)
    p["length"] = len(code)
    cur.execute(ATTEMPT, p)
    cur.execute(BALANCE, p)
    balance = -int(cur.fetchone()[0] or 0)
    p["summary"] = f"Recharge {group(code)} redeemed for {who['username']}"
    p["after"] = json.dumps({"customer": who["customer"], "amount": p["amount"],
                             "balance": balance, "code": code})
    cur.execute(AUDIT, p)
    return True


# --- clients -------------------------------------------------------------------------------
def _client(kind: str, i: int, codes: list[str], who: dict, seconds: float, barrier,
            out) -> None:
    connections.close_all()  # never use a connection inherited from the parent
    result = {"ok": 0, "reasons": Counter(), "lat": [], "start": 0.0, "end": 0.0,
              "exhausted": False, "error": ""}
    pg = None
    try:
        if kind == "baseline":
            import psycopg

            s = connection.settings_dict
            pg = psycopg.connect(host=s["HOST"] or None, port=s["PORT"] or None,
                                 user=s["USER"] or None, password=s["PASSWORD"] or None,
                                 dbname=s["NAME"], autocommit=False)
            cur = pg.cursor()

            def once(code: str) -> None:
                ok = plain_redeem(cur, code, who)
                pg.commit()
                if not ok:
                    raise rs.RechargeError("invalid", "not redeemed")
        elif kind == "service":
            from django.contrib.auth import get_user_model

            customer = Customer.objects.get(pk=who["customer"])
            act = audit.Actor(user=get_user_model().objects.get(pk=who["staff"]),
                              ip="127.0.0.1", source="api")
            source = rs.Source(ip="127.0.0.1", account=customer.username, door="api")
            rs.get_by_code("0")  # warm up the connection

            def once(code: str) -> None:
                rs.redeem(code, customer=customer, source=source, actor=act)
        else:
            from django.test import Client

            client = Client(HTTP_AUTHORIZATION=f"Bearer {who['secret']}",
                            HTTP_HOST="127.0.0.1")
            client.get("/api/v1/me")  # warm up: the first request builds the API

            def once(code: str) -> None:
                response = client.post("/api/v1/recharges/redeem",
                                       {"code": code, "customer_id": who["customer"]},
                                       content_type="application/json")
                if response.status_code != 200:
                    raise rs.RechargeError(response.json().get("code", "error"),
                                           response.content.decode()[:200])

        try:
            barrier.wait(timeout=300)
        except threading.BrokenBarrierError:
            result["error"] = "start barrier broken"
            return
        result["start"] = time.time()
        deadline = time.perf_counter() + seconds
        for code in codes:
            t0 = time.perf_counter()
            if t0 >= deadline:
                break
            try:
                once(code)
                result["ok"] += 1
            except rs.RechargeError as exc:
                result["reasons"][exc.reason] += 1
            result["lat"].append(time.perf_counter() - t0)
        else:
            result["exhausted"] = True
        result["end"] = time.time()
    except BaseException as exc:  # reported to the parent
        result["error"] = f"{type(exc).__name__}: {exc}"
        result["end"] = time.time()
    finally:
        if pg is not None:
            pg.close()
        connections.close_all()
        out.put(result)


# --- over HTTP, to the production server ---------------------------------------------------
WRK_SCRIPT = r"""
local lines, n, i = {}, 0, 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
function init(args)
  for line in io.lines(args[1] .. "/codes-" .. id .. ".txt") do
    n = n + 1
    lines[n] = line
  end
end
function request()
  i = i + 1
  if i > n then i = n end  -- out of codes: the repeat is refused, so counted as failed
  local code, customer, secret = lines[i]:match("(%S+) (%S+) (%S+)")
  return wrk.format("POST", "/api/v1/recharges/redeem",
                    {["Authorization"] = "Bearer " .. secret,
                     ["Content-Type"] = "application/json"},
                    '{"code": "' .. code .. '", "customer_id": ' .. customer .. '}')
end
"""


def _run_http(codes: list[list[str]], whos: list[dict], seconds: float,
              base: str, workdir: str) -> RedeemRun:
    """wrk sends every client's codes (2 threads, one connection per client) to ``base``;
    redeemed = this run's codes the database shows used."""
    import subprocess

    from ficha.recharges.models import Recharge

    n = len(codes)
    run = RedeemRun(mode="api-http", clients=n)
    lines = [f"{code} {who['customer']} {who['secret']}"
             for row in zip(*codes, strict=False) for code, who in zip(row, whos, strict=True)]
    threads = 2 if n >= 2 else 1
    for t in range(threads):
        with open(os.path.join(workdir, f"codes-{t + 1}.txt"), "w") as f:
            f.write("\n".join(lines[t::threads]) + "\n")
    script = os.path.join(workdir, "redeem.lua")
    with open(script, "w") as f:
        f.write(WRK_SCRIPT)
    cmd = ["wrk", f"-t{threads}", f"-c{n}", f"-d{max(1, round(seconds))}s", "--latency",
           "--timeout", f"{web.TIMEOUT_S}s", "-s", script, base, "--", workdir]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120)
    rate, p99, failed = web.parse_wrk(out.stdout)
    mine = [code for row in codes for code in row]

    def count_used() -> int:
        return sum(Recharge.objects.filter(code__in=mine[i:i + 2000], status="used").count()
                   for i in range(0, len(mine), 2000))

    # requests wrk gave up on at its end may still be answered: wait until none is left
    used, deadline = count_used(), time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(0.5)
        again = count_used()
        if again == used:
            break
        used = again
    run.ok = used
    run.elapsed = used / rate if rate else float(seconds)
    run.latencies = [p99 / 1000]  # wrk gives percentiles only: p99 stands for every one
    if failed:
        run.reasons["http_failed"] += failed
    if used >= len(mine):
        run.exhausted = n
    return run


def _run(kind: str, codes: list[list[str]], whos: list[dict], seconds: float) -> RedeemRun:
    n = len(codes)
    run = RedeemRun(mode=kind, clients=n)
    connections.close_all()
    mp = multiprocessing.get_context("fork")
    barrier, out = mp.Barrier(n + 1), mp.Queue()
    workers = [mp.Process(target=_client, args=(kind, i, codes[i], whos[i], seconds,
                                                 barrier, out))
               for i in range(n)]
    gather(run, workers, barrier, out, seconds)
    return run


@register("recharges.redeem_sql",
          "redemptions/s, 32 clients: service and HTTP API vs plain psycopg (PostgreSQL)")
def redeem_vs_sql(ctx: Context, clients: int | None = None,
                  seconds: float | None = None, http: bool | None = None) -> list[Measurement]:
    """Service and API redemptions/s vs a plain-psycopg redemption writing the same rows,
    32 concurrent clients each, in the same run (and over HTTP to ``ficha web`` when wrk is
    installed, or ``http`` says so)."""
    if ctx.vendor != "postgresql":
        ctx.log("recharges.redeem_sql: PostgreSQL only (the baseline is plain psycopg)")
        return []
    clients = clients or _size("REDEEM_CLIENTS", CLIENTS)
    seconds = seconds or _size("REDEEM_SECONDS", SECONDS)
    per_client = ctx.fixed_ops or max(60, math.ceil(1_500 * seconds / clients))
    fx = RedeemFixture(clients)
    liability = ledger.account_id(ledger.RECHARGE_LIABILITY)
    cur = currency()
    whos = []
    for i, customer in enumerate(fx.customers):
        token, secret = tokens.create_token(audit.SYSTEM, f"bench-{_tag()}-{i}",
                                            roles.CASHIER)
        staff = token.user
        whos.append({"customer": customer.pk, "credit": customer.credit_account_id,
                     "username": customer.username, "staff": staff.pk,
                     "staff_name": staff.get_username(), "secret": secret,
                     "staff_key": f"staff:{staff.get_username().lower()}"[:128],
                     "account_key": f"account:{customer.username.lower()}"[:128],
                     "liability": liability, "currency": cur})
    # build the URL resolver and the API once, before the clients fork
    from django.test import Client

    Client(HTTP_HOST="127.0.0.1").get("/api/v1/me")
    rounds = 1 if ctx.fixed_ops else max(1, min(3, ctx.repeats // 2))
    kinds = ["baseline", "service", "api"]
    if http is None:
        http = shutil.which("wrk") is not None
        if not http:
            ctx.log("recharges.redeem_sql: no api-http run, wrk is not installed")
    server = workdir = None
    if http:
        import tempfile

        kinds.append("api-http")
        workdir = tempfile.mkdtemp(prefix="ficha-redeem-http-")
        server = web.servers(settings.WEB_WORKERS, settings.WEB_THREADS)[0][0]  # ficha web
        connections.close_all()
        web._start(server, workdir)
    every: dict[str, list[RedeemRun]] = {kind: [] for kind in kinds}
    try:
        if server is not None:
            web.wait_healthz(server)
        for n in range(rounds):  # alternate the kinds, so load from elsewhere hits all alike
            for kind in kinds if n % 2 == 0 else kinds[::-1]:
                codes = fx.sold_codes(clients, per_client)
                ctx.log(f"recharges.redeem_sql: {clients} clients, {kind}, {seconds:g} s, "
                        f"load {os.getloadavg()[0]:.2f}")
                if kind == "api-http":
                    run = _run_http(codes, whos, seconds, server.base, workdir)
                else:
                    run = _run(kind, codes, whos, seconds)
                every[kind].append(run)
                fx.runs.append(run)
                ctx.log(f"recharges.redeem_sql: {kind}: {run.summary()}")
    finally:
        if server is not None:
            web._stop(server)
            shutil.rmtree(workdir, ignore_errors=True)
    runs = {kind: sorted(r, key=lambda run: run.rate)[len(r) // 2]
            for kind, r in every.items()}  # the (upper) median round of each
    books = fx.verify()
    ctx.log(f"recharges.redeem_sql: books: {books}")
    if books["problems"]:
        raise RuntimeError("redemption broke the books: " + "; ".join(books["problems"]))
    for run in fx.runs:
        if run.errors:
            raise RuntimeError(f"{run.mode} clients failed: {run.errors[:3]}")
        if run.reasons:
            raise RuntimeError(f"{run.mode}: refused redemptions {dict(run.reasons)}")
        if run.exhausted:
            ctx.log(f"warning: {run.exhausted} {run.mode} clients ran out of codes; the "
                    f"rate is a lower bound")
    base = runs["baseline"]
    details = {"books": books, "baseline": base.summary(),
               "double_credits": books["double_credits"], "load_average": os.getloadavg(),
               "rates": {k: [round(r.rate, 1) for r in v] for k, v in every.items()},
               "latency_ms_p95": {k: round(_pct(r.latencies or [0], 95) * 1000, 2)
                                  for k, r in runs.items()}}
    label = (f"plain psycopg, same rows, {clients} processes "
             f"(p50 {round(_pct(base.latencies or [0], 50) * 1000, 2)} ms)")
    found = [
        Measurement(name=f"recharges.redeem_sql[service {clients}]", unit="redemptions/s",
                    value=runs["service"].rate, baseline=base.rate,
                    baseline_unit="plain SQL redemptions/s", target=TARGET_API,
                    subject_label="services.redeem with a staff actor (audit row)",
                    baseline_label=label, details={**details,
                                                   "run": runs["service"].summary()}),
        Measurement(name=f"recharges.redeem_sql[api {clients}]", unit="redemptions/s",
                    value=runs["api"].rate, baseline=base.rate,
                    baseline_unit="plain SQL redemptions/s", target=TARGET_API,
                    subject_label="POST /api/v1/recharges/redeem (bearer token, WSGI app "
                                  "via the test client)",
                    baseline_label=label, details={**details, "run": runs["api"].summary()}),
    ]
    if "api-http" in runs:
        found.append(Measurement(
            name=f"recharges.redeem_sql[api-http {clients}]", unit="redemptions/s",
            value=runs["api-http"].rate, baseline=base.rate,
            baseline_unit="plain SQL redemptions/s", target=TARGET_API,
            subject_label=f"POST /api/v1/recharges/redeem over HTTP: {server.label}, "
                          f"wrk {clients} connections",
            baseline_label=label, details={**details, "run": runs["api-http"].summary()}))
    return found
