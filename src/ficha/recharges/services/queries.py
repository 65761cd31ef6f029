"""Reading: find a batch or a code, the window's search, pages and totals."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.expressions import Col, OrderBy
from django.db.models.lookups import Exact, GreaterThanOrEqual, In, LessThanOrEqual
from django.db.models.sql.where import WhereNode
from django.utils.translation import gettext as _

from ficha.core import codes

from ..models import Batch, Recharge, Tally
from .base import UNBROKEN_SQL, S, _aware, _tz
from .errors import RechargeError, _error_input, _int


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

