"""Throttling of anything a stranger can guess (codes, passwords, PINs).

Failures are counted per source key ("ip:10.0.0.7", "mac:aa:bb:…", "station:3",
"account:alice") within a scope ("redeem", "portal_login", "staff_login"). After
``free`` failures each further failure locks the key for a doubling time (2 s, 4 s,
8 s, … up to ``max_seconds``); at ``hard_limit`` failures it is locked for the whole
window. Failures are forgotten ``window_seconds`` after the last one.

Attempts are *claimed* before they are evaluated: :func:`claim` counts the attempt as a
failure up front under a row lock, and :func:`forgive` takes it back when it succeeded.
So a burst of parallel guesses cannot slip through between check and count.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, replace

from django.db import connection, transaction
from django.utils.dateparse import parse_datetime

from . import clock
from .models import Throttle


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


def policy(scope: str, key: str = "") -> Policy:
    p = POLICIES.get(scope, DEFAULT)
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
        if waits:
            return max(1, int(max(waits) + 0.999))
        for pk, key, failures, _locked, last in rows:
            p = policy(scope, key)
            if last and (now - last).total_seconds() > p.window_seconds:
                failures = 0
            failures += 1
            seconds = lock_seconds(p, failures)
            _save(cur, pk, failures, now + dt.timedelta(seconds=seconds) if seconds else None,
                  now)
    return 0


def forgive(scope: str, keys: Iterable[str | None]) -> None:
    """The claimed attempt succeeded: take back its failure."""
    keys = _clean(keys)
    if not keys:
        return
    now = clock.now()
    with transaction.atomic(), connection.cursor() as cur:
        for pk, key, failures, locked, last in _lock_rows(cur, scope, keys, create=False):
            p = policy(scope, key)
            failures = max(0, failures - 1)
            seconds = lock_seconds(p, failures)
            if not seconds:
                locked = None
            elif last:
                locked = max(now, last + dt.timedelta(seconds=seconds))
            _save(cur, pk, failures, locked, last)


def reset(scope: str, key: str) -> int:
    """Unlock a key (an operator's decision; the caller audits it)."""
    return Throttle.objects.filter(scope=scope, key=key).update(failures=0, locked_until=None)


def locked_now(scope: str | None = None):
    qs = Throttle.objects.filter(locked_until__gt=clock.now())
    if scope:
        qs = qs.filter(scope=scope)
    return qs.order_by("-locked_until")
