"""Recharges: generate, sell, unsell, delete, void, redeem exactly once, expire.

The only place that changes recharge codes. Doors (console, portal, API, CLI, station
agent, hotspot) check roles and call these functions; every staff action is audited.

Money (ledger accounts, signed minor units, debit positive):

* sale       payment account +price, recharge liability −face, adjustments +(face − price)
             (a discount; a negative one when sold above face), in the seller's open shift
* unsell     the mirror image of the sale lines of the codes given back, in the same shift
             (a full ``ledger.reverse`` when the whole sale is undone at once)
* redeem     recharge liability +face, customer credit −face
* void       the mirror image of the code's sale lines: the buyer gets back what they paid,
             in cash from the voiding owner's open shift (or the original non-cash method)
* breakage   recharge liability +face, breakage −face, for sold codes that expired unused
             (when ``venue_settings().breakage_enabled``)

So the liability always equals the face value of sold codes nobody has used yet (minus
those moved to breakage), whatever the sale price was.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Max, Min, Q, QuerySet, Sum
from django.db.models.expressions import Col, OrderBy
from django.db.models.lookups import Exact, GreaterThanOrEqual, In, LessThanOrEqual
from django.db.models.sql.where import WhereNode
from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ficha.accounts import services as accounts
from ficha.accounts.models import Customer
from ficha.core import alerts, audit, clock, codes, throttle
from ficha.core.services import currency, venue_settings
from ficha.ledger import services as ledger
from ficha.ledger.models import Account, Transaction

from .models import Batch, Recharge, RedeemAttempt, Tally

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


# --- errors and small types -------------------------------------------------------------
class RechargeError(ValueError):
    """A recharge request that cannot be done; ``str(exc)`` is the message for people.

    ``reason`` tells doors what happened: ``invalid`` (unknown, unsold, deleted or void
    code: always the same message), ``expired`` (``expired_at`` says when), ``used``,
    ``throttled`` (``retry_after`` seconds), ``disabled`` (the customer), ``format`` (a
    typo: wrong length or failed check digit, refused before costing an attempt),
    ``state`` (an operator action not allowed in the code's status), ``shift`` (the
    action needs the staff member's open shift), ``input`` (bad arguments: count,
    amount, label, price, payment method, ...).
    """

    def __init__(self, reason: str, message: str, *, retry_after: int = 0,
                 expired_at: dt.datetime | None = None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retry_after = retry_after
        self.expired_at = expired_at


@dataclass(frozen=True)
class Source:
    """Who is trying a code, for throttling, the attempt log and alerts."""

    ip: str | None = None
    mac: str | None = None
    station: str | None = None
    account: str | None = None
    door: str = "portal"  # portal, portal_login, api, console, station, hotspot
    # A staff member redeeming for a customer at the counter: the till's IP serves every
    # customer, so the staff login (with the customer's account) is throttled instead.
    staff: str | None = None

    @staticmethod
    def _mac(mac: str) -> str:
        return mac.strip().lower().replace("-", ":")

    def keys(self) -> list[str]:
        """Throttle keys: one per thing we know about the source."""
        if self.staff:
            out = [f"staff:{self.staff.strip().lower()}"]
            if self.account:
                out.append(f"account:{str(self.account).strip().lower()}")
            return [k[:128] for k in out]
        out = []
        if self.ip:
            out.append(f"ip:{str(self.ip).strip()}")
        if self.mac:
            out.append(f"mac:{self._mac(str(self.mac))}")
        if self.station:
            out.append(f"station:{str(self.station).strip()}")
        if self.account:
            out.append(f"account:{str(self.account).strip().lower()}")
        if not out:  # nothing known: at least throttle the door as a whole
            out.append(f"door:{self.door}")
        return [k[:128] for k in out]

    def describe(self) -> str:
        parts = []
        if self.staff:
            parts.append(_("staff %(name)s") % {"name": self.staff})
        if self.station:
            parts.append(_("station %(name)s") % {"name": self.station})
        if self.ip:
            parts.append(_("IP %(ip)s") % {"ip": self.ip})
        if self.mac:
            parts.append(_("MAC %(mac)s") % {"mac": self._mac(str(self.mac))})
        if self.account:
            parts.append(_("account %(name)s") % {"name": self.account})
        if not parts:
            parts.append(_("unknown source"))
        return _("%(who)s via %(door)s") % {"who": ", ".join(parts), "door": self.door}


@dataclass
class Redemption:
    recharge: Recharge
    customer: Customer
    amount: int  # credited now (0 when a code-named account logs in again)
    balance: int  # the customer's credit afterwards
    created_account: bool


def _error_input(message: str) -> RechargeError:
    return RechargeError("input", message)


def _int(value, what: str) -> int:
    if isinstance(value, bool):
        raise _error_input(_("%(what)s must be a whole number.") % {"what": what})
    try:
        out = int(value)
    except (TypeError, ValueError):
        raise _error_input(_("%(what)s must be a whole number.") % {"what": what})
    if isinstance(value, float) and value != out:
        raise _error_input(_("%(what)s must be a whole number.") % {"what": what})
    return out


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


# --- tallies (instant totals) -----------------------------------------------------------
def _tally(*deltas: tuple[str, int, int, int]) -> None:
    """Record (key, batch id, count, value) deltas."""
    rows = [Tally(key=k, batch_id=b, count=c, value=v) for k, b, c, v in deltas if c or v]
    if rows:
        Tally.objects.bulk_create(rows)


def _tally_rows(rows: Iterable[tuple[int, int]], *moves: tuple[str, int]) -> None:
    """For rows of (batch id, amount), apply each (key, sign) move per batch."""
    per_batch: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for batch_id, amount in rows:
        per_batch[batch_id][0] += 1
        per_batch[batch_id][1] += amount
    _tally(*[(key, b, sign * n, sign * v) for b, (n, v) in per_batch.items()
             for key, sign in moves])


def compact_tally(min_extra: int = 0) -> int:
    """Fold the tally's rows into one per key and batch. Returns how many were folded.

    Does nothing unless there are more than ``min_extra`` rows beyond one per group.
    """
    table = connection.ops.quote_name(Tally._meta.db_table)
    with transaction.atomic():
        top = Tally.objects.aggregate(m=Max("id"))["m"]
        if top is None:
            return 0
        groups = Tally.objects.filter(id__lte=top).values("key", "batch_id").distinct()
        if Tally.objects.filter(id__lte=top).count() <= groups.count() + min_extra:
            return 0
        with connection.cursor() as cur:
            cur.execute(f"DELETE FROM {table} WHERE id <= %s "
                        f"RETURNING key, batch_id, count, value", [top])
            rows = cur.fetchall()
        sums: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
        for key, batch_id, n, v in rows:
            sums[key, batch_id][0] += n
            sums[key, batch_id][1] += v
        _tally(*[(k, b, n, v) for (k, b), (n, v) in sums.items()])
    return len(rows)


# --- reading ----------------------------------------------------------------------------
def get_batch(ref) -> Batch:
    """A batch from a Batch, its id or its label."""
    if isinstance(ref, Batch):
        return ref
    found = None
    if isinstance(ref, int) and not isinstance(ref, bool):
        found = Batch.objects.filter(pk=ref).first()
    elif isinstance(ref, str) and ref.strip():
        found = Batch.objects.filter(label=ref.strip()).first()
        if found is None and ref.strip().isdigit():
            found = Batch.objects.filter(pk=int(ref.strip())).first()
    if found is None:
        raise _error_input(_("No such batch: %(ref)s") % {"ref": ref})
    return found


def get_by_code(code: str) -> Recharge | None:
    """Staff lookup of a code as typed ("1234 5678"); None when there is none."""
    digits = codes.normalize(str(code)[:64])
    if not digits:
        return None
    return Recharge.objects.filter(code=digits).select_related("batch").first()


_SORTS = {"id", "code", "amount", "status", "expires_at", "sold_at", "used_at", "created_at",
          "batch"}


def _bound(value, *, end: bool) -> tuple[str, dt.datetime]:
    """A filter bound: dates are whole venue-local days; datetimes are exact."""
    if isinstance(value, dt.date) and not 1970 <= value.year <= 2999:
        raise _error_input(_("Dates must be between the years 1970 and 2999."))
    try:
        if isinstance(value, dt.datetime):
            return ("lte" if end else "gte"), _aware(value).astimezone(dt.UTC)
        if isinstance(value, dt.date):
            day = value + dt.timedelta(days=1) if end else value
            start = dt.datetime.combine(day, dt.time(0, 0), tzinfo=_tz())
            return ("lt" if end else "gte"), start.astimezone(dt.UTC)
    except OverflowError:
        raise _error_input(_("Dates must be between the years 1970 and 2999."))
    if isinstance(value, str):
        try:
            parsed = dt.date.fromisoformat(value.strip())
        except ValueError:
            try:
                parsed = dt.datetime.fromisoformat(value.strip())
            except ValueError:
                raise _error_input(_("“%(text)s” is not a date.") % {"text": value})
        return _bound(parsed, end=end)
    raise _error_input(_("“%(text)s” is not a date.") % {"text": value})


def search(*, status=None, batch=None, amount=None, code=None, sold_from=None, sold_to=None,
           used_from=None, used_to=None, created_from=None, created_to=None,
           order: str = "-id") -> QuerySet:
    """The recharges window's list. Without ``status``, deleted codes are left out.

    ``status``: one status or a list; ``batch``: Batch, id or label; ``amount``: minor
    units; ``code``: digits as typed, matched as a prefix ("1234" finds "1234 5678");
    dates: ``date`` (whole venue-local days, both ends included) or aware ``datetime``;
    ``order``: a field (id, code, amount, status, expires_at, sold_at, used_at,
    created_at, batch), "-" for descending; rows without that date come last.
    """
    # The batch comes in a second, tiny query (prefetch): joined, SQLite may walk the
    # batches first and sort every code of each (1.5 s instead of 2 ms at 1,000,000 codes).
    qs = Recharge.objects.select_related("sold_by", "used_by").prefetch_related("batch")
    if status:
        wanted = [status] if isinstance(status, str) else list(status)
        if any(s not in S.values for s in wanted):
            raise _error_input(_("Unknown status."))
        qs = qs.filter(status=wanted[0]) if len(wanted) == 1 else qs.filter(status__in=wanted)
    else:
        qs = qs.exclude(status=S.DELETED)
    if batch not in (None, ""):
        try:
            qs = qs.filter(batch_id=get_batch(batch).pk)
        except RechargeError:
            return qs.none()
    if amount not in (None, ""):
        qs = qs.filter(amount=_int(amount, _("The amount")))
    if code:
        digits = codes.normalize(str(code)[:64])
        if digits:
            # a prefix as a range, so the unique index answers it on every database
            upper = digits[:-1] + chr(ord(digits[-1]) + 1)
            qs = qs.filter(code__gte=digits, code__lt=upper)
    for field, lo, hi in (("sold_at", sold_from, sold_to), ("used_at", used_from, used_to)):
        if lo not in (None, ""):
            op, value = _bound(lo, end=False)
            qs = qs.filter(**{f"{field}__{op}": value})
        if hi not in (None, ""):
            op, value = _bound(hi, end=True)
            qs = qs.filter(**{f"{field}__{op}": value})
    if created_from not in (None, "") or created_to not in (None, ""):
        # a code's created_at is its batch's: filter the (small) batch table instead
        batches = Batch.objects.all()
        if created_from not in (None, ""):
            op, value = _bound(created_from, end=False)
            batches = batches.filter(**{f"created_at__{op}": value})
        if created_to not in (None, ""):
            op, value = _bound(created_to, end=True)
            batches = batches.filter(**{f"created_at__{op}": value})
        found = list(batches.values_list("pk", "first_id", "last_id"))
        if not found:
            return qs.none()
        # The batches' id span lets the database walk the primary key in page order;
        # the batch list is needed only if another batch's codes share that span.
        lo = min(f or 0 for _p, f, _l in found)
        hi = max(t or 0 for _p, _f, t in found)
        qs = qs.filter(id__gte=lo, id__lte=hi)
        others = (Batch.objects.exclude(pk__in=[p for p, _f, _l in found])
                  .filter(first_id__lte=hi, last_id__gte=lo))
        if others.exists():
            qs = qs.filter(batch_id__in=[p for p, _f, _l in found])
    order = (order or "-id").strip()
    desc = order.startswith("-")
    name = order.lstrip("-")
    if name not in _SORTS:
        raise _error_input(_("Unknown sort order."))
    if name == "created_at":
        name = "id"  # same order, and indexed
    if name == "id":
        return qs.order_by("-id" if desc else "id")
    if name == "batch":
        name = "batch_id"
    if name in _NULLABLE_SORTS:
        expr = F(name).desc(nulls_last=True) if desc else F(name).asc(nulls_last=True)
    else:
        # NOT NULL columns: a NULLS LAST would stop PostgreSQL from reading the
        # (column, id) index backwards and make it sort every code instead
        expr = F(name).desc() if desc else F(name).asc()
    return qs.order_by(expr, "-id" if desc else "id")


# Sort columns that may be empty; page() reads their dated and undated codes apart.
_NULLABLE_SORTS = ("expires_at", "sold_at", "used_at")


def _nullable_order(qs: QuerySet) -> tuple[str, bool] | None:
    """(column, descending) when ``qs`` is sorted on a date that may be empty."""
    order = qs.query.order_by
    first = order[0] if order else None
    if (isinstance(first, OrderBy) and isinstance(first.expression, F)
            and first.expression.name in _NULLABLE_SORTS and first.nulls_last):
        return first.expression.name, first.descending
    return None


def page(qs: QuerySet, start: int, size: int) -> list[Recharge]:
    """Rows ``start`` .. ``start + size`` of a :func:`search`, in its order.

    Two cheap queries instead of one dear one: first the page's ids, which the
    databases read from an index (without fetching or joining any other row), then
    those rows. One query would join the seller and customer of every matching code
    before sorting, or let PostgreSQL walk the primary key hoping to meet the
    filter's codes early (a status whose codes are all old: 45 ms instead of 1 ms).
    A sort on a date that may be empty (expiry, sold, used: empty ones last) reads
    the dated codes from the (date, id) index, then the undated ones by id, so that
    neither database sorts every code (600 ms on PostgreSQL at 1,000,000 codes).
    """
    start, size = max(0, int(start)), max(0, int(size))
    if not size:
        return []
    ids_qs = qs.values_list("pk", flat=True)
    split = _nullable_order(qs)
    if split is None:
        ids = list(ids_qs[start:start + size])
    else:
        name, desc = split
        tie = "-id" if desc else "id"
        dated = ids_qs.filter(**{f"{name}__isnull": False}).order_by(
            F(name).desc() if desc else F(name).asc(), tie)
        ids = list(dated[start:start + size])
        if len(ids) < size:
            # past the dated codes: skip as many undated ones as the page is beyond
            skip = 0 if ids or not start else max(0, start - dated.count())
            undated = ids_qs.filter(**{f"{name}__isnull": True}).order_by(tie)
            ids += list(undated[skip:skip + size - len(ids)])
    if not ids:
        return []
    found = qs.order_by().filter(pk__in=ids).in_bulk()
    return [found[i] for i in ids if i in found]


def _simple_filter(qs: QuerySet) -> tuple[set[str], set[int] | None] | None:
    """(statuses, batch ids or None for all) when the tally can answer for ``qs``.

    That is when ``qs`` filters by nothing but status, batch, amount (a batch-level
    value: a set of batches) and the created-date filter of :func:`search` (an id span
    made of whole batches). Reads the query's WHERE tree; anything else answers None.
    """
    query = qs.query
    if (qs.model is not Recharge or query.extra or query.combinator or query.distinct
            or query.low_mark or query.high_mark is not None):
        return None
    statuses = set(S.values)
    batches: set[int] | None = None
    lo = hi = None
    amounts: list[int] = []

    def narrow(found) -> None:
        nonlocal batches
        found = {int(b) for b in found}
        batches = found if batches is None else batches & found

    for child in query.where.children:
        if isinstance(child, WhereNode):
            inner = child.children
            if (child.negated and len(inner) == 1 and isinstance(inner[0], Exact)
                    and _column(inner[0]) == "status"):
                statuses -= {inner[0].rhs}
                continue
            return None
        column = _column(child)
        rhs = getattr(child, "rhs", None)
        if column == "status" and isinstance(child, Exact):
            statuses &= {rhs}
        elif column == "status" and isinstance(child, In):
            statuses &= set(rhs)
        elif column == "batch_id" and isinstance(child, Exact):
            narrow([rhs.pk if isinstance(rhs, Batch) else rhs])
        elif column == "batch_id" and isinstance(child, In) and isinstance(rhs, (list, tuple,
                                                                               set)):
            narrow(rhs)
        elif column == "amount" and isinstance(child, Exact) and isinstance(rhs, int):
            amounts.append(rhs)
        elif column == "id" and isinstance(child, GreaterThanOrEqual) and lo is None:
            lo = rhs
        elif column == "id" and isinstance(child, LessThanOrEqual) and hi is None:
            hi = rhs
        else:
            return None
    # the tally can answer: now resolve batch-level filters into sets of batches
    for amount in amounts:
        narrow(Batch.objects.filter(amount=amount).values_list("pk", flat=True))
    if lo is not None or hi is not None:
        # only the span search() builds from whole batches (not, say, keyset paging)
        if (lo is None or hi is None or not Batch.objects.filter(first_id=lo).exists()
                or not Batch.objects.filter(last_id=hi).exists()):
            return None
        narrow(Batch.objects.filter(first_id__gte=lo, last_id__lte=hi)
               .values_list("pk", flat=True))
    return statuses, batches


def _column(lookup) -> str | None:
    lhs = getattr(lookup, "lhs", None)
    if not isinstance(lhs, Col) or lhs.alias != Recharge._meta.db_table:
        return None
    return lhs.target.column


def _empty_totals() -> dict:
    out = {s: {"count": 0, "value": 0} for s in S.values}
    out["outstanding"] = {"count": 0, "value": 0}
    out["total"] = {"count": 0, "value": 0}
    return out


def _unbroken_exist() -> bool:
    """Whether any sold code expired and is still owed (breakage off, or not yet run).

    The tally's liability is the sold codes plus exactly those, so this costs a sum of
    the small tally instead of a pass over the expired codes, which SQLite (without
    statistics) makes through the status index: 40-200 ms at 1,000,000 codes.
    """
    sums = dict(Tally.objects.filter(key__in=[Tally.LIABILITY, S.SOLD]).order_by()
                .values_list("key").annotate(n=Sum("count")).values_list("key", "n"))
    return (sums.get(Tally.LIABILITY) or 0) != (sums.get(S.SOLD) or 0)


def totals(qs: QuerySet | None = None) -> dict:
    """Count and face value per status, the outstanding liability and the total.

    ``{"unsold": {"count": n, "value": v}, "sold": ..., "used": ..., "expired": ...,
    "void": ..., "deleted": ..., "outstanding": ..., "total": ...}``; values in minor
    units. ``outstanding`` is sold value nobody has used yet and not moved to breakage
    (= the recharge liability); ``total`` leaves deleted codes out. Without a filter, or
    when ``qs`` (a :func:`search`) filters only by status, batch, amount or creation
    date, the answer comes from the tally table: the same cost at 1,000,000 codes as at
    10. Other filters (code, sold/used dates) are counted from the codes' indexes.
    """
    out = _empty_totals()
    simple = (set(S.values), None) if qs is None else _simple_filter(qs)
    if simple is not None:
        statuses, batch_ids = simple
        rows = Tally.objects.all()
        if batch_ids is not None:
            rows = rows.filter(batch_id__in=sorted(batch_ids))
        sums = {key: (int(n or 0), int(v or 0)) for key, n, v in
                rows.order_by().values_list("key").annotate(n=Sum("count"), v=Sum("value"))
                .values_list("key", "n", "v")}
        for st in statuses:
            n, v = sums.get(st, (0, 0))
            out[st] = {"count": n, "value": v}
        owed_n = owed_v = 0
        liability = sums.get(Tally.LIABILITY, (0, 0))
        sold = sums.get(S.SOLD, (0, 0))
        if S.SOLD in statuses:
            owed_n, owed_v = sold
        if S.EXPIRED in statuses:  # expired while breakage was off: still owed
            owed_n += liability[0] - sold[0]
            owed_v += liability[1] - sold[1]
        out["outstanding"] = {"count": owed_n, "value": owed_v}
    else:
        # One pass with conditional aggregates: a GROUP BY would tempt SQLite into
        # walking a status index over every row instead of the filter's index.
        # COUNT(status), not COUNT(id): PostgreSQL can then answer a date range from the
        # (date, id, status, amount) index alone (status is never NULL).
        base = qs.order_by()
        aggs = {}
        for st in S.values:
            aggs[f"n_{st}"] = Count("status", filter=Q(status=st))
            aggs[f"v_{st}"] = Sum("amount", filter=Q(status=st))
        got = base.aggregate(**aggs)
        for st in S.values:
            out[st] = {"count": got[f"n_{st}"] or 0, "value": int(got[f"v_{st}"] or 0)}
        owed = dict(out[S.SOLD])
        if out[S.EXPIRED]["count"] and _unbroken_exist():
            # sold codes that expired while breakage was off are still owed
            agg = base.extra(where=[UNBROKEN_SQL]).aggregate(n=Count("pk"), v=Sum("amount"))
            owed = {"count": owed["count"] + (agg["n"] or 0),
                    "value": owed["value"] + int(agg["v"] or 0)}
        out["outstanding"] = owed
    out["total"] = {
        "count": sum(out[s]["count"] for s in S.values if s != S.DELETED),
        "value": sum(out[s]["value"] for s in S.values if s != S.DELETED),
    }
    return out


# --- generation -------------------------------------------------------------------------
_formats_cache: tuple[float, frozenset] | None = None


def _code_formats() -> frozenset[tuple[int, bool]]:
    """(length, check digit) of every batch ever issued, plus the current setting."""
    global _formats_cache
    if _formats_cache is None or time.monotonic() - _formats_cache[0] >= 5.0:
        issued = frozenset(Batch.objects.values_list("code_length", "check_digit").distinct())
        _formats_cache = (time.monotonic(), issued)
    vs = venue_settings()
    return _formats_cache[1] | {(vs.code_length, vs.code_check_digit)}


def clear_cache() -> None:
    global _formats_cache
    _formats_cache = None


def _expiry(expires_at, valid_days, now: dt.datetime) -> dt.datetime | None:
    if expires_at not in (None, "") and valid_days not in (None, ""):
        raise _error_input(_("Give an expiry date or a number of days, not both."))
    if valid_days not in (None, ""):
        days = _int(valid_days, _("The number of days"))
        if not 1 <= days <= MAX_VALID_DAYS:
            raise _error_input(_("A code is valid for 1 to %(max)d days.")
                               % {"max": MAX_VALID_DAYS})
        return end_of_day(local_time(now).date() + dt.timedelta(days=days))
    if expires_at in (None, ""):
        return None
    if isinstance(expires_at, str):
        op, value = _bound(expires_at, end=True)
        expires_at = value - dt.timedelta(seconds=1) if op == "lt" else value
    elif isinstance(expires_at, dt.datetime):
        expires_at = _aware(expires_at)
    elif isinstance(expires_at, dt.date):
        if not 1970 <= expires_at.year <= 2999:
            raise _error_input(_("Dates must be between the years 1970 and 2999."))
        expires_at = end_of_day(expires_at)
    else:
        raise _error_input(_("“%(text)s” is not a date.") % {"text": expires_at})
    if expires_at <= now:
        raise _error_input(_("The expiry date is already past."))
    if expires_at > now + dt.timedelta(days=MAX_VALID_DAYS + 1):
        raise _error_input(_("A code is valid for 1 to %(max)d days.")
                           % {"max": MAX_VALID_DAYS})
    return expires_at


def generate(actor: audit.Actor, *, count: int, amount: int,
             expires_at: dt.datetime | dt.date | None = None, valid_days: int | None = None,
             label: str = "", progress: Callable[[int], None] | None = None) -> Batch:
    """Create a batch of ``count`` unsold codes worth ``amount`` minor units each.

    Expiry: ``expires_at`` (a datetime; a date means the end of that venue-local day),
    or ``valid_days`` (the end of the venue-local day N days from today), or neither.
    ``progress(n)`` is called with the number of codes stored so far (cumulative).
    Codes follow the venue's code settings (length, Damm check digit) and are unique
    among every code ever issued: the unique index refuses a collision and the
    shortfall is drawn again.
    """
    count = _int(count, _("The number of codes"))
    if not 1 <= count <= MAX_BATCH:
        raise _error_input(_("A batch has 1 to %(max)s codes.") % {"max": f"{MAX_BATCH:,}"})
    amount = _int(amount, _("The amount"))
    if amount <= 0:
        raise _error_input(_("The amount must be more than zero."))
    if amount >= 10**15:
        raise _error_input(_("The amount is too large."))
    now = clock.now()
    expiry = _expiry(expires_at, valid_days, now)
    vs = venue_settings()
    length, check, cur = vs.code_length, vs.code_check_digit, vs.currency
    label = (label or "").strip()[:80]
    space = 10 ** (length - 1 if check else length)
    issued = Batch.objects.filter(code_length=length).aggregate(n=Sum("count"))["n"] or 0
    if issued + count > space * MAX_SPACE_SHARE:
        raise _error_input(_("Too many codes of %(n)d digits exist; choose longer codes "
                             "in the settings.") % {"n": length})
    days = _int(valid_days, "days") if valid_days not in (None, "") else None

    with transaction.atomic():
        if label and Batch.objects.filter(label=label).exists():
            raise _error_input(_("A batch named “%(label)s” exists; choose another name.")
                               % {"label": label})
        try:
            with transaction.atomic():
                batch = Batch.objects.create(
                    label=label or f"tmp-{codes.random_code(16, False)}", amount=amount,
                    currency=cur, count=count, expires_at=expiry, valid_days=days,
                    code_length=length, check_digit=check, created_by=actor.staff,
                    created_at=now,
                )
        except IntegrityError:
            raise _error_input(_("A batch named “%(label)s” exists; choose another name.")
                               % {"label": label})
        if not label:
            batch.label = f"{local_time(now):%Y%m%d}-{batch.pk}"
            batch.save(update_fields=["label"])
        _insert_codes(batch, now, progress)
        _tally((S.UNSOLD, batch.pk, count, count * amount))
        audit.record(
            actor, "recharges.generate", batch,
            after={"label": batch.label, "count": count, "amount": amount, "currency": cur,
                   "expires_at": expiry.isoformat() if expiry else None,
                   "code_length": length, "check_digit": check},
            summary=_("Generated %(count)d recharges of %(amount)s (batch %(label)s)")
            % {"count": count, "amount": _money(amount), "label": batch.label},
        )
    clear_cache()
    return batch


def _money(amount: int) -> str:
    from ficha.core.money import Money

    return Money(amount, currency()).format()


def _insert_codes(batch: Batch, now: dt.datetime, progress) -> None:
    """Bulk-insert ``batch.count`` fresh codes; collisions are drawn again."""
    fields = [f for f in Recharge._meta.concrete_fields if not f.primary_key]
    fixed = {
        "amount": batch.amount, "currency": batch.currency, "batch": batch.pk,
        "status": S.UNSOLD,
        "created_at": connection.ops.adapt_datetimefield_value(now),
        "expires_at": (connection.ops.adapt_datetimefield_value(batch.expires_at)
                       if batch.expires_at else None),
    }
    # Only the columns that need a value: the nullable ones default to NULL.
    assert fields[0].name == "code"
    columns, values = [fields[0].column], []
    for f in fields[1:]:
        if fixed.get(f.name) is not None:
            columns.append(f.column)
            values.append(fixed[f.name])
        elif not f.null:  # blank text columns
            columns.append(f.column)
            values.append("")
    q = connection.ops.quote_name
    head = (f"INSERT INTO {q(Recharge._meta.db_table)} ({', '.join(q(c) for c in columns)}) ")
    one = f"VALUES ({', '.join(['%s'] * len(columns))})"
    tail = f" ON CONFLICT ({q('code')}) DO NOTHING"
    rest = tuple(values)
    # SQLite's executemany is a tight C loop over one prepared statement. PostgreSQL
    # pays per statement (and plans a multi-row VALUES list slowly), so it gets one
    # INSERT ... SELECT over the array of codes per chunk: 100,000 codes in ~2 s
    # instead of ~6 s on a busy 2-core machine (python -m bench recharges.generate).
    if connection.vendor == "postgresql":
        width = Recharge._meta.get_field("code").max_length
        from_array = (f"SELECT c, {', '.join(['%s'] * len(rest))} "
                      f"FROM unnest(%s::varchar({width})[]) AS c")

    def insert(cur, fresh: list[str]) -> None:
        if connection.vendor == "postgresql":
            cur.execute(head + from_array + tail, [*rest, fresh])
        else:
            cur.executemany(head + one + tail, [(c, *rest) for c in fresh])

    length, check = batch.code_length, batch.check_digit
    stored = 0
    rounds = 0
    while stored < batch.count:
        rounds += 1
        if rounds > 50:  # pragma: no cover - needs an almost full code space
            raise _error_input(_("Could not find enough free codes; choose longer codes."))
        want = batch.count - stored
        done_this_round = 0
        with connection.cursor() as cur:
            for start in range(0, want, CHUNK):
                n = min(CHUNK, want - start)
                fresh: set[str] = set()
                while len(fresh) < n:
                    fresh.add(codes.random_code(length, check))
                insert(cur, list(fresh))
                done_this_round += n
                if progress is not None:
                    progress(min(stored + done_this_round, batch.count))
        stored = Recharge.objects.filter(batch_id=batch.pk).count()
    mine = Recharge.objects.filter(batch_id=batch.pk)
    batch.first_id = mine.order_by("id").values_list("id", flat=True).first()
    batch.last_id = mine.order_by("-id").values_list("id", flat=True).first()
    batch.save(update_fields=["first_id", "last_id"])
    if progress is not None:
        progress(stored)


# --- selection helpers ------------------------------------------------------------------
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


def _live(now: dt.datetime) -> Q:
    return Q(expires_at__isnull=True) | Q(expires_at__gt=now)


def _payment_account(method: str) -> str | Account:
    if method not in PAYMENT_METHODS:
        raise _error_input(_("Unknown payment method."))
    if method == "cash":
        return ledger.CASH
    code = f"payment:{method}"
    acct = Account.objects.filter(code=code).first()
    if acct is None:
        try:
            with transaction.atomic():
                acct = ledger.open_account(code, Account.Kind.ASSET, PAYMENT_METHODS[method])
        except IntegrityError:
            acct = Account.objects.get(code=code)
    return acct


def _account_pk(acct) -> int:
    return acct.pk if isinstance(acct, Account) else ledger.account_id(acct)


def _sale_lines(method: str, face: int, paid: int, sign: int = 1) -> list:
    """Ledger lines of a sale (sign 1) or of its mirror (sign −1)."""
    return [
        (_payment_account(method), sign * paid),
        (ledger.RECHARGE_LIABILITY, -sign * face),
        (ledger.ADJUSTMENTS, sign * (face - paid)),
    ]


def _staff_shift(actor: audit.Actor, what: str):
    if actor.staff is None:
        raise RechargeError("state", _("Only a staff member can %(what)s.") % {"what": what})
    try:
        return ledger.require_shift(actor.staff)
    except ledger.NoOpenShift as exc:
        raise RechargeError("shift", str(exc))


def _codes_for_audit(ids_or_codes: list, limit: int = 100) -> list:
    return list(ids_or_codes[:limit])


def record_print(actor: audit.Actor, recharges: list, fmt: str) -> None:
    """Audit a printout: who printed which codes, in what format (codes are money)."""
    batches = sorted({r.batch.label for r in recharges if r.batch_id})
    audit.record(
        actor, "recharges.print", object_type="recharges.recharge",
        object_id=",".join(batches)[:64],
        after={"count": len(recharges), "format": fmt, "batches": batches,
               "codes": _codes_for_audit([r.code for r in recharges])},
        summary=ngettext("%(n)d code printed (%(fmt)s)", "%(n)d codes printed (%(fmt)s)",
                         len(recharges)) % {"n": len(recharges), "fmt": fmt},
    )


# --- selling ----------------------------------------------------------------------------
def _sell(actor: audit.Actor, selections: list[QuerySet], *, payment_method: str,
          price: int | None, what: dict) -> int:
    _payment_account(payment_method)  # validates the method before anything else
    if price is not None:
        price = _int(price, _("The price"))
        if price < 0:
            raise _error_input(_("The price cannot be negative."))
    shift = _staff_shift(actor, _("sell recharges"))
    user = actor.staff
    now = clock.now()
    cur = currency()
    with transaction.atomic():
        n = 0
        for qs in selections:
            n += (
                qs.filter(status=S.UNSOLD, currency=cur).filter(_live(now))
                .update(status=S.SOLD, sold_at=now, sold_by=user, sold_shift=shift,
                        payment_method=payment_method,
                        sale_price=F("amount") if price is None else price)
            )
        if not n:
            raise RechargeError("state", _("None of these codes can be sold (only unsold, "
                                           "unexpired codes can)."))
        # This transaction's rows are the shift's sold rows without a sale transaction
        # yet (others' uncommitted rows are invisible; committed ones have it set).
        mine = Recharge.objects.filter(status=S.SOLD, sold_shift=shift,
                                       sale_transaction__isnull=True)
        agg = mine.aggregate(n=Count("pk"), face=Sum("amount"), paid=Sum("sale_price"),
                             lo=Min("amount"), hi=Max("amount"))
        if price is not None and agg["lo"] != agg["hi"]:
            raise _error_input(_("These codes have different amounts; sell them at their "
                                 "face value or one amount at a time."))
        face, paid = int(agg["face"]), int(agg["paid"])
        tx = ledger.post(
            "recharge.sale", _sale_lines(payment_method, face, paid), actor=actor,
            shift=shift, memo=f"{agg['n']} recharge(s)", reference="recharges",
        )
        mine.update(sale_transaction=tx)
        _tally(*[d for b, bn, bv in mine_by_batch(tx) for d in (
            (S.UNSOLD, b, -bn, -bv), (S.SOLD, b, bn, bv), (Tally.LIABILITY, b, bn, bv))])
        sold_codes = list(Recharge.objects.filter(sale_transaction=tx).order_by("id")
                          .values_list("code", flat=True)[:100])
        audit.record(
            actor, "recharges.sell", tx, object_type="ledger.transaction",
            after={**what, "count": n, "face": face, "paid": paid,
                   "payment_method": payment_method, "shift": shift.pk, "codes": sold_codes},
            summary=_("Sold %(count)d recharges for %(paid)s")
            % {"count": n, "paid": _money(paid)},
        )
    return n


def mine_by_batch(tx) -> list[tuple[int, int, int]]:
    """(batch id, count, face) of the codes a sale transaction sold."""
    return list(Recharge.objects.filter(sale_transaction=tx).order_by().values_list("batch_id")
                .annotate(n=Count("pk"), v=Sum("amount")).values_list("batch_id", "n", "v"))


def sell(actor: audit.Actor, recharges, *, payment_method: str = "cash",
         price: int | None = None) -> int:
    """Sell the given codes (Recharge objects or ids): those not unsold are skipped.

    ``price`` is per code (default: its face amount) and needs codes of one amount.
    Needs the seller's open shift. Returns how many were sold; none → RechargeError.
    """
    ids = _ids(recharges)
    if not ids:
        raise _error_input(_("Select at least one code."))
    selections = [Recharge.objects.filter(pk__in=chunk) for chunk in _chunks(ids)]
    return _sell(actor, selections, payment_method=payment_method, price=price,
                 what={"ids": _codes_for_audit(ids)})


def sell_range(actor: audit.Actor, first_code: str, last_code: str, **kw) -> int:
    """Sell the codes of one batch from ``first_code`` to ``last_code`` in print order.

    Codes are random, so a "range" is the printed sequence (generation order) of one
    batch, both ends included, whichever of the two comes first.
    """
    first, last = get_by_code(first_code), get_by_code(last_code)
    if first is None or last is None:
        missing = first_code if first is None else last_code
        raise _error_input(_("No such code: %(code)s") % {"code": missing})
    if first.batch_id != last.batch_id:
        raise _error_input(_("Both codes must come from the same batch."))
    lo, hi = sorted((first.pk, last.pk))
    qs = Recharge.objects.filter(batch_id=first.batch_id, pk__gte=lo, pk__lte=hi)
    return _sell(actor, [qs], what={"batch": first.batch_id, "from": first.code,
                                    "to": last.code}, **_sell_kw(kw))


def sell_batch(actor: audit.Actor, batch, **kw) -> int:
    """Sell every unsold, unexpired code of a batch (Batch, id or label)."""
    batch = get_batch(batch)
    return _sell(actor, [Recharge.objects.filter(batch_id=batch.pk)],
                 what={"batch": batch.pk, "label": batch.label}, **_sell_kw(kw))


def _sell_kw(kw: dict) -> dict:
    unknown = set(kw) - {"payment_method", "price"}
    if unknown:
        raise TypeError(f"unexpected arguments: {sorted(unknown)}")
    return {"payment_method": kw.get("payment_method", "cash"), "price": kw.get("price")}


def unsell(actor: audit.Actor, recharges) -> int:
    """Undo sales made in the actor's current shift (sold, unused codes only).

    Posts the mirror image of the sale lines of those codes, in the same shift; codes
    that do not qualify are skipped; none → RechargeError("state").
    """
    ids = _ids(recharges)
    if not ids:
        raise _error_input(_("Select at least one code."))
    shift = _staff_shift(actor, _("undo a sale"))
    now = clock.now()
    with transaction.atomic():
        rows = []
        for chunk in _chunks(ids):
            rows += list(
                Recharge.objects.select_for_update()
                .filter(pk__in=chunk, status=S.SOLD, sold_shift=shift)
                .values("pk", "code", "amount", "sale_price", "payment_method",
                        "sale_transaction_id", "batch_id")
            )
        if not rows:
            raise RechargeError("state", _("Only sales made in your current shift can be "
                                           "undone, before the code is used. An owner can "
                                           "void a sold code instead."))
        by_tx: dict[int, list[dict]] = defaultdict(list)
        for r in rows:
            by_tx[r["sale_transaction_id"]].append(r)
        posted = []
        for tx_id, group in by_tx.items():
            method = group[0]["payment_method"]
            face = sum(r["amount"] for r in group)
            paid = sum(r["sale_price"] for r in group)
            lines = _sale_lines(method, face, paid, sign=-1)
            sale = Transaction.objects.get(pk=tx_id)
            mirror = sorted((e.account_id, -e.amount) for e in sale.entries.all())
            mine = sorted((_account_pk(a), amt) for a, amt in lines if amt)
            if mine == mirror and not Transaction.objects.filter(reverses=sale).exists():
                tx = ledger.reverse(sale, actor=actor, shift=shift, kind="recharge.unsell",
                                    memo=f"unsell: reverses #{tx_id}")
            else:
                tx = ledger.post("recharge.unsell", lines, actor=actor, shift=shift,
                                 memo=f"unsell {len(group)} of #{tx_id}",
                                 reference=f"sale:{tx_id}")
            posted.append(tx.pk)
        pks = [r["pk"] for r in rows]
        n = 0
        for chunk in _chunks(pks):
            n += Recharge.objects.filter(pk__in=chunk, status=S.SOLD).update(
                status=S.UNSOLD, sold_at=None, sold_by=None, sold_shift=None, sale_price=None,
                payment_method="", sale_transaction=None,
            )
        if n != len(rows):  # pragma: no cover - rows are locked above
            raise RechargeError("state", _("These codes changed meanwhile; try again."))
        face = sum(r["amount"] for r in rows)
        _tally_rows([(r["batch_id"], r["amount"]) for r in rows],
                    (S.SOLD, -1), (S.UNSOLD, 1), (Tally.LIABILITY, -1))
        audit.record(
            actor, "recharges.unsell", object_type="recharges.recharge",
            object_id=rows[0]["pk"] if n == 1 else "",
            after={"count": n, "face": face, "codes": [r["code"] for r in rows[:100]],
                   "transactions": posted, "shift": shift.pk, "at": now.isoformat()},
            summary=_("Sale of %(count)d recharges undone") % {"count": n},
        )
    return n


def delete(actor: audit.Actor, recharges) -> int:
    """Delete unsold codes (also unsold ones that expired). Others are skipped.

    The row stays as a tombstone (status ``deleted``), so the code is never issued
    again and a later attempt to use it still raises a fraud alert.
    """
    ids = _ids(recharges)
    if not ids:
        raise _error_input(_("Select at least one code."))
    now = clock.now()
    with transaction.atomic():
        rows = []
        for chunk in _chunks(ids):
            rows += list(
                Recharge.objects.select_for_update()
                .filter(Q(status=S.UNSOLD) | Q(status=S.EXPIRED, sold_at__isnull=True),
                        pk__in=chunk)
                .values("pk", "code", "amount", "status", "batch_id")
            )
        if not rows:
            raise RechargeError("state", _("Only unsold codes can be deleted. A sold code "
                                           "can be voided by an owner; a used one never."))
        n = 0
        for chunk in _chunks([r["pk"] for r in rows]):
            n += (Recharge.objects.filter(pk__in=chunk)
                  .filter(Q(status=S.UNSOLD) | Q(status=S.EXPIRED, sold_at__isnull=True))
                  .update(status=S.DELETED, deleted_at=now, deleted_by=actor.staff))
        for st in (S.UNSOLD, S.EXPIRED):
            _tally_rows([(r["batch_id"], r["amount"]) for r in rows if r["status"] == st],
                        (st, -1), (S.DELETED, 1))
        face = sum(r["amount"] for r in rows)
        audit.record(
            actor, "recharges.delete", object_type="recharges.recharge",
            object_id=rows[0]["pk"] if n == 1 else "",
            after={"count": n, "face": face, "codes": [r["code"] for r in rows[:100]]},
            summary=_("%(count)d unsold recharges deleted") % {"count": n},
        )
    return n


def void(actor: audit.Actor, recharge, reason: str) -> Recharge:
    """Void a sold, unused code with a reason and refund what the buyer paid.

    The refund is the mirror image of the code's sale lines: cash leaves the voiding
    staff member's open shift (the sale's shift is usually closed by then; otherwise
    "unsell" is the tool), or the original non-cash payment account.
    """
    reason = (reason or "").strip()
    if not reason:
        raise _error_input(_("Say why you void this code."))
    pk = _ids(recharge)
    if len(pk) != 1:
        raise _error_input(_("Void one code at a time."))
    if actor.staff is None:
        raise RechargeError("state", _("Only a staff member can void a code."))
    now = clock.now()
    with transaction.atomic():
        row = Recharge.objects.select_for_update().filter(pk=pk[0]).first()
        if row is None:
            raise _error_input(_("Unknown recharge."))
        if row.status == S.USED:
            raise RechargeError("state", _("A used code cannot be voided."))
        if row.status in (S.UNSOLD, S.DELETED) or (row.status == S.EXPIRED
                                                   and row.sold_at is None):
            raise RechargeError("state", _("This code was not sold; delete it instead."))
        if row.status == S.VOID:
            raise RechargeError("state", _("This code is already void."))
        if row.status == S.EXPIRED or row.is_expired(now):
            raise RechargeError("state", _("This code has expired; it cannot be voided."))
        shift = ledger.current_shift(actor.staff)
        if row.payment_method == "cash" and shift is None:
            raise RechargeError("shift", _("Open a shift to pay the refund in cash."))
        tx = ledger.post(
            "recharge.void", _sale_lines(row.payment_method, row.amount, row.sale_price, -1),
            actor=actor, shift=shift, memo=f"void: {reason}"[:255],
            reference=f"recharge:{row.pk}",
        )
        n = Recharge.objects.filter(pk=row.pk, status=S.SOLD).update(
            status=S.VOID, voided_at=now, voided_by=actor.staff, void_reason=reason,
            void_transaction=tx,
        )
        if n != 1:  # pragma: no cover - the row is locked
            raise RechargeError("state", _("This code changed meanwhile; try again."))
        _tally_rows([(row.batch_id, row.amount)], (S.SOLD, -1), (S.VOID, 1),
                    (Tally.LIABILITY, -1))
        audit.record(
            actor, "recharges.void", row,
            before={"status": S.SOLD, "sale_price": row.sale_price},
            after={"status": S.VOID, "reason": reason, "refund": row.sale_price,
                   "transaction": tx.pk, "code": row.code},
            summary=_("Recharge %(code)s voided: %(reason)s")
            % {"code": codes.group(row.code), "reason": reason},
        )
        row.refresh_from_db()
    return row


# --- redemption -------------------------------------------------------------------------
def _check_format(raw) -> str:
    if raw is None:
        raise RechargeError("format", _("Enter the code printed on your card."))
    text = str(raw)
    if len(text) > 64:
        raise RechargeError("format", _("This is not a recharge code."))
    code = codes.normalize(text)
    if not code:
        raise RechargeError("format", _("Enter the code printed on your card."))
    fmts = _code_formats()
    lengths = sorted({n for n, _c in fmts})
    if len(code) not in lengths:
        raise RechargeError("format", ngettext(
            "A code has %(digits)s digit; check what you typed.",
            "A code has %(digits)s digits; check what you typed.", lengths[-1],
        ) % {"digits": _(" or ").join(str(n) for n in lengths)})
    if all(check for n, check in fmts if n == len(code)) and not codes.damm_valid(code):
        raise RechargeError("format", _("This code has a typo; check each digit."))
    return code


def _wait_message(seconds: int) -> str:
    if seconds >= 120:
        minutes = (seconds + 59) // 60
        return ngettext("Too many attempts. Wait %(n)d minute and try again.",
                        "Too many attempts. Wait %(n)d minutes and try again.", minutes
                        ) % {"n": minutes}
    return ngettext("Too many attempts. Wait %(n)d second and try again.",
                    "Too many attempts. Wait %(n)d seconds and try again.", seconds
                    ) % {"n": seconds}


def _invalid() -> RechargeError:
    return RechargeError("invalid", _("Invalid code."))


def _expired(when: dt.datetime | None) -> RechargeError:
    if when is None:
        return RechargeError("expired", _("This code has expired."))
    return RechargeError("expired", _("This code expired on %(date)s.")
                         % {"date": format_time(when)}, expired_at=when)


class _Lost(Exception):
    """The conditional UPDATE matched nothing: another request changed the code first."""


def _outcome_of(row: Recharge, now: dt.datetime) -> str:
    """What an attempt on this (not redeemable now) row amounts to."""
    if row.status == S.USED:
        return Out.USED
    if row.status == S.DELETED:
        return Out.DELETED
    if row.status == S.VOID:
        return Out.VOID
    if row.status == S.UNSOLD or (row.status == S.EXPIRED and row.sold_at is None):
        return Out.UNSOLD
    if row.status == S.EXPIRED or row.is_expired(now):
        return Out.EXPIRED
    return ""  # sold and live: redeemable


def _open_code_account(code: str) -> Customer:
    """A fresh account named after the code (hotspot style); the customer may later
    set a password and keep it."""
    name = code
    if accounts.find_customer(name) is not None:
        name = f"{code}-{codes.random_code(8, False)[:4]}"
    try:
        return accounts.create_customer(
            audit.Actor(source="portal", label=f"code {codes.group(code)}"), name,
            origin=Customer.Origin.CODE,
        )
    except accounts.AccountError:
        raise _Lost()  # the same name appeared meanwhile: a parallel login won


def _returning_login(row: Recharge, code: str) -> Customer | None:
    """The account this code opened, if the code may still log into it alone."""
    if row.used_by_id is None:
        return None
    customer = Customer.objects.filter(pk=row.used_by_id).first()
    if (customer is None or customer.origin != Customer.Origin.CODE
            or customer.has_password or customer.pin
            or not customer.username.split("-")[0] == code):
        return None
    return customer


def _fraud_alert(row: Recharge, outcome: str, source: Source) -> None:
    with alerts.in_venue_language():
        kind_text = {
            Out.UNSOLD: _("unsold"), Out.DELETED: _("deleted"), Out.VOID: _("voided"),
        }[outcome]
        message = _(
            "Someone tried the %(kind)s code %(code)s (batch %(batch)s) from %(source)s. "
            "It may have been copied from a display or a lost sheet: keep unsold cards out "
            "of sight, and delete or void the code if in doubt."
        ) % {"kind": kind_text, "code": codes.group(row.code), "batch": row.batch.label,
             "source": source.describe()}
        who = source.describe()
    alerts.raise_alert(
        alerts.FRAUD, message, source=who,
        data={"recharge": row.pk, "code": row.code, "status": row.status, "ip": source.ip,
              "mac": source.mac, "station": source.station, "account": source.account,
              "door": source.door},
        dedupe_key=f"fraud:{row.code}:{who}",
    )


def _redeem(code: str, *, source: Source, customer: Customer | None, actor,
            for_login: bool) -> Redemption:
    if customer is not None and not customer.is_active:
        raise RechargeError("disabled", _("This account is disabled; please ask at the "
                                          "counter."))
    code = _check_format(code)
    if customer is not None and not source.account:
        source = dataclasses.replace(source, account=customer.username)
    if actor is not None and actor.staff is not None and not source.staff:
        source = dataclasses.replace(source, staff=actor.staff.get_username())
    keys = source.keys()
    now = clock.now()
    door = (source.door or "portal")[:20]
    ledger_actor = actor if actor is not None else audit.Actor(
        ip=source.ip, source=door,
        label=f"customer {customer.username}" if customer else f"code {codes.group(code)}",
    )
    result: Redemption | None = None
    outcome = Out.UNKNOWN
    row = None
    with transaction.atomic():
        # The claim commits with the attempt it allows: one transaction per attempt. A
        # wrong code still commits its counted failure (nothing below raises); only a
        # refused claim rolls back, and it had nothing to keep.
        wait = throttle.claim(THROTTLE_SCOPE, keys)
        if wait:
            raise RechargeError("throttled", _wait_message(wait), retry_after=wait)
        row = (Recharge.objects.filter(code=code).select_related("batch")
               .only("pk", "code", "amount", "status", "expires_at", "sold_at",
                     "used_by_id", "batch_id", "batch__label").first())
        if row is not None:
            outcome = _outcome_of(row, now)
            if not outcome:
                try:
                    with transaction.atomic():
                        target = customer if customer is not None else _open_code_account(code)
                        tx = ledger.post(
                            "recharge.redeem",
                            [(ledger.RECHARGE_LIABILITY, row.amount),
                             (target.credit_account_id, -row.amount)],
                            actor=ledger_actor, reference=f"recharge:{row.pk}",
                            memo=f"recharge {codes.group(row.code)}",
                        )
                        n = (Recharge.objects.filter(pk=row.pk, status=S.SOLD)
                             .filter(_live(now))
                             .update(status=S.USED, used_at=now, used_by=target,
                                     used_door=door, redeem_transaction=tx))
                        if n != 1:
                            raise _Lost()
                        _tally_rows([(row.batch_id, row.amount)], (S.SOLD, -1),
                                    (S.USED, 1), (Tally.LIABILITY, -1))
                    outcome = Out.SUCCESS
                    # the row as the UPDATE left it (no second read of the code)
                    row.status, row.used_at, row.used_by = S.USED, now, target
                    row.used_door, row.redeem_transaction = door, tx
                    result = Redemption(row, target, row.amount, 0, customer is None)
                except _Lost:
                    row.refresh_from_db(fields=["status", "expires_at", "sold_at",
                                                "used_by"])
                    outcome = _outcome_of(row, now) or Out.USED
            if outcome == Out.USED and for_login:
                again = _returning_login(row, code)
                if again is not None:
                    if not again.is_active:
                        outcome = "disabled"
                    else:
                        outcome = Out.RETURN
                        result = Redemption(row, again, 0, 0, False)
        hint = "" if row is not None else code[:4]
        RedeemAttempt.objects.create(
            at=now, door=door, outcome=outcome if outcome != "disabled" else Out.RETURN,
            ip=(source.ip or "")[:45], mac=(source.mac or "")[:32],
            station=(source.station or "")[:64], account=(source.account or "")[:150],
            code_hint=hint, code_length=len(code), recharge=row,
            customer=result.customer if result else customer,
            staff=actor.staff if actor is not None else None,
        )
        if outcome in (Out.UNSOLD, Out.DELETED, Out.VOID):
            _fraud_alert(row, outcome, source)
        if result is not None:
            # in the same transaction: a success costs no extra commit
            throttle.forgive(THROTTLE_SCOPE, keys)

    if result is not None:
        result.balance = accounts.balance(result.customer)
        if actor is not None and actor.staff is not None:
            audit.record(
                actor, "recharges.redeem", result.recharge,
                after={"customer": result.customer.pk, "amount": result.amount,
                       "balance": result.balance, "code": result.recharge.code},
                summary=_("Recharge %(code)s redeemed for %(name)s")
                % {"code": codes.group(result.recharge.code),
                   "name": result.customer.username},
            )
        return result
    if outcome == "disabled":
        throttle.forgive(THROTTLE_SCOPE, keys)
        raise RechargeError("disabled", _("This account is disabled; please ask at the "
                                          "counter."))
    if outcome == Out.USED:
        raise RechargeError("used", _("This code has already been used."))
    if outcome == Out.EXPIRED:
        raise _expired(row.expires_at if row is not None else None)
    raise _invalid()


def redeem(code: str, *, customer: Customer, source: Source, actor=None) -> Redemption:
    """Credit ``customer`` with a sold, unexpired, unused code: exactly once.

    One transaction: a conditional UPDATE (status sold and not expired → used, checked
    by its row count) and the ledger posting liability → customer credit. The attempt is
    claimed in the throttle first and forgiven on success. ``actor``: the staff member
    redeeming for a customer (audited), or None when the customer does it.
    """
    if customer is None:
        raise TypeError("redeem() needs a customer; use redeem_for_login() without one")
    return _redeem(code, source=source, customer=customer, actor=actor, for_login=False)


def redeem_for_login(code: str, *, source: Source) -> Redemption:
    """A code alone at login: open an account named after the code, credited with it.

    If the code was already used to open such an account and that account still has
    no password or PIN, the same code logs into it again: the result then has
    ``amount == 0`` and ``created_account == False``. Otherwise like :func:`redeem`.
    """
    return _redeem(code, source=source, customer=None, actor=None, for_login=True)


# --- worker jobs ------------------------------------------------------------------------
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
    with alerts.in_venue_language():
        sources = ", ".join(f"{k} ({n})" for k, n in top) or _("many sources")
        message = _(
            "%(n)d failed recharge code attempts in the last %(minutes)d minutes (alarm at "
            "%(threshold)d). Someone may be guessing codes. Most from: %(sources)s."
        ) % {"n": total, "minutes": max(1, window // 60), "threshold": threshold,
             "sources": sources}
    alerts.raise_alert(alerts.BRUTEFORCE, message, source="",
                       data={"failures": total, "window": window, "threshold": threshold,
                             "top": top},
                       dedupe_key="bruteforce")
    return total
