"""The worker's sweeps: expiry, breakage, and the failure-rate alarm."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count
from django.utils.translation import gettext as _

from ficha.core import alerts, audit, clock, throttle
from ficha.core.services import venue_settings
from ficha.ledger import services as ledger

from ..models import Recharge, RedeemAttempt, Tally
from .base import (
    ATTEMPT_RETENTION_DAYS,
    FAILURE_ALARM_COUNT,
    FAILURE_ALARM_WINDOW,
    GUESS_OUTCOMES,
    LIVE_SQL,
    TALLY_SLACK,
    THROTTLE_SCOPE,
    UNBROKEN_SQL,
    WORKER_CHUNK,
    S,
    _money,
)
from .tally import _tally_rows, compact_tally

WORKER = audit.Actor(source="worker", label="worker")


def expire_due() -> int:
    """Mark codes past their expiry as expired; move sold, unused value to breakage.

    Claims rows under a lock (``skip_locked`` on PostgreSQL), so several workers never
    expire a code twice. With breakage off, sold expired codes stay in the liability;
    when it is switched on later, they are moved too. Returns how many codes changed.
    """
    handled = 0
    while True:
        n = _expire_chunk()
        handled += n
        if n < WORKER_CHUNK:
            break
    if venue_settings().breakage_enabled:
        while True:
            n = _breakage_chunk()
            handled += n
            if n < WORKER_CHUNK:
                break
    compact_tally(min_extra=TALLY_SLACK)
    return handled


def _claim_rows(index: str, where: str, params: list, order: str) -> list[dict]:
    """Lock up to WORKER_CHUNK rows for a sweep, through the named partial index.

    SQLite is told the index (``INDEXED BY``): without ANALYZE statistics it may
    otherwise walk a status index over every code. PostgreSQL skips rows another
    worker holds.
    """
    q = connection.ops.quote_name
    table = q(Recharge._meta.db_table)
    cols = "id, amount, status, batch_id"
    if connection.vendor == "sqlite":
        sql = (f"SELECT {cols} FROM {table} INDEXED BY {q(index)} "
               f"WHERE {where} ORDER BY {order} LIMIT {WORKER_CHUNK}")
    else:
        sql = (f"SELECT {cols} FROM {table} WHERE {where} ORDER BY {order} "
               f"LIMIT {WORKER_CHUNK} FOR UPDATE SKIP LOCKED")
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return [{"pk": r[0], "amount": r[1], "status": r[2], "batch_id": r[3]}
                for r in cur.fetchall()]


def _expire_chunk() -> int:
    now = clock.now()
    breakage = venue_settings().breakage_enabled
    with transaction.atomic():
        rows = _claim_rows(
            "recharge_expiry_due",
            f'{LIVE_SQL} AND "recharges_recharge"."expires_at" IS NOT NULL '
            f'AND "recharges_recharge"."expires_at" <= %s',
            [connection.ops.adapt_datetimefield_value(now)], '"expires_at"')
        if not rows:
            return 0
        pks = [r["pk"] for r in rows]
        n = Recharge.objects.filter(pk__in=pks, status__in=[S.UNSOLD, S.SOLD]).update(
            status=S.EXPIRED, expired_at=now)
        if n != len(rows):  # pragma: no cover - rows are locked
            raise RuntimeError("expiry lost rows it had locked")
        for st in (S.UNSOLD, S.SOLD):
            _tally_rows([(r["batch_id"], r["amount"]) for r in rows if r["status"] == st],
                        (st, -1), (S.EXPIRED, 1))
        sold = [r for r in rows if r["status"] == S.SOLD]
        if breakage and sold:
            _post_breakage(sold)
    return len(rows)


def _breakage_chunk() -> int:
    """Sold codes that expired while breakage was off."""
    with transaction.atomic():
        rows = _claim_rows("recharge_unbroken", UNBROKEN_SQL, [], '"id"')
        if rows:
            _post_breakage(rows)
    return len(rows)


def _post_breakage(rows: list[dict]) -> None:
    value = sum(r["amount"] for r in rows)
    tx = ledger.post("recharge.breakage", [(ledger.RECHARGE_LIABILITY, value),
                                           (ledger.BREAKAGE, -value)],
                     actor=WORKER, memo=f"{len(rows)} expired, unused recharge(s)",
                     reference="recharges")
    Recharge.objects.filter(pk__in=[r["pk"] for r in rows]).update(breakage_transaction=tx)
    _tally_rows([(r["batch_id"], r["amount"]) for r in rows], (Tally.LIABILITY, -1))
    audit.record(WORKER, "recharges.breakage", tx, object_type="ledger.transaction",
                 after={"count": len(rows), "value": value},
                 summary=_("%(count)d expired, unused recharges moved to breakage (%(value)s)")
                 % {"count": len(rows), "value": _money(value)})


def _alarm_settings() -> tuple[int, int]:
    count = getattr(settings, "FICHA_RECHARGE_ALARM_FAILURES", FAILURE_ALARM_COUNT)
    window = getattr(settings, "FICHA_RECHARGE_ALARM_WINDOW", FAILURE_ALARM_WINDOW)
    return int(count), int(window)


def failure_rate(window: int | None = None) -> tuple[int, list[tuple[str, int]]]:
    """Failed guesses in the last ``window`` seconds, and the busiest sources."""
    threshold, default_window = _alarm_settings()
    window = window or default_window
    since = clock.now() - dt.timedelta(seconds=window)
    recent = RedeemAttempt.objects.filter(at__gte=since, outcome__in=GUESS_OUTCOMES)
    total = recent.count()
    top: list[tuple[str, int]] = []
    if total:
        for field in ("station", "mac", "ip", "account"):
            for value, n in (recent.exclude(**{field: ""}).values_list(field)
                             .annotate(n=Count("pk")).order_by("-n")
                             .values_list(field, "n")[:3]):
                top.append((f"{field}:{value}", n))
        top.sort(key=lambda t: -t[1])
    return total, top[:5]


def check_failure_rate() -> int:
    """Raise (or refresh) the brute-force alarm when failed guesses pass the threshold.

    Returns the number of failures in the window when it alarms, else 0. Also prunes
    attempts older than ``ATTEMPT_RETENTION_DAYS``.
    """
    RedeemAttempt.objects.filter(
        at__lt=clock.now() - dt.timedelta(days=ATTEMPT_RETENTION_DAYS)).delete()
    threshold, window = _alarm_settings()
    total, top = failure_rate(window)
    total += throttle.refused_count(THROTTLE_SCOPE, window)  # refused guesses count too
    if total < threshold:
        return 0
    # the sources the throttle held back: their guesses were refused unchecked, so the
    # failures checked (``top``) may not show them at all
    held = throttle.top_refused(THROTTLE_SCOPE, window)
    with alerts.in_venue_language():
        sources = ", ".join(f"{k} ({n})" for k, n in top) or _("many sources")
        message = _(
            "%(n)d failed recharge code attempts in the last %(minutes)d minutes (alarm at "
            "%(threshold)d). Someone may be guessing codes. Most from: %(sources)s."
        ) % {"n": total, "minutes": max(1, window // 60), "threshold": threshold,
             "sources": sources}
        if held:
            message += " " + _("Held back by the throttle (guesses refused unchecked): "
                               "%(sources)s.") % {
                "sources": ", ".join(f"{k} ({n})" for k, n in held)}
    alerts.raise_alert(alerts.BRUTEFORCE, message, source="",
                       data={"failures": total, "window": window, "threshold": threshold,
                             "top": top, "held_back": held},
                       dedupe_key="bruteforce")
    return total

