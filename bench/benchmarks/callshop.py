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

``BENCH_CALLSHOP_PREFIXES``, ``BENCH_CALLSHOP_ROWS`` lower the sizes for a quick look.
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
    values = [(deck_id, *row) for row in rows]
    connection.ensure_connection()
    raw = connection.connection
    if connection.vendor == "sqlite":
        cur = raw.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            cur.executemany(sql, values)
        except BaseException:
            raw.rollback()
            raise
        raw.commit()
    else:
        with raw.transaction(), raw.cursor() as cur:
            cur.executemany(sql, values)


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
