"""Call shop: rating CDRs in process, and importing a 100,000-row rate deck.

``callshop.rate``
    A 60,000-prefix deck (imported through ``callshop.services.import_deck``, then held
    in its in-memory index) rating a pool of CDRs (E.164 digits, answered seconds)
    with ``DeckIndex.cost_many``: longest-prefix match, billed seconds and the cost
    rounded to minor units. Baseline, in the same run: a bare dict longest-prefix-match
    loop over the same numbers (try lengths min(len, 15) down to 1 in a dict of the same
    prefixes) that rates nothing. Targets: ratio ≥ 0.5× and the issue's absolute target,
    300,000 CDRs/s.

``callshop.import``
    ``import_deck`` of a 100,000-row file (the plain ``prefix;description;price`` form
    with decimal commas, and the full form with billing, connect fee, tiers and windows),
    timed from the bytes to the committed rows, against one DB-API ``executemany`` of
    the same rows (already parsed, not timed) in one transaction. Targets: ratio ≥ 0.25×
    for the plain form and the issue's absolute target, 100,000 rows in ≤ 5 s, for both.

``callshop.cdr_import``
    ``import_file`` of an Asterisk Master.csv (18 columns) of 100,000 CDRs, end to end:
    parse, find booth or prepaid account, deduplicate on uniqueid, rate through the deck
    index (a 5,000-prefix deck), store the calls in bulk, debit the prepaid accounts
    through the ledger (one posting per batch), attach the calls of open booth sessions.
    A fresh file each repetition (new uniqueids). Mix: 60 % prepaid calls of 200
    accounts, 30 % calls of booths in an open session, 10 % booths not open; a fifth of
    all unanswered. Baseline, in the same run: the raw bulk store of as many ready-made
    call rows (COPY on PostgreSQL, one executemany on SQLite) in one transaction, nothing
    parsed, rated or charged. Targets: ratio ≥ 0.1× and, on PostgreSQL, the issue's
    absolute target, 20,000 CDRs/s.

``BENCH_CALLSHOP_PREFIXES``, ``BENCH_CALLSHOP_ROWS``, ``BENCH_CALLSHOP_CDRS`` lower the
sizes for a quick look.
"""

from __future__ import annotations

import os
import random
import secrets
import statistics
import time

from django.db import connection

from ficha.callshop import decks
from ficha.callshop import services as callshop
from ficha.callshop.models import Rate
from ficha.core import audit, roles

from ..runner import Context, Measurement, register
from . import _rawdb as rawdb

PREFIXES = 60_000
POOL = 200_000  # CDRs cycled through by both sides
RATE_TARGET = 300_000.0  # CDRs/s
RATE_RATIO = 0.5
IMPORT_ROWS = 100_000
IMPORT_SECONDS = 5.0
IMPORT_RATIO = 0.25

# Country codes of many sizes (1, 2 and 3 digits), as in a real international deck.
COUNTRY_CODES = (
    "1", "7", "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44",
    "45", "46", "47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61",
    "62", "63", "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95",
    "98", "211", "212", "213", "216", "218", "220", "221", "222", "223", "224", "225", "226",
    "227", "228", "229", "230", "231", "232", "233", "234", "235", "236", "237", "238",
    "239", "240", "241", "242", "243", "244", "245", "246", "248", "249", "250", "251",
    "252", "253", "254", "255", "256", "257", "258", "260", "261", "262", "263", "264",
    "265", "266", "267", "268", "269", "290", "291", "297", "298", "299", "350", "351",
    "352", "353", "354", "355", "356", "357", "358", "359", "370", "371", "372", "373",
    "374", "375", "376", "377", "378", "380", "381", "382", "383", "385", "386", "387",
    "389", "420", "421", "423", "500", "501", "502", "503", "504", "505", "506", "507",
    "508", "509", "590", "591", "592", "593", "594", "595", "596", "597", "598", "599",
    "670", "672", "673", "674", "675", "676", "677", "678", "679", "680", "681", "682",
    "685", "686", "687", "688", "689", "690", "691", "692", "850", "852", "853", "855",
    "856", "880", "886", "960", "961", "962", "963", "964", "965", "966", "967", "968",
    "970", "971", "972", "973", "974", "975", "976", "977", "992", "993", "994", "995",
    "996", "998",
)


def _size(name: str, default: int) -> int:
    raw = os.environ.get(f"BENCH_{name}", "")
    return int(raw) if raw.strip() else default


def _prefixes(count: int, rnd: random.Random) -> list[str]:
    """``count`` distinct prefixes: every country code, then operator/area prefixes of 1
    to 6 more digits under them."""
    out = dict.fromkeys(COUNTRY_CODES[:count])
    while len(out) < count:
        cc = rnd.choice(COUNTRY_CODES)
        out.setdefault(cc + str(rnd.randrange(10 ** rnd.randint(1, 6))))
    return list(out)


def _actor() -> audit.Actor:
    from ficha.accounts import services as accounts

    roles.sync_roles()
    user = accounts.create_staff(audit.SYSTEM, f"bench-rates-{secrets.token_hex(3)}",
                                 secrets.token_urlsafe(16), roles.OWNER, "Bench")
    return audit.Actor(user=user, source="cli")


def deck_file(prefixes: list[str], rnd: random.Random, *, full: bool) -> str:
    """A deck file over ``prefixes``: plain (``prefix;description;price`` with decimal
    commas) or full (header; billing, connect fee, grace, minimum cost, some tiers and
    windows)."""
    lines = []
    if full:
        lines.append("prefix;description;price;connect_fee;billing;grace;min_cost;tiers;"
                     "windows")
    for n, prefix in enumerate(prefixes):
        price = f"{rnd.randrange(1, 400_000) / 10_000:.4f}"
        if not full:
            lines.append(f"{prefix};Destination {n};{price.replace('.', ',')}")
            continue
        tiers = "300:0.01|1200:0.005" if n % 10 == 0 else ""
        windows = "sat+sun" if n % 25 == 0 else ""
        billing = ("60/60", "30/6", "1/1", "60/1")[n % 4]
        lines.append(f"{prefix};Destination {n};{price};0.{n % 5:02d};{billing};{n % 4};"
                     f"0.0{n % 3};{tiers};{windows}")
    return "\n".join(lines) + "\n"


# =========================================================================================
# callshop.rate
# =========================================================================================
@register("callshop.rate", "CDRs rated in process (60,000-prefix deck) vs a bare dict LPM")
def rate(ctx: Context, prefixes: int | None = None, pool: int | None = None
         ) -> list[Measurement]:
    count = prefixes or _size("CALLSHOP_PREFIXES", PREFIXES)
    pool_size = pool or POOL
    rnd = random.Random(20261202)
    chosen = _prefixes(count, rnd)
    name = f"callshop-rate-{secrets.token_hex(3)}"
    result = callshop.import_deck(_actor(), deck_file(chosen, rnd, full=False), name)
    assert result.ok, result.errors[:3]
    index = callshop.deck_index(result.deck)
    # Dialled numbers: a random prefix completed to 11-13 digits; durations 0-20 minutes
    # (a quarter unanswered).
    calls = []
    for _ in range(pool_size):
        prefix = rnd.choice(chosen)
        tail = max(0, rnd.randint(11, 13) - len(prefix))
        digits = prefix + "".join(rnd.choice("0123456789") for _ in range(tail))
        calls.append((digits, 0 if rnd.random() < 0.25 else rnd.randint(1, 1200)))
    table = {t.prefix: t for t in index.rows()}  # prefix -> row

    def work(fn):
        def run(n: int) -> None:
            done = 0
            while done < n:
                take = min(n - done, pool_size)
                fn(calls if take == pool_size else calls[:take])
                done += take
        return run

    def subject(batch) -> None:
        index.cost_many(batch)

    def baseline(batch) -> None:
        get = table.get
        for digits, _duration in batch:
            for length in range(min(len(digits), 15), 0, -1):
                if get(digits[:length]) is not None:
                    break

    # Both sides find the same rows.
    sample = calls[:1000]
    costs = index.cost_many(sample)
    for (digits, _d), terms in zip(sample, costs.terms, strict=True):
        expect = next(table[digits[:n]] for n in range(min(len(digits), 15), 0, -1)
                      if digits[:n] in table)
        assert terms is expect
    m = ctx.compare(f"callshop.rate[{count:,} prefixes]", work(subject), work(baseline),
                    unit="CDRs/s", baseline_unit="bare LPM lookups/s", target=RATE_RATIO,
                    subject_label="DeckIndex.cost_many: LPM + billed seconds + cost rounded",
                    baseline_label="bare dict LPM loop over the same numbers, no rating")
    m.details["load_average"] = os.getloadavg()
    # On a shared machine wall-clock rates follow the load; the process's CPU time does
    # not (much). One pass of the pool each, for the record (log and JSON only).
    cpu = {}
    for side, fn in (("subject", subject), ("baseline", baseline)):
        start = time.process_time()
        fn(calls)
        cpu[side] = round(pool_size / max(time.process_time() - start, 1e-9))
    m.details["cpu_time_rates"] = cpu
    ctx.log(f"callshop.rate: by CPU time {cpu['subject']:,} CDRs/s vs {cpu['baseline']:,} "
            f"bare LPM lookups/s (load average {os.getloadavg()[0]:.1f})")
    absolute = Measurement(
        name=f"callshop.rate[{count:,} prefixes] >= {RATE_TARGET:,.0f}/s", unit="CDRs/s",
        value=m.value, baseline=RATE_TARGET, baseline_unit="CDRs/s target", target=1.0,
        subject_label="DeckIndex.cost_many (median of the repetitions above)",
        baseline_label=f"the issue's target: {RATE_TARGET:,.0f} CDRs/s",
        details=m.details)
    return [m, absolute]


# =========================================================================================
# callshop.import
# =========================================================================================
def raw_insert(deck_id: int, rows: list[tuple]) -> None:
    """The baseline: one DB-API executemany of the rows in one transaction."""
    q = connection.ops.quote_name
    columns = ["deck_id", *decks.COLUMNS]
    mark = "?" if connection.vendor == "sqlite" else "%s"
    sql = (f"INSERT INTO {q(Rate._meta.db_table)} ({', '.join(q(c) for c in columns)}) "
           f"VALUES ({', '.join([mark] * len(columns))})")
    rawdb.executemany(sql, [(deck_id, *row) for row in rows])


@register("callshop.import", "100,000-row rate deck through import_deck vs a raw executemany")
def deck_import(ctx: Context, rows: int | None = None) -> list[Measurement]:
    count = rows or _size("CALLSHOP_ROWS", IMPORT_ROWS)
    rnd = random.Random(7)
    chosen = _prefixes(count, rnd)
    actor = _actor()
    tag = secrets.token_hex(3)
    out: list[Measurement] = []
    for form in ("plain", "full"):
        data = deck_file(chosen, rnd, full=form == "full").encode()
        parsed = decks.parse(data.decode())
        assert not parsed.errors and len(parsed.rows) == count, parsed.errors[:3]
        subject_times, baseline_times, ratios = [], [], []
        for i in range(ctx.repeats):
            order = ["subject", "baseline"] if i % 2 == 0 else ["baseline", "subject"]
            for side in order:
                if side == "subject":
                    start = time.perf_counter()
                    result = callshop.import_deck(actor, data, f"bench-{form}-{tag}-{i}")
                    subject_times.append(time.perf_counter() - start)
                    assert result.ok and result.written == count
                else:
                    deck = callshop.create_deck(actor, f"bench-raw-{form}-{tag}-{i}")
                    start = time.perf_counter()
                    raw_insert(deck.pk, parsed.rows)
                    baseline_times.append(time.perf_counter() - start)
            ratios.append(baseline_times[-1] / subject_times[-1])
            ctx.log(f"callshop.import[{form}]: rep {i + 1}/{ctx.repeats} import_deck "
                    f"{subject_times[-1]:.3f} s, raw executemany {baseline_times[-1]:.3f} s")
        t_subject = statistics.median(subject_times)
        t_baseline = statistics.median(baseline_times)
        details = {"rows": count, "form": form,
                   "import_seconds": [round(t, 4) for t in subject_times],
                   "raw_insert_seconds": [round(t, 4) for t in baseline_times],
                   "ratios": [round(r, 4) for r in ratios], "load_average": os.getloadavg()}
        name = f"callshop.import[{count:,} rows, {form}]"
        if form == "plain":
            out.append(Measurement(
                name=name, unit="rows/s", value=count / t_subject,
                baseline=count / t_baseline, baseline_unit="raw rows/s",
                ratio=statistics.median(ratios), target=IMPORT_RATIO,
                subject_label=f"import_deck from the file's bytes (median {t_subject:.3f} s)",
                baseline_label=f"one executemany of the parsed rows, one transaction (median "
                               f"{t_baseline:.3f} s)",
                details=details))
        out.append(Measurement(
            name=f"{name} <= {IMPORT_SECONDS:g} s", unit="rows/s", value=count / t_subject,
            baseline=IMPORT_ROWS / IMPORT_SECONDS, baseline_unit="rows/s target", target=1.0,
            subject_label=f"import_deck, median {t_subject:.3f} s",
            baseline_label=f"the issue's target: {IMPORT_ROWS:,} rows in {IMPORT_SECONDS:g} s",
            details=details))
    return out


# =========================================================================================
# callshop.cdr_import
# =========================================================================================
CDRS = 100_000
CDR_PREFIXES = 5_000
CDR_TARGET = 20_000.0  # CDRs/s, PostgreSQL
CDR_RATIO = 0.1
CDR_ACCOUNTS = 200
CDR_BOOTHS = 20


def cdr_file(rnd: random.Random, tag: str, count: int, prefixes: list[str],
             accounts: list[str], open_booths: list[str], closed_booths: list[str]) -> bytes:
    """An Asterisk Master.csv of ``count`` CDRs with uniqueids unique to ``tag``."""
    lines = []
    for n in range(count):
        pick = rnd.random()
        if pick < 0.6:
            account, channel = rnd.choice(accounts), f"PJSIP/{rnd.choice(open_booths)}-0a"
        elif pick < 0.9:
            account, channel = rnd.choice(open_booths), f"PJSIP/{rnd.choice(open_booths)}-0b"
        else:
            account, channel = rnd.choice(closed_booths), "PJSIP/x-0c"
        prefix = rnd.choice(prefixes)
        dst = "00" + prefix + str(rnd.randrange(10 ** max(1, 11 - len(prefix))))
        minute = n % 1440
        start = f"2026-12-01 {minute // 60:02d}:{minute % 60:02d}:00"
        if rnd.random() < 0.2:
            answer, billsec, disposition = "", 0, "NO ANSWER"
        else:
            answer, billsec, disposition = start, rnd.randint(1, 900), "ANSWERED"
        lines.append(
            f'"{account}","100","{dst}","booths","""Booth"" <100>","{channel}",'
            f'"PJSIP/trunk-0000002","Dial","PJSIP/{dst}@trunk,60","{start}","{answer}",'
            f'"{start}",{billsec + 5},{billsec},"{disposition}","DOCUMENTATION",'
            f'"{tag}.{n}",""')
    return ("\n".join(lines) + "\n").encode()


def _raw_calls(rows: list[list]) -> None:
    """The baseline: ready-made call rows stored in bulk, one transaction."""
    from django.db import transaction

    from ficha.callshop.cdr_import import store

    with transaction.atomic():
        store._insert_calls(rows)


@register("callshop.cdr_import", "100,000 CDRs imported end to end vs a raw bulk store")
def cdr_import_bench(ctx: Context, cdrs: int | None = None, prefixes: int | None = None
                     ) -> list[Measurement]:
    import datetime as dt

    from ficha.accounts import services as accounts
    from ficha.callshop.models import Booth, BoothSession

    count = cdrs or _size("CALLSHOP_CDRS", CDRS)
    rnd = random.Random(20261203)
    actor = _actor()
    tag = secrets.token_hex(3)
    chosen = _prefixes(prefixes or CDR_PREFIXES, rnd)
    result = callshop.import_deck(actor, deck_file(chosen, rnd, full=False),
                                  f"callshop-cdr-{tag}")
    assert result.ok, result.errors[:3]
    names = [f"acct-{tag}-{n}" for n in range(CDR_ACCOUNTS)]
    for name in names:
        customer = accounts.create_customer(audit.SYSTEM, name)
        accounts.adjust(audit.SYSTEM, customer, 10**12, "bench credit")
    booths = [Booth.objects.create(name=f"b-{tag}-{n}", accountcode=f"b-{tag}-{n}",
                                   endpoint=f"b-{tag}-{n}") for n in range(CDR_BOOTHS)]
    opened = booths[: CDR_BOOTHS // 2]
    for booth in opened:
        BoothSession.objects.create(booth=booth,
                                    opened_at=dt.datetime(2026, 11, 30, tzinfo=dt.UTC))
    open_names = [b.name for b in opened]
    closed_names = [b.name for b in booths[CDR_BOOTHS // 2:]]
    subject_times, baseline_times, ratios, cpu_times = [], [], [], []
    problems = 0
    for i in range(ctx.repeats):
        data = cdr_file(rnd, f"{tag}-{i}", count, chosen, names, open_names, closed_names)
        # The baseline's rows: what the import stores, built beforehand (not timed).
        now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
        raw_rows = [[None, None, None, None, "cdr", f"raw-{tag}-{i}-{n}", "100",
                     "0033140000000", "33140000000", None, "33", "Destination", 1000, 0, 60,
                     60, 0, 0, 0, "", "ended", "", "ANSWERED", now, now, now, None, 60, 60,
                     "XOF", 1, 0, 0, None] for n in range(count)]
        order = ["subject", "baseline"] if i % 2 == 0 else ["baseline", "subject"]
        for side in order:
            start = time.perf_counter()
            if side == "subject":
                cpu = time.process_time()
                imported = callshop.import_file(actor, data, name=f"bench-{i}")
                subject_times.append(time.perf_counter() - start)
                cpu_times.append(time.process_time() - cpu)
                problems += imported.problem_count
                assert imported.imported == count, imported.problems[:3]
            else:
                _raw_calls(raw_rows)
                baseline_times.append(time.perf_counter() - start)
        ratios.append(baseline_times[-1] / subject_times[-1])
        ctx.log(f"callshop.cdr_import: rep {i + 1}/{ctx.repeats} import_file "
                f"{subject_times[-1]:.3f} s ({count / subject_times[-1]:,.0f} CDRs/s; "
                f"{count / max(cpu_times[-1], 1e-9):,.0f} CDRs per CPU-second of this "
                f"process), raw store {baseline_times[-1]:.3f} s")
    t_subject = statistics.median(subject_times)
    t_baseline = statistics.median(baseline_times)
    details = {"cdrs": count, "import_seconds": [round(t, 4) for t in subject_times],
               "raw_store_seconds": [round(t, 4) for t in baseline_times],
               "ratios": [round(r, 4) for r in ratios], "problems": problems,
               "cpu_seconds": [round(t, 4) for t in cpu_times],
               "load_average": os.getloadavg()}
    name = f"callshop.cdr_import[{count:,} CDRs]"
    out = [Measurement(
        name=name, unit="CDRs/s", value=count / t_subject, baseline=count / t_baseline,
        baseline_unit="raw rows/s", ratio=statistics.median(ratios), target=CDR_RATIO,
        subject_label="import_file: parse, dedupe, rate, store, debit (median "
                      f"{t_subject:.3f} s)",
        baseline_label=f"bulk store of ready rows, one transaction (median {t_baseline:.3f} s)",
        details=details)]
    if ctx.vendor == "postgresql":
        out.append(Measurement(
            name=f"{name} >= {CDR_TARGET:,.0f}/s", unit="CDRs/s", value=count / t_subject,
            baseline=CDR_TARGET, baseline_unit="CDRs/s target", target=1.0,
            subject_label=f"import_file, median {t_subject:.3f} s",
            baseline_label=f"the issue's target on PostgreSQL: {CDR_TARGET:,.0f} CDRs/s",
            details=details))
    return out
