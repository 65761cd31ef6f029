"""The recharges window (list, filters, sort, totals) and its CSV export."""

from __future__ import annotations

from django.contrib import messages
from django.http import StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from ficha.core import clock, roles
from ficha.ledger import services as ledger
from ficha.recharges import services as rs
from ficha.recharges.models import Batch, Recharge

from ...access import actor, capability_required
from .common import BATCH_CHOICES, COLUMNS, DEFAULT_SORT, PER_PAGE, STATUSES, Row, S
from .forms import FilterForm, GenerateForm, RangeForm, SellForm


def _filters(data: dict) -> dict:
    """The search() keywords other than status and order."""
    out = {}
    for key in ("batch", "amount", "code", *FilterForm.DATE_FIELDS):
        value = data.get(key)
        if value not in (None, ""):
            out[key] = value
    return out


def _totals(status: str, others: dict) -> dict:
    """Totals per status for the filters other than status (so every status tab shows
    its count), from the tally table when nothing else is filtered."""
    if not others:
        return rs.totals()
    if status == S.DELETED:
        return rs.totals(rs.RechargeQuery(status=list(S.values), **others))
    return rs.totals(rs.RechargeQuery(**others))


def _headers(sort: str) -> list[dict]:
    current = sort.lstrip("-")
    desc = sort.startswith("-")
    out = []
    for key, (label, first) in COLUMNS.items():
        if key == current:
            nxt = key if desc else f"-{key}"
            state = "desc" if desc else "asc"
        else:
            nxt = f"{first}{key}"
            state = ""
        out.append({"key": key, "label": label, "next": nxt, "state": state})
    return out


def _window_context(request) -> dict:
    user = request.user
    params = request.GET.copy()
    if params:
        params.setdefault("per_page", str(PER_PAGE))  # so the menu shows what is used
    form = FilterForm(params or None)
    data = {}
    if form.is_bound:
        form.is_valid()  # invalid fields are left out; their errors are shown
        data = form.cleaned_data
    sort = data.get("sort") or DEFAULT_SORT
    per_page = data.get("per_page") or PER_PAGE
    status = data.get("status") or ""
    others = _filters(data)
    if not params.get("sort"):
        # a date range reads best (and fastest: its index) in that date's order
        if others.get("sold_from") or others.get("sold_to"):
            sort = "-sold_at"
        elif others.get("used_from") or others.get("used_to"):
            sort = "-used_at"
    batch = None
    if others.get("batch"):
        try:
            batch = rs.get_batch(others["batch"])
            others["batch"] = batch.pk
        except rs.RechargeError as exc:
            form.add_error("batch", str(exc))
    try:
        page = max(1, int(request.GET.get("page") or 1))
    except ValueError:
        page = 1
    try:
        qs = rs.search(status=status or None, order=sort, **others)
        totals = _totals(status, others)
    except rs.RechargeError as exc:
        form.add_error(None, str(exc))
        qs = Recharge.objects.none()
        totals = rs.totals(qs)
    count = totals[status]["count"] if status else totals["total"]["count"]
    pages = max(1, (count + per_page - 1) // per_page)
    page = min(page, pages)
    start = (page - 1) * per_page
    now = clock.now()
    rows = [Row(r, now) for r in rs.page(qs, start, per_page)]
    shift = ledger.current_shift(user)
    tabs = [{"value": "", "label": _("All"), "count": totals["total"]["count"],
             "value_total": totals["total"]["value"]}]
    tabs += [{"value": s.value, "label": s.label, "count": totals[s]["count"],
              "value_total": totals[s]["value"]} for s in STATUSES]
    if status == S.DELETED or (totals[S.DELETED]["count"] and not others):
        tabs.append({"value": S.DELETED.value, "label": S.DELETED.label,
                     "count": totals[S.DELETED]["count"],
                     "value_total": totals[S.DELETED]["value"]})
    return {
        "form": form,
        "rows": rows,
        "totals": totals,
        "tabs": tabs,
        "status": status,
        "sort": sort,
        "sort_param": data.get("sort") if params.get("sort") else "",
        "headers": _headers(sort),
        "count": count,
        "page": page,
        "pages": pages,
        "per_page": per_page,
        "first_row": start + 1 if rows else 0,
        "last_row": start + len(rows),
        "has_prev": page > 1,
        "has_next": page < pages,
        "batch": batch,
        "batches": Batch.objects.order_by("-id").values_list("label", flat=True)[:BATCH_CHOICES],
        "filtered": bool(others) or bool(status),
        "more_open": any(data.get(k) for k in FilterForm.DATE_FIELDS),
        "shift": shift,
        "sell_form": SellForm(),
        "range_form": RangeForm(),
        "batch_sell_form": SellForm(prefix="batch"),
        "generate_form": GenerateForm(),
        "here": request.get_full_path(),
        "can": {cap: roles.can(user, f"{cap}_recharges")
                for cap in ("sell", "unsell", "delete", "generate", "export", "print",
                            "void")},
    }


@capability_required("view_recharges")
def window(request):
    context = _window_context(request)
    if getattr(request, "htmx", False) and request.htmx.target == "window-results":
        return render(request, "console/recharges/_results.html", context)
    return render(request, "console/recharges/window.html", context)


@capability_required("view_recharges", "export_recharges")
def export_csv(request):
    form = FilterForm(request.GET or None)
    data = {}
    if form.is_bound:
        form.is_valid()  # as in the window: fields with errors are left out
        data = form.cleaned_data
    others = _filters(data)
    query = rs.RechargeQuery(status=data.get("status") or None,
                             order=data.get("sort") or DEFAULT_SORT, **others)
    try:
        done = rs.export(actor(request), query, excel=True)
    except rs.RechargeError as exc:
        messages.error(request, str(exc))
        return redirect(reverse("console:recharges"))
    response = StreamingHttpResponse(done.lines, content_type="text/csv; charset=utf-8")
    stamp = rs.local_time(clock.now()).strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="recharges-{stamp}.csv"'
    return response

