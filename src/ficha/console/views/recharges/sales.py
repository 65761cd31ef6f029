"""Selling, undoing a sale and deleting codes from the window."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from ficha.ledger import services as ledger
from ficha.recharges import services as rs
from ficha.recharges.models import Recharge

from ...access import actor, capability_required
from .common import MAX_SELECTION, _back, _ids, _money, _ngroup
from .forms import RangeForm, SellForm


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
    try:
        if mode == "range":
            sale = rs.sell_range(who, data["first"], data["last"], **kw)
        elif mode == "batch":
            sale = rs.sell_batch(who, request.POST.get("batch", ""), **kw)
        else:
            ids = _ids(request)
            if not ids:
                raise rs.RechargeError("input", _("Tick the codes to sell first."))
            sale = rs.sell(who, ids, **kw)
    except (rs.RechargeError, ledger.LedgerError) as exc:
        messages.error(request, str(exc))
        if getattr(exc, "reason", "") == "shift":
            messages.info(request, _("Open your shift on the Shifts page, then sell."))
        return redirect(_back(request))
    messages.success(request, ngettext(
        "%(count)s code sold for %(paid)s (%(method)s).",
        "%(count)s codes sold for %(paid)s (%(method)s).", sale.count,
    ) % {"count": _ngroup(sale.count), "paid": _money(sale.paid),
         "method": rs.payment_method_label(sale.method)})
    return redirect(_back(request))


@require_POST
@capability_required("view_recharges", "unsell_recharges")
def unsell(request):
    ids = _ids(request)
    try:
        if not ids:
            raise rs.RechargeError("input", _("Tick the codes whose sale you undo."))
        done = rs.unsell(actor(request), ids)
    except (rs.RechargeError, ledger.LedgerError) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, ngettext(
            "Sale of %(count)s code undone: give %(amount)s back to the buyer.",
            "Sale of %(count)s codes undone: give %(amount)s back to the buyer.", done.count,
        ) % {"count": _ngroup(done.count), "amount": _money(done.refund)})
    return redirect(_back(request))


def _deletable(ids: list[int]):
    return Recharge.objects.filter(pk__in=ids).deletable().select_related("batch").order_by("id")


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

