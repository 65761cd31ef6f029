"""Shared tunables, names and small helpers of the recharges services."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.db.models import QuerySet
from django.utils import formats
from django.utils.translation import gettext as _

from ficha.core.services import currency, venue_settings

from ..models import Recharge, RedeemAttempt
from .errors import _error_input

S = Recharge.Status
Out = RedeemAttempt.Outcome

# --- tunables (documented in docs/recharges.md) ------------------------------------------
MAX_BATCH = 100_000
CHUNK = 5_000  # codes drawn and inserted per step when generating (progress calls)
VALID_DAY_PRESETS = (7, 30, 90)
MAX_VALID_DAYS = 3650
# Refuse a batch that would fill more than this share of the code space of its length:
# collisions slow generation, and a dense space makes blind guesses pay.
MAX_SPACE_SHARE = 0.5
THROTTLE_SCOPE = "redeem"
# Global brute-force alarm: this many failed guesses (unknown, unsold, deleted or void
# codes) from all sources together within the window raises a "bruteforce" alert.
# Override with settings.FICHA_RECHARGE_ALARM_FAILURES / FICHA_RECHARGE_ALARM_WINDOW.
FAILURE_ALARM_COUNT = 30
FAILURE_ALARM_WINDOW = 600  # seconds
ATTEMPT_RETENTION_DAYS = 90  # older redemption attempts are pruned by the worker
GUESS_OUTCOMES = (Out.UNKNOWN, Out.UNSOLD, Out.DELETED, Out.VOID)
WORKER_CHUNK = 1_000
TALLY_SLACK = 500  # the worker folds the tally once it has this many rows to spare
# The partial indexes' conditions, written as literals: SQLite uses a partial index only
# when the query repeats its condition, which a parameterised filter cannot do.
LIVE_SQL = "\"recharges_recharge\".\"status\" IN ('unsold', 'sold')"
UNBROKEN_SQL = ("\"recharges_recharge\".\"status\" = 'expired' AND "
                "\"recharges_recharge\".\"sold_at\" IS NOT NULL AND "
                "\"recharges_recharge\".\"breakage_transaction_id\" IS NULL")


PAYMENT_METHODS = {
    "cash": "Cash",
    "mobile_money": "Mobile money",
    "card": "Card",
    "transfer": "Bank transfer",
}


def payment_method_label(method: str) -> str:
    labels = {
        "cash": _("Cash"),
        "mobile_money": _("Mobile money"),
        "card": _("Card"),
        "transfer": _("Bank transfer"),
    }
    return labels.get(method, method)


def _tz() -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(venue_settings().time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def local_time(value: dt.datetime) -> dt.datetime:
    """``value`` in the venue's time zone."""
    return value.astimezone(_tz())


def format_time(value: dt.datetime) -> str:
    """A date and time in the venue's time zone, in the current language."""
    return formats.date_format(local_time(value), "DATETIME_FORMAT")


def end_of_day(day: dt.date) -> dt.datetime:
    """The last second of ``day`` in the venue's time zone (how expiry dates are meant)."""
    return dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=_tz())


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=_tz())


def _money(amount: int) -> str:
    from ficha.core.money import Money

    return Money(amount, currency()).format()


def _ids(recharges) -> list[int]:
    if isinstance(recharges, QuerySet):
        return list(recharges.values_list("pk", flat=True))
    if isinstance(recharges, (Recharge, int, str)):
        recharges = [recharges]
    out: list[int] = []
    seen: set[int] = set()
    for r in recharges:
        if isinstance(r, Recharge):
            pk = r.pk
        elif isinstance(r, bool):
            raise _error_input(_("Unknown recharge."))
        else:
            try:
                pk = int(r)
            except (TypeError, ValueError):
                raise _error_input(_("Unknown recharge."))
        if pk not in seen:
            seen.add(pk)
            out.append(pk)
    return out


def _chunks(ids: list[int], size: int = 500):
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


