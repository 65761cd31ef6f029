"""Reading: find a batch or a code, the window's search, pages and totals."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.expressions import OrderBy
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
    try:
        digits = codes.parse(code)
    except codes.CodeError:
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


@dataclass
class RechargeQuery:
    """What the recharges window (or an API list, an export) asks for.

    ``status``: one status or several (empty: every status but deleted); ``batch``:
    Batch, id or label; ``amount``: minor units; ``code``: digits as typed, matched as
    a prefix ("1234" finds "1234 5678"); dates: ``date`` (whole venue-local days, both
    ends included) or aware ``datetime``; ``order``: a field (id, code, amount, status,
    expires_at, sold_at, used_at, created_at, batch), "-" for descending; rows without
    that date come last. :func:`search` turns it into rows, :func:`totals` into counts
    (from the tally when it filters only by status, batch, amount or creation date).
    """

    status: str | Iterable[str] | None = None
    batch: Batch | int | str | None = None
    amount: int | str | None = None
    code: str | None = None
    sold_from: dt.date | dt.datetime | str | None = None
    sold_to: dt.date | dt.datetime | str | None = None
    used_from: dt.date | dt.datetime | str | None = None
    used_to: dt.date | dt.datetime | str | None = None
    created_from: dt.date | dt.datetime | str | None = None
    created_to: dt.date | dt.datetime | str | None = None
    order: str = "-id"

    def statuses(self) -> list[str]:
        """The statuses asked for (every one but deleted when none)."""
        if not self.status:
            return [s for s in S.values if s != S.DELETED]
        wanted = [self.status] if isinstance(self.status, str) else list(self.status)
        if any(s not in S.values for s in wanted):
            raise _error_input(_("Unknown status."))
        return wanted

    def code_prefix(self) -> str:
        return codes.normalize(str(self.code)) if self.code else ""

    def by_codes(self) -> bool:
        """Whether it filters by something only the codes know (code, sold or used
        dates): its totals are then counted from the codes, not the tally."""
        return bool(self.code_prefix()) or any(
            _given(v) for v in (self.sold_from, self.sold_to, self.used_from, self.used_to))

    def batch_ids(self) -> set[int] | None:
        """The batches it is limited to by batch, amount or creation date (None: every
        batch); an empty set when nothing can match."""
        found: set[int] | None = None

        def narrow(ids) -> None:
            nonlocal found
            ids = set(ids)
            found = ids if found is None else found & ids

        if _given(self.batch):
            try:
                narrow([get_batch(self.batch).pk])
            except RechargeError:
                return set()
        if _given(self.amount):
            narrow(Batch.objects.filter(amount=_int(self.amount, _("The amount")))
                   .values_list("pk", flat=True))
        created = self.created_batches()
        if created is not None:
            narrow(p for p, _f, _l in created)
        return found

    def created_batches(self) -> list[tuple[int, int, int]] | None:
        """(id, first code id, last code id) of the batches created in the date range,
        or None without one: a code's creation time is its batch's."""
        if not _given(self.created_from) and not _given(self.created_to):
            return None
        batches = Batch.objects.all()
        if _given(self.created_from):
            op, value = _bound(self.created_from, end=False)
            batches = batches.filter(**{f"created_at__{op}": value})
        if _given(self.created_to):
            op, value = _bound(self.created_to, end=True)
            batches = batches.filter(**{f"created_at__{op}": value})
        return list(batches.values_list("pk", "first_id", "last_id"))


def _given(value) -> bool:
    return value not in (None, "")


def search(query: RechargeQuery | None = None, /, **filters) -> QuerySet:
    """The rows of a :class:`RechargeQuery` (or of its fields given as keywords), in its
    order. Without a status, deleted codes are left out."""
    if query is None:
        query = RechargeQuery(**filters)
    elif filters:
        raise TypeError("search() takes a RechargeQuery or keywords, not both")
    # The batch comes in a second, tiny query (prefetch): joined, SQLite may walk the
    # batches first and sort every code of each (1.5 s instead of 2 ms at 1,000,000 codes).
    qs = Recharge.objects.select_related("sold_by", "used_by").prefetch_related("batch")
    if query.status:
        wanted = query.statuses()
        qs = qs.filter(status=wanted[0]) if len(wanted) == 1 else qs.filter(status__in=wanted)
    else:
        qs = qs.exclude(status=S.DELETED)
    if _given(query.batch):
        try:
            qs = qs.filter(batch_id=get_batch(query.batch).pk)
        except RechargeError:
            return qs.none()
    if _given(query.amount):
        qs = qs.filter(amount=_int(query.amount, _("The amount")))
    digits = query.code_prefix()
    if digits:
        # a prefix as a range, so the unique index answers it on every database
        upper = digits[:-1] + chr(ord(digits[-1]) + 1)
        qs = qs.filter(code__gte=digits, code__lt=upper)
    for field, lo, hi in (("sold_at", query.sold_from, query.sold_to),
                          ("used_at", query.used_from, query.used_to)):
        if _given(lo):
            op, value = _bound(lo, end=False)
            qs = qs.filter(**{f"{field}__{op}": value})
        if _given(hi):
            op, value = _bound(hi, end=True)
            qs = qs.filter(**{f"{field}__{op}": value})
    found = query.created_batches()
    if found is not None:
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
    order = (query.order or "-id").strip()
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


def totals(query: RechargeQuery | QuerySet | None = None) -> dict:
    """Count and face value per status, the outstanding liability and the total.

    ``{"unsold": {"count": n, "value": v}, "sold": ..., "used": ..., "expired": ...,
    "void": ..., "deleted": ..., "outstanding": ..., "total": ...}``; values in minor
    units. ``outstanding`` is sold value nobody has used yet and not moved to breakage
    (= the recharge liability); ``total`` leaves deleted codes out. Without a query, or
    for a :class:`RechargeQuery` that filters only by status, batch, amount or creation
    date, the answer comes from the tally table: the same cost at 1,000,000 codes as at
    10. Other queries (code, sold/used dates), and any QuerySet of recharges, are
    counted from the codes' indexes.
    """
    out = _empty_totals()
    if query is None:
        query = RechargeQuery(status=list(S.values))
    if isinstance(query, RechargeQuery) and not query.by_codes():
        statuses = set(query.statuses())
        batch_ids = query.batch_ids()
        rows = Tally.objects.all()
        if batch_ids is not None:
            rows = rows.filter(batch_id__in=sorted(batch_ids))
        sums = {key: (int(n or 0), int(v or 0)) for key, n, v in
                rows.order_by().values_list("key").annotate(n=Sum("count"), v=Sum("value"))
                .values_list("key", "n", "v")} if batch_ids != set() else {}
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
        qs = search(query) if isinstance(query, RechargeQuery) else query
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

