"""Throttling of anything a stranger can guess (codes, passwords, PINs).

Failures are counted per source key ("ip:10.0.0.7", "mac:aa:bb:…", "station:3",
"account:alice") within a scope ("redeem", "portal_login", "staff_login"). After
``free`` failures each further failure locks the key for a doubling time (2 s, 4 s,
8 s, … up to ``max_seconds``); at ``hard_limit`` failures it is locked for the whole
window. Failures are forgotten ``window_seconds`` after the last one.

Attempts are *claimed* before they are evaluated: :func:`claim` counts the attempt as a
failure up front under a row lock, and :func:`forgive` takes it back when it succeeded.
So a burst of parallel guesses cannot slip through between check and count.

Refused attempts (the key was locked, nothing was evaluated) are counted too, cheaply:
one :class:`ThrottleTally` row per scope and minute plus a counter on the key's row,
bumped once per request (:func:`flush`), not a row per attempt. When a minute's refusals
in a scope reach ``FICHA_FLOOD_REFUSED_PER_MINUTE`` a brute-force alert is raised at once,
naming the busiest sources; :func:`refused_count` lets periodic alarms add refusals to
the failures they count.

Login keys (``login:<name>``, see ``ficha.accounts.logins``) carry the per-account
budget for clients an account does not know: a short back-off and a hard daily cap.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Sum
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from . import clock
from .models import Throttle, ThrottleTally


@dataclass(frozen=True)
class Policy:
    free: int = 3
    base_seconds: int = 2
    max_seconds: int = 3600
    window_seconds: int = 24 * 3600
    # After this many failures in the window the key is locked for the whole window.
    hard_limit: int = 20


POLICIES: dict[str, Policy] = {
    "redeem": Policy(free=3, base_seconds=2, max_seconds=3600),
    "portal_login": Policy(free=5, base_seconds=2, max_seconds=900),
    "staff_login": Policy(free=5, base_seconds=2, max_seconds=900),
}
DEFAULT = Policy()


# Keys that name a customer or staff account: a stranger can type anyone's username, so
# these keys only slow guessing down (short back-off, no long lock-out) — the guesser's
# own IP, MAC or station keys carry the long lock-out instead.
ACCOUNT_KEY_PREFIXES = ("user:", "account:", "staff:")
ACCOUNT_MAX_SECONDS = 300


# Keys of the per-account budget for unknown clients (ficha.accounts.logins): they back
# off like account keys, and after the daily cap the account refuses unknown clients for
# the rest of the day (its known browsers and stations are not affected).
LOGIN_KEY_PREFIX = "login:"
LOGIN_DAILY_CAP = 30


# Keys of a hotspot gateway every phone reaches Ficha through ("gateway:nas:hall"): its
# phones are told apart by a MAC the phone itself states (the portal's query string, or
# a randomised Wi-Fi MAC), so a guesser rotating MACs is held back by the gateway's key —
# loosely, as one guesser would otherwise lock every customer of the hotspot out: more
# free failures, a short lock at most, counts forgotten after ten quiet minutes, never a
# day-long lock. While someone guesses, one try per GATEWAY_MAX_SECONDS gets through.
GATEWAY_KEY_PREFIX = "gateway:"
GATEWAY_FREE = 10
GATEWAY_MAX_SECONDS = 300
GATEWAY_WINDOW_SECONDS = 600


def login_daily_cap() -> int:
    return int(getattr(settings, "FICHA_LOGIN_DAILY_CAP", LOGIN_DAILY_CAP))


def policy(scope: str, key: str = "") -> Policy:
    p = POLICIES.get(scope, DEFAULT)
    if key.startswith(LOGIN_KEY_PREFIX):
        return replace(p, max_seconds=min(p.max_seconds, ACCOUNT_MAX_SECONDS),
                       hard_limit=login_daily_cap(), window_seconds=24 * 3600)
    if key.startswith(GATEWAY_KEY_PREFIX):
        return replace(p, free=max(p.free, GATEWAY_FREE),
                       max_seconds=min(p.max_seconds, GATEWAY_MAX_SECONDS),
                       window_seconds=GATEWAY_WINDOW_SECONDS, hard_limit=10**9)
    if key.startswith(ACCOUNT_KEY_PREFIXES):
        p = replace(p, hard_limit=10**9, max_seconds=min(p.max_seconds, ACCOUNT_MAX_SECONDS))
    return p


def lock_seconds(p: Policy, failures: int) -> int:
    """How long a key is locked after its ``failures``-th failure."""
    if failures >= p.hard_limit:
        return p.window_seconds
    over = failures - p.free
    if over <= 0:
        return 0
    return min(p.max_seconds, p.base_seconds * 2 ** min(over - 1, 30))


def _clean(keys: Iterable[str | None]) -> list[str]:
    return sorted({k[:128] for k in keys if k})


def retry_after(scope: str, keys: Iterable[str | None]) -> int:
    """Seconds until these keys may try again (0: now)."""
    keys = _clean(keys)
    if not keys:
        return 0
    now = clock.now()
    latest = (
        Throttle.objects.filter(scope=scope, key__in=keys, locked_until__gt=now)
        .order_by("-locked_until")
        .values_list("locked_until", flat=True)
        .first()
    )
    if latest is None:
        return 0
    return max(1, int((latest - now).total_seconds() + 0.999))


# claim() and forgive() run on every code and login attempt, so they speak SQL directly:
# a handful of short statements instead of the ORM's query building (which cost more
# than the rest of a redemption together).
_COLS = ("id", "key", "failures", "locked_until", "last_failure_at")


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _read_dt(value) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value


def _write_dt(value: dt.datetime | None):
    return connection.ops.adapt_datetimefield_value(value)


def _lock_rows(cur, scope: str, keys: list[str], *, create: bool) -> list[list]:
    """The keys' rows, locked (FOR UPDATE on PostgreSQL; SQLite's write transaction
    already excludes every other writer), created first when ``create``."""
    table = _q(Throttle._meta.db_table)
    if create:
        cur.execute(
            f"INSERT INTO {table} ({_q('scope')}, {_q('key')}, {_q('failures')}) VALUES "
            + ", ".join(["(%s, %s, 0)"] * len(keys))
            + f" ON CONFLICT ({_q('scope')}, {_q('key')}) DO NOTHING",
            [v for key in keys for v in (scope, key)],
        )
    lock = " FOR UPDATE" if connection.vendor == "postgresql" else ""
    cur.execute(
        f"SELECT {', '.join(_q(c) for c in _COLS)} FROM {table} WHERE {_q('scope')} = %s "
        f"AND {_q('key')} IN ({', '.join(['%s'] * len(keys))}) ORDER BY {_q('key')}{lock}",
        [scope, *keys],
    )
    return [[pk, key, failures, _read_dt(locked), _read_dt(last)]
            for pk, key, failures, locked, last in cur.fetchall()]


def _save(cur, pk: int, failures: int, locked_until, last_failure_at) -> None:
    cur.execute(
        f"UPDATE {_q(Throttle._meta.db_table)} SET {_q('failures')} = %s, "
        f"{_q('locked_until')} = %s, {_q('last_failure_at')} = %s WHERE {_q('id')} = %s",
        [failures, _write_dt(locked_until), _write_dt(last_failure_at), pk],
    )


def claim(scope: str, keys: Iterable[str | None]) -> int:
    """Claim one attempt. Returns 0 if it may be evaluated, else seconds to wait.

    A claimed attempt counts as a failure until :func:`forgive` is called.
    """
    keys = _clean(keys)
    if not keys:
        return 0
    now = clock.now()
    with transaction.atomic(), connection.cursor() as cur:
        rows = _lock_rows(cur, scope, keys, create=True)
        waits = [(locked - now).total_seconds() for _pk, _k, _f, locked, _l in rows
                 if locked and locked > now]
        if not waits:
            _count_failure(cur, scope, rows, now)
            return 0
    note_refused(scope, keys)  # after our own transaction: written now unless the caller's
    return max(1, int(max(waits) + 0.999))


def _count_failure(cur, scope: str, rows: list[list], now: dt.datetime) -> None:
    for pk, key, failures, _locked, last in rows:
        p = policy(scope, key)
        if last and (now - last).total_seconds() > p.window_seconds:
            failures = 0
        failures += 1
        seconds = lock_seconds(p, failures)
        _save(cur, pk, failures, now + dt.timedelta(seconds=seconds) if seconds else None,
              now)


def forgive(scope: str, keys: Iterable[str | None]) -> None:
    """The claimed attempt succeeded: take back its failure and the lock it set.

    A claim is evaluated only when none of its keys is locked, and while the claim's own
    lock stands no other attempt is counted; so undoing the claim leaves the keys
    unlocked (the earlier failures still count: the next wrong attempt locks again; a
    stranger's failure counted in parallel during the free attempts loses its lock the
    same way). Keeping a lock here refused the next right password from another new
    browser for a while."""
    keys = _clean(keys)
    if not keys:
        return
    with transaction.atomic(), connection.cursor() as cur:
        for pk, _key, failures, _locked, last in _lock_rows(cur, scope, keys, create=False):
            _save(cur, pk, max(0, failures - 1), None, last)


def reset(scope: str, key: str) -> int:
    """Unlock a key (an operator's decision; the caller audits it)."""
    return Throttle.objects.filter(scope=scope, key=key).update(failures=0, locked_until=None)


def locked_now(scope: str | None = None):
    qs = Throttle.objects.filter(locked_until__gt=clock.now())
    if scope:
        qs = qs.filter(scope=scope)
    return qs.order_by("-locked_until")


def failures(scope: str, key: str) -> int:
    """Failures currently counted for one key (0 when forgotten or never seen)."""
    row = Throttle.objects.filter(scope=scope, key=key[:128]).values_list(
        "failures", "last_failure_at").first()
    if row is None:
        return 0
    n, last = row
    if last and (clock.now() - last).total_seconds() > policy(scope, key).window_seconds:
        return 0
    return n


def refused_total(scope: str, key: str) -> int:
    """Attempts of one key refused so far (written after each request; see flush)."""
    return Throttle.objects.filter(scope=scope, key=key[:128]).values_list(
        "refused", flat=True).first() or 0


# --- refused attempts: aggregated counting and the flood alarm ---------------------------
FLOOD_REFUSED_PER_MINUTE = 60

# What a scope's attempts are, for the alarm (the venue reads it); and the alert's dedupe
# key, shared with the failure-rate alarm of the same scope so that one flood is one alert.

SCOPE_LABELS = {
    "redeem": _("recharge code attempts"),
    "portal_login": _("customer logins"),
    "staff_login": _("staff logins"),
}
FLOOD_DEDUPE = {"redeem": "bruteforce"}

log = logging.getLogger(__name__)
_pending_lock = threading.Lock()
_pending: Counter = Counter()  # (scope, minute, key or "") -> refused attempts not yet written


def discard_pending() -> None:
    """Forget refusals not yet written (tests start clean)."""
    with _pending_lock:
        _pending.clear()


def flood_threshold() -> int:
    return int(getattr(settings, "FICHA_FLOOD_REFUSED_PER_MINUTE", FLOOD_REFUSED_PER_MINUTE))


def _minute(at: dt.datetime) -> dt.datetime:
    return at.replace(second=0, microsecond=0)


def note_refused(scope: str, keys: list[str]) -> None:
    """Count a refused attempt. The caller's transaction may roll back (a refused
    redemption does), so the count waits in memory and is written by :func:`flush` at the
    end of the request, or right now when no transaction is open."""
    minute = _minute(clock.now())
    with _pending_lock:
        _pending[(scope, minute, "")] += 1
        for key in keys:
            _pending[(scope, minute, key)] += 1
    if not connection.in_atomic_block:
        flush()


def flush() -> list[str]:
    """Write the refused attempts counted in this process; raise the flood alarm when a
    minute of a scope reaches the threshold. Returns the scopes that alarmed.

    Runs after every request (:func:`flush_after_request`); cheap when nothing is
    pending."""
    if not _pending:
        return []
    with _pending_lock:
        pending = dict(_pending)
        _pending.clear()
    table = _q(Throttle._meta.db_table)
    tally = _q(ThrottleTally._meta.db_table)
    alarms: list[tuple[str, dt.datetime, int, int]] = []
    threshold = flood_threshold()
    with transaction.atomic(), connection.cursor() as cur:
        for (scope, minute, key), n in sorted(pending.items(), key=lambda kv: kv[0][2]):
            if key:
                cur.execute(
                    f"UPDATE {table} SET {_q('refused')} = {_q('refused')} + %s, "
                    f"{_q('last_refused_at')} = %s WHERE {_q('scope')} = %s AND {_q('key')} = %s",
                    [n, _write_dt(clock.now()), scope, key],
                )
                continue
            cur.execute(
                f"INSERT INTO {tally} ({_q('scope')}, {_q('minute')}, {_q('refused')}) "
                f"VALUES (%s, %s, %s) ON CONFLICT ({_q('scope')}, {_q('minute')}) DO UPDATE "
                f"SET {_q('refused')} = {tally}.{_q('refused')} + %s RETURNING {_q('refused')}",
                [scope, _write_dt(minute), n, n],
            )
            total = cur.fetchone()[0]
            before = total - n
            # alarm when this flush crossed the threshold (or another multiple of it, so
            # an ongoing flood keeps refreshing the open alert)
            if threshold > 0 and total // threshold > before // threshold:
                alarms.append((scope, minute, total, threshold))
    for scope, _minute_at, total, threshold in alarms:
        _flood_alarm(scope, total, threshold)
    return [a[0] for a in alarms]


def flush_after_request(**_signal_kwargs) -> None:
    """``request_finished`` receiver: the response is gone, so a failing write is logged,
    never raised (the counts are lost, not the request)."""
    try:
        flush()
    except DatabaseError:
        log.exception("could not write refused-attempt counts")


def refused_count(scope: str, window_seconds: int) -> int:
    """Attempts refused in ``scope`` during the last ``window_seconds`` (whole minutes).

    Periodic alarms call it; it also forgets tallies older than a month."""
    flush()
    prune_tallies()
    since = _minute(clock.now() - dt.timedelta(seconds=window_seconds))
    return ThrottleTally.objects.filter(scope=scope, minute__gte=since).aggregate(
        n=Sum("refused"))["n"] or 0


def top_refused(scope: str, window_seconds: int, limit: int = 5) -> list[tuple[str, int]]:
    """The keys refused most often lately (all-time counts of keys refused in the window)."""
    since = clock.now() - dt.timedelta(seconds=window_seconds)
    return list(Throttle.objects.filter(scope=scope, last_refused_at__gte=since)
                .order_by("-refused").values_list("key", "refused")[:limit])


def _flood_alarm(scope: str, total: int, threshold: int) -> None:
    from . import alerts

    top = top_refused(scope, 120)
    with alerts.in_venue_language():
        what = SCOPE_LABELS.get(scope, scope)
        sources = ", ".join(f"{k} ({n})" for k, n in top) or gettext("many sources")
        message = gettext(
            "%(n)d %(what)s refused by the throttle in one minute (alarm at %(threshold)d). "
            "Someone is guessing. Most refused: %(sources)s."
        ) % {"n": total, "what": what, "threshold": threshold, "sources": sources}
    alerts.raise_alert(alerts.BRUTEFORCE, message, source=scope,
                       data={"scope": scope, "refused_per_minute": total,
                             "threshold": threshold, "top": top},
                       dedupe_key=FLOOD_DEDUPE.get(scope, f"flood:{scope}"))


def prune_tallies(days: int = 30) -> int:
    """Forget per-minute tallies older than ``days``."""
    cutoff = clock.now() - dt.timedelta(days=days)
    return ThrottleTally.objects.filter(minute__lt=cutoff).delete()[0]
