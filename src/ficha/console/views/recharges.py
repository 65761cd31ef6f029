"""The recharges window: list, filter, sort and total every code; generate, sell, undo a
sale, delete, void, print and export; one code's history; redeem a code for a customer.

Every action is a plain POST form (it works without JavaScript) that redirects back to
the window with its filters and a message saying what happened. Filters, sorting and
pages are plain GET links that htmx swaps in place (``#window-results``).
"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import messages
from django.db.models import Q, Sum, TextField
from django.db.models.functions import Cast
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_http_methods, require_POST

from ficha.accounts import services as accounts
from ficha.core import clock, roles
from ficha.core.models import AuditLog
from ficha.core.money import Money
from ficha.core.services import currency
from ficha.ledger import services as ledger
from ficha.recharges import export, printouts
from ficha.recharges import services as rs
from ficha.recharges.models import Batch, Recharge, RedeemAttempt

from ..access import actor, capability_required
from ..forms import ConsoleForm, MoneyField
from .common import safe_next

S = Recharge.Status
PER_PAGE = 50
PER_PAGE_CHOICES = (25, 50, 100, 200)
# Statuses a person filters by, in the order of a code's life; deleted codes (tombstones)
# are listed only when asked for.
STATUSES = [S.UNSOLD, S.SOLD, S.USED, S.EXPIRED, S.VOID]
PRINTABLE = [S.UNSOLD, S.SOLD]
MAX_SELECTION = 1000  # ids per POST (a page shows at most 200)
BATCH_CHOICES = 300  # recent batches offered in the filter's list

# column -> (label, the first direction a click sorts by)
COLUMNS = {
    "code": (gettext_lazy("Code"), ""),
    "amount": (gettext_lazy("Amount"), "-"),
    "status": (gettext_lazy("Status"), ""),
    "batch": (gettext_lazy("Batch"), "-"),
    "expires_at": (gettext_lazy("Expires"), ""),
    "sold_at": (gettext_lazy("Sold"), "-"),
    "used_at": (gettext_lazy("Used"), "-"),
}
SORTS = {"id", "created_at", *COLUMNS} | {f"-{c}" for c in ("id", "created_at", *COLUMNS)}
DEFAULT_SORT = "-id"


def _money(minor: int) -> str:
    return Money(int(minor or 0), currency()).format()


def _ngroup(n: int) -> str:
    """A count as people read it (thousands grouped)."""
    from django.utils.formats import number_format

    return number_format(n, force_grouping=True)


def payment_choices() -> list[tuple[str, str]]:
    return [(m, rs.payment_method_label(m)) for m in rs.PAYMENT_METHODS]


# --- forms ------------------------------------------------------------------------------
class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%d")


class FilterForm(ConsoleForm):
    required_css_class = ""

    code = forms.CharField(label=gettext_lazy("Code"), required=False, max_length=64,
                           widget=forms.TextInput(attrs={
                               "inputmode": "numeric", "autocomplete": "off",
                               "placeholder": "1234 5678",
                               "type": "search"}))
    status = forms.ChoiceField(label=gettext_lazy("Status"), required=False)
    batch = forms.CharField(label=gettext_lazy("Batch"), required=False, max_length=80,
                            widget=forms.TextInput(attrs={"list": "batch-list",
                                                          "autocomplete": "off"}))
    amount = MoneyField(label=gettext_lazy("Amount"), required=False)
    sold_from = forms.DateField(label=gettext_lazy("Sold from"), required=False,
                                widget=DateInput())
    sold_to = forms.DateField(label=gettext_lazy("Sold until"), required=False,
                              widget=DateInput())
    used_from = forms.DateField(label=gettext_lazy("Used from"), required=False,
                                widget=DateInput())
    used_to = forms.DateField(label=gettext_lazy("Used until"), required=False,
                              widget=DateInput())
    created_from = forms.DateField(label=gettext_lazy("Created from"), required=False,
                                   widget=DateInput())
    created_to = forms.DateField(label=gettext_lazy("Created until"), required=False,
                                 widget=DateInput())
    per_page = forms.TypedChoiceField(
        label=gettext_lazy("Per page"), required=False, coerce=int, empty_value=PER_PAGE,
        initial=PER_PAGE,
        choices=[(n, str(n)) for n in PER_PAGE_CHOICES])
    sort = forms.CharField(required=False, widget=forms.HiddenInput)

    DATE_FIELDS = ("sold_from", "sold_to", "used_from", "used_to", "created_from",
                   "created_to")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["status"].choices = [("", _("Every status"))] + [
            (s.value, s.label) for s in STATUSES] + [(S.DELETED.value, S.DELETED.label)]
        self.fields["amount"].widget.attrs["class"] = "money money-small"

    def clean_sort(self):
        value = self.cleaned_data.get("sort") or DEFAULT_SORT
        return value if value in SORTS else DEFAULT_SORT


class GenerateForm(ConsoleForm):
    VALIDITY = [
        ("", gettext_lazy("No expiry")),
        ("7", gettext_lazy("7 days")),
        ("30", gettext_lazy("30 days")),
        ("90", gettext_lazy("90 days")),
        ("date", gettext_lazy("On a date")),
    ]
    count = forms.IntegerField(label=gettext_lazy("Number of codes"), min_value=1,
                               max_value=rs.MAX_BATCH, initial=100,
                               widget=forms.NumberInput(attrs={"inputmode": "numeric"}))
    amount = MoneyField(label=gettext_lazy("Amount of each code"), limit="max_face_value")
    validity = forms.ChoiceField(label=gettext_lazy("Valid for"), choices=VALIDITY,
                                 required=False, initial="", widget=forms.RadioSelect)
    expires_on = forms.DateField(label=gettext_lazy("Expiry date"), required=False,
                                 widget=DateInput(),
                                 help_text=gettext_lazy("The code works until the end of "
                                                        "that day."))
    label = forms.CharField(label=gettext_lazy("Batch name"), required=False, max_length=80,
                            help_text=gettext_lazy("Optional. By default: the date and a "
                                                   "number."))

    def clean(self):
        data = super().clean()
        validity = data.get("validity") or ""
        day = data.get("expires_on")
        if validity == "date" and not day:
            self.add_error("expires_on", _("Choose the expiry date."))
        elif validity not in ("", "date") and day:
            self.add_error("expires_on", _("Choose a number of days or a date, not both."))
        return data

    def expiry(self) -> dict:
        data = self.cleaned_data
        if data.get("expires_on"):
            return {"expires_at": data["expires_on"]}
        if data.get("validity") and data["validity"].isdigit():
            return {"valid_days": int(data["validity"])}
        return {}


class SellForm(ConsoleForm):
    payment_method = forms.ChoiceField(label=gettext_lazy("Payment"), initial="cash")
    price = MoneyField(label=gettext_lazy("Price per code"), required=False,
                       help_text=gettext_lazy("Empty: the amount printed on the code."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["payment_method"].choices = payment_choices()


class RangeForm(SellForm):
    first = forms.CharField(label=gettext_lazy("From code"), max_length=64,
                            widget=forms.TextInput(attrs={"inputmode": "numeric",
                                                          "autocomplete": "off"}))
    last = forms.CharField(label=gettext_lazy("To code"), max_length=64,
                           widget=forms.TextInput(attrs={"inputmode": "numeric",
                                                         "autocomplete": "off"}))

    field_order = ["first", "last", "payment_method", "price"]


class VoidForm(ConsoleForm):
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=500,
                             widget=forms.Textarea(attrs={"rows": 2}),
                             help_text=gettext_lazy("Kept in the audit log."))
    confirm = forms.BooleanField(label=gettext_lazy("Yes, void this code and refund the "
                                                    "buyer"))


class RedeemForm(ConsoleForm):
    code = forms.CharField(label=gettext_lazy("Recharge code"), max_length=64,
                           widget=forms.TextInput(attrs={
                               "inputmode": "numeric", "autocomplete": "off",
                               "placeholder": "1234 5678", "class": "code-input"}))


# --- helpers ----------------------------------------------------------------------------
def _ids(request) -> list[int]:
    out = []
    for value in request.POST.getlist("ids")[:MAX_SELECTION]:
        try:
            out.append(int(value))
        except (TypeError, ValueError):
            continue
    return out


def _back(request) -> str:
    return safe_next(request, reverse("console:recharges"))


def _window_url(**params) -> str:
    from urllib.parse import urlencode

    url = reverse("console:recharges")
    params = {k: v for k, v in params.items() if v not in (None, "")}
    return f"{url}?{urlencode(params)}" if params else url


def shown_status(r: Recharge, now: dt.datetime) -> str:
    """The status a person should see: a live code past its expiry is expired already,
    even before the worker's sweep marks it."""
    if r.status in (S.UNSOLD, S.SOLD) and r.expires_at is not None and r.expires_at <= now:
        return S.EXPIRED
    return r.status


DOORS = {
    "portal": gettext_lazy("in the portal"),
    "portal_login": gettext_lazy("at the portal's login"),
    "console": gettext_lazy("at the counter (console)"),
    "api": gettext_lazy("through the API"),
    "station": gettext_lazy("at a station"),
    "hotspot": gettext_lazy("at the hotspot login"),
}


def door_label(door: str) -> str:
    return str(DOORS.get(door, door or ""))


def status_label(value: str) -> str:
    return str(S(value).label) if value in S.values else value


class Row:
    """One line of the window."""

    __slots__ = ("r", "status", "status_label", "was_sold")

    def __init__(self, r: Recharge, now: dt.datetime):
        self.r = r
        self.status = shown_status(r, now)
        self.status_label = status_label(self.status)
        self.was_sold = r.sold_at is not None


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
        return rs.totals(rs.search(status=list(S.values), **others))
    return rs.totals(rs.search(**others))


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


# --- the window -------------------------------------------------------------------------
@capability_required("view_recharges")
def window(request):
    context = _window_context(request)
    if getattr(request, "htmx", False) and request.htmx.target == "window-results":
        return render(request, "console/recharges/_results.html", context)
    return render(request, "console/recharges/window.html", context)


@capability_required("view_recharges", "generate_recharges")
def generate(request):
    form = GenerateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            batch = rs.generate(actor(request), count=data["count"], amount=data["amount"],
                                label=data["label"], **form.expiry())
        except rs.RechargeError as exc:
            form.add_service_error(exc)
        else:
            text = ngettext(
                "%(count)s code of %(amount)s generated (batch %(label)s).",
                "%(count)s codes of %(amount)s generated (batch %(label)s).", batch.count,
            ) % {"count": _ngroup(batch.count), "amount": _money(batch.amount),
                 "label": batch.label}
            messages.success(request, text)
            return redirect(_window_url(batch=batch.label))
    return render(request, "console/recharges/generate.html", {"form": form})


def _last_sale_tx(user) -> int:
    from ficha.ledger.models import Transaction

    return (Transaction.objects.filter(kind="recharge.sale", staff=user)
            .order_by("-id").values_list("pk", flat=True).first() or 0)


def _paid_since(user, last_tx: int) -> int:
    """What the buyer paid in the sale(s) this staff member just recorded."""
    from ficha.ledger.models import Transaction

    txs = Transaction.objects.filter(kind="recharge.sale", staff=user, pk__gt=last_tx)
    return int(Recharge.objects.filter(sale_transaction__in=txs)
               .aggregate(s=Sum("sale_price"))["s"] or 0)


@require_POST
@capability_required("view_recharges", "sell_recharges")
def sell(request):
    mode = request.POST.get("mode") or "selected"
    who = actor(request)
    if mode == "range":
        form = RangeForm(request.POST)
    elif mode == "batch":
        form = SellForm(request.POST, prefix="batch")
    else:
        form = SellForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for e in errors:
                messages.error(request, e)
        return redirect(_back(request))
    data = form.cleaned_data
    kw = {"payment_method": data["payment_method"], "price": data.get("price")}
    last_tx = _last_sale_tx(request.user)
    try:
        if mode == "range":
            n = rs.sell_range(who, data["first"], data["last"], **kw)
        elif mode == "batch":
            n = rs.sell_batch(who, request.POST.get("batch", ""), **kw)
        else:
            ids = _ids(request)
            if not ids:
                raise rs.RechargeError("input", _("Tick the codes to sell first."))
            n = rs.sell(who, ids, **kw)
    except (rs.RechargeError, ledger.LedgerError) as exc:
        messages.error(request, str(exc))
        if getattr(exc, "reason", "") == "shift":
            messages.info(request, _("Open your shift on the Shifts page, then sell."))
        return redirect(_back(request))
    paid = _paid_since(request.user, last_tx)
    messages.success(request, ngettext(
        "%(count)s code sold for %(paid)s (%(method)s).",
        "%(count)s codes sold for %(paid)s (%(method)s).", n,
    ) % {"count": _ngroup(n), "paid": _money(paid),
         "method": rs.payment_method_label(kw["payment_method"])})
    return redirect(_back(request))


@require_POST
@capability_required("view_recharges", "unsell_recharges")
def unsell(request):
    ids = _ids(request)
    shift = ledger.current_shift(request.user)
    # what goes back to the buyers: the same codes the service will take (sold in this
    # shift, still unused)
    give_back = 0
    if shift is not None and ids:
        give_back = int(Recharge.objects.filter(pk__in=ids, status=S.SOLD, sold_shift=shift)
                        .aggregate(s=Sum("sale_price"))["s"] or 0)
    try:
        if not ids:
            raise rs.RechargeError("input", _("Tick the codes whose sale you undo."))
        n = rs.unsell(actor(request), ids)
    except (rs.RechargeError, ledger.LedgerError) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, ngettext(
            "Sale of %(count)s code undone: give %(amount)s back to the buyer.",
            "Sale of %(count)s codes undone: give %(amount)s back to the buyer.", n,
        ) % {"count": _ngroup(n), "amount": _money(give_back)})
    return redirect(_back(request))


def _deletable(ids: list[int]):
    return (Recharge.objects.filter(pk__in=ids)
            .filter(Q(status=S.UNSOLD) | Q(status=S.EXPIRED, sold_at__isnull=True))
            .select_related("batch").order_by("id"))


@require_POST
@capability_required("view_recharges", "delete_recharges")
def delete(request):
    ids = _ids(request)
    if not ids:
        messages.error(request, _("Tick the codes to delete first."))
        return redirect(_back(request))
    if request.POST.get("confirm") != "1":
        deletable = list(_deletable(ids)[:MAX_SELECTION])
        return render(request, "console/recharges/delete.html", {
            "deletable": deletable,
            "skipped": len(ids) - len(deletable),
            "ids": [r.pk for r in deletable],
            "next": _back(request),
        })
    try:
        n = rs.delete(actor(request), ids)
    except rs.RechargeError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, ngettext(
            "%(count)s unsold code deleted. It can never be used or issued again.",
            "%(count)s unsold codes deleted. They can never be used or issued again.", n,
        ) % {"count": _ngroup(n)})
    return redirect(_back(request))


def _print_rows(request) -> tuple[list[Recharge], str]:
    """The codes to print (unsold or sold only) and a name for the file."""
    batch_ref = request.POST.get("batch") or request.GET.get("batch") or ""
    if batch_ref:
        try:
            batch = rs.get_batch(batch_ref)
        except rs.RechargeError:
            raise Http404
        rows = list(rs.search(batch=batch, status=PRINTABLE, order="id"))
        return rows, batch.label
    ids = _ids(request)
    rows = list(Recharge.objects.filter(pk__in=ids, status__in=PRINTABLE)
                .select_related("batch").order_by("id"))
    labels = {r.batch.label for r in rows}
    name = labels.pop() if len(labels) == 1 else f"{clock.now():%Y%m%d-%H%M}"
    return rows, name


def _file_name(text: str) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in text)
    return safe.strip("-.")[:60] or "recharges"


# One printout holds at most this many cards (100 A4 sheets: a few seconds and ~20 MB of
# memory to make); a bigger batch is offered as parts.
PRINT_PART = 2100


@require_http_methods(["GET", "POST"])
@capability_required("view_recharges", "print_recharges")
def print_codes(request):
    fmt = request.POST.get("format") or request.GET.get("format") or "pdf"
    if fmt not in ("pdf", "58", "80"):
        fmt = "pdf"
    rows, name = _print_rows(request)
    if not rows:
        messages.error(request, _("Nothing to print: only unsold and sold codes are printed."))
        return redirect(_back(request))
    if len(rows) > PRINT_PART:
        parts = [(n + 1, start + 1, min(start + PRINT_PART, len(rows)))
                 for n, start in enumerate(range(0, len(rows), PRINT_PART))]
        try:
            part = int(request.POST.get("part") or request.GET.get("part") or 0)
        except ValueError:
            part = 0
        if not 1 <= part <= len(parts):
            return render(request, "console/recharges/print_parts.html", {
                "parts": parts, "fmt": fmt, "count": len(rows), "name": name,
                "batch": request.POST.get("batch") or request.GET.get("batch") or "",
                "ids": _ids(request), "next": _back(request),
            })
        rows = rows[(part - 1) * PRINT_PART:part * PRINT_PART]
        name = f"{name}-part{part}"
    url = printouts.base_url(request)
    name = _file_name(f"recharges-{name}")
    if fmt == "pdf":
        data = printouts.pdf(actor(request), rows, url, title=name.removeprefix("recharges-"))
        response = HttpResponse(data, content_type="application/pdf")
        filename = f"{name}.pdf"
    else:
        data = printouts.escpos(actor(request), rows, url, width_mm=int(fmt))
        response = HttpResponse(data, content_type="application/octet-stream")
        filename = f"{name}-{fmt}mm.prn"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@capability_required("view_recharges", "export_recharges")
def export_csv(request):
    form = FilterForm(request.GET or None)
    data = {}
    if form.is_bound:
        form.is_valid()  # as in the window: fields with errors are left out
        data = form.cleaned_data
    others = _filters(data)
    try:
        qs = rs.search(status=data.get("status") or None,
                       order=data.get("sort") or DEFAULT_SORT, **others)
    except rs.RechargeError as exc:
        messages.error(request, str(exc))
        return redirect(reverse("console:recharges"))
    response = StreamingHttpResponse(export.csv_lines(qs.iterator(chunk_size=2000), excel=True),
                                     content_type="text/csv; charset=utf-8")
    stamp = rs.local_time(clock.now()).strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="recharges-{stamp}.csv"'
    return response


# --- one code ---------------------------------------------------------------------------
def _events(r: Recharge) -> list[dict]:
    """The code's life, oldest first."""
    b = r.batch
    out = [{"at": r.created_at, "what": "created", "label": _("Generated"),
            "who": b.created_by, "detail": _("in batch %(label)s") % {"label": b.label}}]
    if r.sold_at:
        detail = _("%(price)s, %(method)s") % {
            "price": _money(r.sale_price), "method": rs.payment_method_label(r.payment_method)}
        out.append({"at": r.sold_at, "what": "sold", "label": _("Sold"), "who": r.sold_by,
                    "detail": detail, "shift": r.sold_shift_id})
    if r.used_at:
        out.append({"at": r.used_at, "what": "used", "label": _("Used"), "who": None,
                    "customer": r.used_by, "detail": door_label(r.used_door)})
    if r.expired_at:
        out.append({"at": r.expired_at, "what": "expired", "label": _("Expired"),
                    "who": None, "detail": ""})
    if r.voided_at:
        out.append({"at": r.voided_at, "what": "void", "label": _("Voided"),
                    "who": r.voided_by, "detail": r.void_reason})
    if r.deleted_at:
        out.append({"at": r.deleted_at, "what": "deleted", "label": _("Deleted"),
                    "who": r.deleted_by, "detail": ""})
    return sorted(out, key=lambda e: e["at"])


def _audit_for(r: Recharge) -> list[AuditLog]:
    """Audit entries about this code: its own, its sale's, its batch's, and the undo or
    delete of several codes at once that named it."""
    direct = Q(object_type="recharges.recharge", object_id=str(r.pk))
    direct |= Q(object_type="recharges.batch", object_id=str(r.batch_id),
                action="recharges.generate")
    txs = [str(t) for t in (r.sale_transaction_id, r.void_transaction_id) if t]
    if txs:
        direct |= Q(object_type="ledger.transaction", object_id__in=txs)
    found = list(AuditLog.objects.filter(direct).select_related("actor")
                 .order_by("-at", "-id")[:100])
    # several codes in one action: their codes are listed in ``after``
    many = (AuditLog.objects.filter(action__in=["recharges.unsell", "recharges.delete",
                                                "recharges.sell"])
            .annotate(text=Cast("after", TextField()))
            .filter(text__contains=r.code).select_related("actor").order_by("-at", "-id")[:50])
    seen = {e.pk for e in found}
    found += [e for e in many if e.pk not in seen]
    return sorted(found, key=lambda e: (e.at, e.pk), reverse=True)


def _detail_context(request, r: Recharge, void_form=None) -> dict:
    user = request.user
    shift = ledger.current_shift(user)
    now = clock.now()
    status = shown_status(r, now)
    return {
        "r": r,
        "status": status,
        "status_label": status_label(status),
        "events": _events(r),
        "audit": _audit_for(r) if roles.can(user, "view_audit") else [],
        "attempts": list(RedeemAttempt.objects.filter(recharge=r)
                         .select_related("customer", "staff")[:50]),
        "shift": shift,
        "sell_form": SellForm(),
        "void_form": void_form or VoidForm(),
        "can_sell": roles.can(user, "sell_recharges") and status == S.UNSOLD,
        "can_unsell": (roles.can(user, "unsell_recharges") and r.status == S.SOLD
                       and shift is not None and r.sold_shift_id == shift.pk),
        "can_delete": roles.can(user, "delete_recharges") and (
            r.status == S.UNSOLD or (r.status == S.EXPIRED and r.sold_at is None)),
        "can_void": (roles.can(user, "void_recharges") and r.status == S.SOLD
                     and status != S.EXPIRED),
        "can_print": roles.can(user, "print_recharges") and r.status in PRINTABLE,
        "here": request.get_full_path(),
    }


def _recharge(pk: int) -> Recharge:
    return get_object_or_404(
        Recharge.objects.select_related("batch", "batch__created_by", "sold_by", "used_by",
                                        "voided_by", "deleted_by"), pk=pk)


@capability_required("view_recharges")
def detail(request, pk: int):
    r = _recharge(pk)
    return render(request, "console/recharges/detail.html", _detail_context(request, r))


@require_POST
@capability_required("view_recharges", "void_recharges")
def void(request, pk: int):
    r = _recharge(pk)
    form = VoidForm(request.POST)
    if form.is_valid():
        try:
            done = rs.void(actor(request), r, form.cleaned_data["reason"])
        except (rs.RechargeError, ledger.LedgerError) as exc:
            if getattr(exc, "reason", "") == "input":
                form.add_service_error(exc)
            else:  # the code's state or the shift: say so above the page
                messages.error(request, str(exc))
                return redirect("console:recharge", r.pk)
        else:
            method = rs.payment_method_label(done.payment_method)
            messages.success(request, _(
                "Code %(code)s voided. Refund %(amount)s to the buyer (%(method)s).")
                % {"code": done.display_code, "amount": _money(done.sale_price),
                   "method": method})
            return redirect("console:recharge", done.pk)
    return render(request, "console/recharges/detail.html",
                  _detail_context(request, r, void_form=form), status=400)


# --- redeem for a customer (a form on the customer's page) ------------------------------
@require_POST
@capability_required("view_customers", "redeem_for_customer")
def customer_redeem(request, pk: int):
    from ficha.accounts.models import Customer

    from .customers import _money_context

    customer = get_object_or_404(Customer.objects.select_related("credit_account"), pk=pk)
    form = RedeemForm(request.POST)
    error = ""
    if form.is_valid():
        source = rs.Source(ip=getattr(request, "client_ip", None),
                           account=customer.username, door="console")
        try:
            done = rs.redeem(form.cleaned_data["code"], customer=customer, source=source,
                             actor=actor(request))
        except (rs.RechargeError, accounts.AccountError, ledger.LedgerError) as exc:
            error = str(exc)
        else:
            messages.success(request, _(
                "Code %(code)s added to %(name)s's credit: +%(amount)s. New balance: "
                "%(balance)s.") % {"code": done.recharge.display_code,
                                   "name": customer.username, "amount": _money(done.amount),
                                   "balance": _money(done.balance)})
            return redirect("console:customer", customer.pk)
    else:
        error = " ".join(str(e) for errs in form.errors.values() for e in errs)
    context = _money_context(request, customer)
    context.update({"redeem_error": error, "redeem_code": request.POST.get("code", "")[:64]})
    return render(request, "console/customers/detail.html", context, status=400)

