from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from ficha.accounts import logins
from ficha.accounts import services as accounts
from ficha.accounts.models import Customer
from ficha.core import roles
from ficha.core.money import Money
from ficha.core.services import currency
from ficha.hotspot import services as hotspot
from ficha.ledger import services as ledger
from ficha.reports import services as reports

from ..access import actor, capability_required
from ..forms import (
    AdjustForm,
    CredentialsForm,
    CustomerForm,
    DepositForm,
    NewCustomerForm,
    RefundForm,
)
from .common import paginate, posted

HISTORY_PER_PAGE = 20
MONEY_FORMS = {"deposit": DepositForm, "refund": RefundForm, "adjust": AdjustForm}


def _customer(pk: int) -> Customer:
    return get_object_or_404(Customer.objects.select_related("credit_account"), pk=pk)


@capability_required("view_customers")
def customer_list(request):
    q = request.GET.get("q", "")[:100]
    status = request.GET.get("status", "")
    page_obj = paginate(request, reports.search_customers(q, status), 25)
    context = {
        "q": q,
        "status": status,
        "statuses": Customer.Status.choices,
        "page_obj": page_obj,
        "balances": reports.customer_balances(page_obj.object_list),
        "pager_target": "#results",
    }
    if getattr(request, "htmx", False) and request.htmx.target == "results":
        return render(request, "console/customers/_results.html", context)
    return render(request, "console/customers/list.html", context)


@sensitive_post_parameters("password", "pin")
@capability_required("manage_customers")
def customer_new(request):
    form = NewCustomerForm(posted(request))
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        username = data.pop("username")
        password = data.pop("password") or None
        pin = data.pop("pin") or None
        try:
            customer = accounts.create_customer(actor(request), username, password=password,
                                                pin=pin, **data)
        except accounts.AccountError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, _("Customer %(name)s created.") % {"name": customer})
            return redirect("console:customer", customer.pk)
    elif request.method == "POST":
        secrets = form.valid_data(["password", "pin"])
        form.show_problems(accounts.customer_problems(
            form.valid_data(CustomerForm.FIELDS), password=secrets.get("password"),
            pin=secrets.get("pin")))
    return render(request, "console/customers/form.html", {"form": form, "customer": None})


@capability_required("manage_customers")
def customer_edit(request, pk: int):
    customer = _customer(pk)
    initial = {name: getattr(customer, name) or "" for name in CustomerForm.FIELDS}
    form = CustomerForm(posted(request), initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            accounts.update_customer(actor(request), customer, **form.cleaned_data)
        except accounts.AccountError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, _("Changes saved."))
            return redirect("console:customer", customer.pk)
    elif request.method == "POST":
        form.show_problems(accounts.customer_problems(form.valid_data(CustomerForm.FIELDS),
                                                      instance=customer))
    return render(request, "console/customers/form.html", {"form": form, "customer": customer})


@require_POST
@capability_required("manage_customers")
def customer_status(request, pk: int):
    customer = _customer(pk)
    active = request.POST.get("active") == "1"
    try:
        accounts.set_customer_status(actor(request), customer, active=active)
    except accounts.AccountError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("%(name)s can log in again.") % {"name": customer}
                         if active else
                         _("%(name)s is disabled and cannot log in.") % {"name": customer})
    return redirect("console:customer", customer.pk)


@sensitive_post_parameters("password", "pin")
@capability_required("manage_customers")
def customer_credentials(request, pk: int):
    customer = _customer(pk)
    form = CredentialsForm(posted(request))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        pin = "" if data["clear_pin"] else (data["pin"] or None)
        try:
            accounts.set_customer_password(actor(request), customer,
                                           password=data["password"] or None, pin=pin)
        except accounts.AccountError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, _("Login details of %(name)s changed.")
                             % {"name": customer})
            return redirect("console:customer", customer.pk)
    elif request.method == "POST":
        secrets = form.valid_data(["password", "pin"])
        form.show_problems(accounts.customer_problems(
            {}, password=secrets.get("password"), pin=secrets.get("pin")))
    return render(request, "console/customers/credentials.html",
                  {"form": form, "customer": customer})


def _money_context(request, customer: Customer, forms: dict | None = None,
                   done_message: str = "") -> dict:
    forms = forms or {}
    page = request.GET.get("page") or "1"
    try:
        page_no = max(1, int(page))
    except ValueError:
        page_no = 1
    total = reports.customer_entry_count(customer)
    pages = max(1, (total + HISTORY_PER_PAGE - 1) // HISTORY_PER_PAGE)
    page_no = min(page_no, pages)
    rows = reports.customer_history(customer, (page_no - 1) * HISTORY_PER_PAGE,
                                    HISTORY_PER_PAGE)
    user = request.user
    return {
        "customer": customer,
        "balance": accounts.balance(customer),
        "available": accounts.available(customer),  # less what live calls hold
        "wifi_owed": hotspot.owed(customer.pk),
        "currency": currency(),
        "history": rows,
        "history_page": page_no,
        "history_pages": pages,
        "shift": ledger.current_shift(user),
        "deposit_form": forms.get("deposit") or DepositForm(),
        "refund_form": forms.get("refund") or RefundForm(),
        "adjust_form": forms.get("adjust") or AdjustForm(),
        "can_deposit": roles.can(user, "deposit"),
        "can_refund": roles.can(user, "refund"),
        "can_adjust": roles.can(user, "adjust"),
        "open_panel": next(iter(forms), ""),
        "done_message": done_message,
    }


@capability_required("view_customers")
def customer_detail(request, pk: int):
    customer = _customer(pk)
    return render(request, "console/customers/detail.html", {
        **_money_context(request, customer),
        "login_locked": logins.locked_for_strangers(customer),
    })


@require_POST
@capability_required("manage_customers")
def customer_unlock(request, pk: int):
    """At the counter: the customer's PIN works again and strangers' failures are
    forgotten (audited)."""
    customer = logins.unlock_pin(actor(request), _customer(pk))
    messages.success(request, _("The login of %(name)s is unlocked.") % {"name": customer})
    return redirect("console:customer", customer.pk)


def _money_action(request, pk: int, which: str):
    customer = _customer(pk)
    form = MONEY_FORMS[which](request.POST)
    who = actor(request)
    if form.is_valid():
        data = form.cleaned_data
        try:
            if which == "deposit":
                accounts.deposit(who, customer, data["amount"], memo=data["memo"])
                text = _("%(amount)s deposited to %(name)s.")
            elif which == "refund":
                accounts.refund(who, customer, data["amount"], memo=data["memo"])
                text = _("%(amount)s paid back to %(name)s.")
            else:
                accounts.adjust(who, customer, data["amount"], reason=data["reason"])
                text = _("Balance of %(name)s adjusted by %(amount)s.")
        except (accounts.AccountError, ledger.LedgerError) as exc:
            form.add_service_error(exc)
        else:
            text = text % {"amount": Money(data["amount"], currency()).understood(),
                           "name": customer.username}
            if getattr(request, "htmx", False):
                return render(request, "console/customers/_money.html",
                              _money_context(request, customer, done_message=text))
            messages.success(request, text)
            return redirect(reverse("console:customer", args=[customer.pk]))
    context = _money_context(request, customer, forms={which: form})
    if getattr(request, "htmx", False):
        return render(request, "console/customers/_money.html", context)
    return render(request, "console/customers/detail.html", context)


@require_POST
@capability_required("deposit")
def customer_deposit(request, pk: int):
    return _money_action(request, pk, "deposit")


@require_POST
@capability_required("refund")
def customer_refund(request, pk: int):
    return _money_action(request, pk, "refund")


@require_POST
@capability_required("adjust")
def customer_adjust(request, pk: int):
    return _money_action(request, pk, "adjust")
