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

from django.db import IntegrityError, transaction

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


def _rows(scope: str, keys: list[str]) -> list[Throttle]:
    existing = {t.key for t in Throttle.objects.filter(scope=scope, key__in=keys)}
    for key in keys:
        if key not in existing:
            try:
                with transaction.atomic():
                    Throttle.objects.create(scope=scope, key=key)
            except IntegrityError:
                pass  # created meanwhile by a parallel attempt
    return list(Throttle.objects.select_for_update().filter(scope=scope, key__in=keys)
                .order_by("key"))


def claim(scope: str, keys: Iterable[str | None]) -> int:
    """Claim one attempt. Returns 0 if it may be evaluated, else seconds to wait.

    A claimed attempt counts as a failure until :func:`forgive` is called.
    """
    keys = _clean(keys)
    if not keys:
        return 0
    now = clock.now()
    with transaction.atomic():
        rows = _rows(scope, keys)
        waits = [(r.locked_until - now).total_seconds() for r in rows
                 if r.locked_until and r.locked_until > now]
        if waits:
            return max(1, int(max(waits) + 0.999))
        for r in rows:
            p = policy(scope, r.key)
            if r.last_failure_at and (now - r.last_failure_at).total_seconds() > p.window_seconds:
                r.failures = 0
            r.failures += 1
            r.last_failure_at = now
            seconds = lock_seconds(p, r.failures)
            r.locked_until = now + dt.timedelta(seconds=seconds) if seconds else None
            r.save(update_fields=["failures", "last_failure_at", "locked_until"])
    return 0


def forgive(scope: str, keys: Iterable[str | None]) -> None:
    """The claimed attempt succeeded: take back its failure."""
    keys = _clean(keys)
    if not keys:
        return
    now = clock.now()
    with transaction.atomic():
        for r in Throttle.objects.select_for_update().filter(scope=scope, key__in=keys):
            p = policy(scope, r.key)
            r.failures = max(0, r.failures - 1)
            seconds = lock_seconds(p, r.failures)
            if not seconds:
                r.locked_until = None
            elif r.last_failure_at:
                r.locked_until = max(now, r.last_failure_at + dt.timedelta(seconds=seconds))
            r.save(update_fields=["failures", "locked_until"])


def reset(scope: str, key: str) -> int:
    """Unlock a key (an operator's decision; the caller audits it)."""
    return Throttle.objects.filter(scope=scope, key=key).update(failures=0, locked_until=None)


def locked_now(scope: str | None = None):
    qs = Throttle.objects.filter(locked_until__gt=clock.now())
    if scope:
        qs = qs.filter(scope=scope)
    return qs.order_by("-locked_until")
