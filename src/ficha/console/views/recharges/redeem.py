"""Redeeming a code for a customer (a form on the customer's page)."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from ficha.accounts import services as accounts
from ficha.ledger import services as ledger
from ficha.recharges import services as rs

from ...access import actor, capability_required
from .common import _money
from .forms import RedeemForm


@require_POST
@capability_required("view_customers", "redeem_for_customer")
def customer_redeem(request, pk: int):
    from ficha.accounts.models import Customer

    from ..customers import _money_context

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

