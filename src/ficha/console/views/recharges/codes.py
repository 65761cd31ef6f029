"""One code: its history, audit entries and attempts; voiding it."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from ficha.core import clock, roles
from ficha.core.models import AuditLog
from ficha.ledger import services as ledger
from ficha.recharges import services as rs
from ficha.recharges.models import Recharge, RedeemAttempt

from ...access import actor, capability_required
from .common import S, _money, door_label, shown_status, status_label
from .forms import SellForm, VoidForm


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
        "can_sell": roles.can(user, "sell_recharges") and r.may_sell(now),
        "can_unsell": (roles.can(user, "unsell_recharges") and r.status == S.SOLD
                       and shift is not None and r.sold_shift_id == shift.pk),
        "can_delete": roles.can(user, "delete_recharges") and r.may_delete(),
        "can_void": roles.can(user, "void_recharges") and r.may_void(now),
        "can_print": roles.can(user, "print_recharges") and r.may_print(now),
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

