"""Customers, their balance, ledger entries and staff money actions."""

from datetime import datetime
from typing import Literal

from django.db.models import Sum
from django.http import Http404
from django.utils.translation import gettext as _
from ninja import Path, Query, Router, Status

from ficha.accounts import logins
from ficha.accounts import services as accounts
from ficha.accounts.models import Customer
from ficha.ledger import services as ledger
from ficha.ledger.models import Entry
from ficha.reports import services as reports

from .auth import actor, require
from .errors import ApiError
from .schemas import (
    ERRORS,
    Email,
    Id,
    In,
    LongText,
    Major,
    Minor,
    MoneyInput,
    MoneyOut,
    Out,
    PageMeta,
    PageQuery,
    Text20,
    Text40,
    Text60,
    Text120,
    Text150,
    Text255,
    Text256,
    Username,
    money,
    paginate,
)

router = Router(tags=["customers"])

PriceGroup = Literal["member", "guest", "custom"]
CustomerStatus = Literal["active", "disabled"]


# --- schemas ------------------------------------------------------------------------------
class CustomerOut(Out):
    id: int
    username: str
    full_name: str
    phone: str
    email: str
    id_doc_type: str
    id_doc_number: str
    notes: str
    price_group: str
    custom_group: str
    status: str
    card_uid: str | None
    origin: str
    has_password: bool
    has_pin: bool
    pin_locked: bool = False
    created_at: datetime
    last_seen_at: datetime | None
    balance: MoneyOut


class CustomerPage(PageMeta):
    items: list[CustomerOut]


class CustomerFilter(PageQuery):
    q: Text120 = ""
    status: CustomerStatus | None = None


class CustomerIn(In):
    username: Username
    password: Text256 | None = None
    pin: Text20 | None = None
    full_name: Text150 = ""
    phone: Text40 = ""
    email: Email = ""
    id_doc_type: Text40 = ""
    id_doc_number: Text60 = ""
    notes: LongText = ""
    price_group: PriceGroup = "guest"
    custom_group: Text60 = ""
    card_uid: Text120 | None = None


class CustomerPatch(In):
    username: Username | None = None
    full_name: Text150 | None = None
    phone: Text40 | None = None
    email: Email | None = None
    id_doc_type: Text40 | None = None
    id_doc_number: Text60 | None = None
    notes: LongText | None = None
    price_group: PriceGroup | None = None
    custom_group: Text60 | None = None
    card_uid: Text120 | None = None


class CredentialsIn(In):
    password: Text256 | None = None
    pin: Text256 | None = None


class BalanceOut(Out):
    customer_id: int
    username: str
    balance: MoneyOut


class AmountIn(MoneyInput):
    MONEY_FIELDS = ("amount",)
    amount: Major | None = None
    amount_minor: Minor | None = None
    memo: Text255 = ""


class AdjustmentIn(MoneyInput):
    MONEY_FIELDS = ("amount",)
    amount: Major | None = None
    amount_minor: Minor | None = None
    reason: Text255


class MovementOut(Out):
    transaction_id: int
    kind: str
    created_at: datetime
    customer_id: int
    amount: MoneyOut
    balance: MoneyOut
    memo: str
    shift_id: int | None


class EntryOut(Out):
    id: int
    transaction_id: int
    kind: str
    created_at: datetime
    amount: MoneyOut
    balance_after: MoneyOut
    memo: str
    reference: str
    staff: str | None
    shift_id: int | None
    source: str
    reverses_transaction_id: int | None


class EntryPage(PageMeta):
    items: list[EntryOut]


# --- helpers ------------------------------------------------------------------------------
def get_customer(customer_id: int) -> Customer:
    customer = Customer.objects.select_related("credit_account").filter(pk=customer_id).first()
    if customer is None:
        raise Http404(_("No customer with id %(id)s.") % {"id": customer_id})
    return customer


def customer_out(customer: Customer, balance: int | None = None) -> dict:
    if balance is None:
        balance = accounts.balance(customer)
    return {
        "id": customer.pk,
        "username": customer.username,
        "full_name": customer.full_name,
        "phone": customer.phone,
        "email": customer.email,
        "id_doc_type": customer.id_doc_type,
        "id_doc_number": customer.id_doc_number,
        "notes": customer.notes,
        "price_group": customer.price_group,
        "custom_group": customer.custom_group,
        "status": customer.status,
        "card_uid": customer.card_uid,
        "origin": customer.origin,
        "has_password": bool(customer.password),
        "has_pin": bool(customer.pin),
        "pin_locked": customer.pin_locked,
        "created_at": customer.created_at,
        "last_seen_at": customer.last_seen_at,
        "balance": money(balance),
    }


def movement_out(customer: Customer, tx, credit_change: int) -> dict:
    return {
        "transaction_id": tx.pk,
        "kind": tx.kind,
        "created_at": tx.created_at,
        "customer_id": customer.pk,
        "amount": money(credit_change),
        "balance": money(accounts.balance(customer)),
        "memo": tx.memo,
        "shift_id": tx.shift_id,
    }


# --- customers ----------------------------------------------------------------------------
@router.get("/customers", response={200: CustomerPage, **ERRORS},
            auth=require("view_customers"), summary="List and search customers")
def list_customers(request, filters: Query[CustomerFilter]):
    """Search matches username, name, phone (whatever its spacing), e-mail and card UID
    (case-insensitive), as the console's customer search does."""
    qs = (reports.search_customers(filters.q, filters.status or "")
          .select_related("credit_account").order_by("username", "id"))
    items, meta = paginate(qs, filters.page, filters.page_size)
    balances = ledger.balances([c.credit_account for c in items])
    return {**meta,
            "items": [customer_out(c, balances[c.credit_account_id]) for c in items]}


@router.post("/customers", response={201: CustomerOut, **ERRORS},
             auth=require("manage_customers"), summary="Create a customer")
def create_customer(request, payload: CustomerIn):
    data = payload.model_dump()
    username = data.pop("username")
    password = data.pop("password")
    pin = data.pop("pin")
    customer = accounts.create_customer(actor(request), username, password=password, pin=pin,
                                        **data)
    return Status(201, customer_out(customer, 0))


@router.get("/customers/{customer_id}", response={200: CustomerOut, **ERRORS},
            auth=require("view_customers"), summary="Get a customer")
def get_customer_view(request, customer_id: Path[Id]):
    return customer_out(get_customer(customer_id))


@router.patch("/customers/{customer_id}", response={200: CustomerOut, **ERRORS},
              auth=require("manage_customers"), summary="Edit a customer")
def patch_customer(request, customer_id: Path[Id], payload: CustomerPatch):
    """Send only the fields to change; ``null`` empties a field."""
    customer = get_customer(customer_id)
    changes = payload.model_dump(exclude_unset=True)
    for key, value in list(changes.items()):
        if value is None:
            if key in ("username", "price_group"):
                raise ApiError(400, _("%(field)s cannot be empty.") % {"field": key}, "invalid")
            if key != "card_uid":
                changes[key] = ""
    if changes:
        customer = accounts.update_customer(actor(request), customer, **changes)
    return customer_out(customer)


@router.post("/customers/{customer_id}/credentials", response={200: CustomerOut, **ERRORS},
             auth=require("manage_customers"), summary="Set or remove password and PIN")
def set_credentials(request, customer_id: Path[Id], payload: CredentialsIn):
    """Omit a field to keep it; an empty string removes it."""
    customer = get_customer(customer_id)
    customer = accounts.set_customer_password(actor(request), customer,
                                              password=payload.password, pin=payload.pin)
    return customer_out(customer)


@router.post("/customers/{customer_id}/disable", response={200: CustomerOut, **ERRORS},
             auth=require("manage_customers"), summary="Disable a customer")
def disable_customer(request, customer_id: Path[Id]):
    customer = accounts.set_customer_status(actor(request), get_customer(customer_id), False)
    return customer_out(customer)


@router.post("/customers/{customer_id}/enable", response={200: CustomerOut, **ERRORS},
             auth=require("manage_customers"), summary="Enable a customer")
def enable_customer(request, customer_id: Path[Id]):
    customer = accounts.set_customer_status(actor(request), get_customer(customer_id), True)
    return customer_out(customer)


@router.post("/customers/{customer_id}/unlock", response={200: CustomerOut, **ERRORS},
             auth=require("manage_customers"), summary="Unlock a customer's login")
def unlock_customer(request, customer_id: Path[Id]):
    """The PIN works again from new browsers and strangers' failures are forgotten
    (docs/security.md); audited."""
    customer = logins.unlock_pin(actor(request), get_customer(customer_id))
    return customer_out(customer)


# --- money --------------------------------------------------------------------------------
@router.get("/customers/{customer_id}/balance", response={200: BalanceOut, **ERRORS},
            auth=require("view_customers"), summary="A customer's balance")
def get_balance(request, customer_id: Path[Id]):
    customer = get_customer(customer_id)
    return {"customer_id": customer.pk, "username": customer.username,
            "balance": money(accounts.balance(customer))}


@router.post("/customers/{customer_id}/deposits", response={201: MovementOut, **ERRORS},
             auth=require("deposit"), summary="Top up: deposit cash to a customer's credit")
def deposit(request, customer_id: Path[Id], payload: AmountIn):
    """Cash goes into your open shift's drawer (409 ``no_open_shift`` without one)."""
    customer = get_customer(customer_id)
    amount = payload.minor("amount")
    tx = accounts.deposit(actor(request), customer, amount, payload.memo)
    return Status(201, movement_out(customer, tx, amount))


@router.post("/customers/{customer_id}/refunds", response={201: MovementOut, **ERRORS},
             auth=require("refund"), summary="Refund a customer's credit in cash")
def refund(request, customer_id: Path[Id], payload: AmountIn):
    """Cash leaves your open shift's drawer; at most the customer's credit."""
    customer = get_customer(customer_id)
    amount = payload.minor("amount")
    tx = accounts.refund(actor(request), customer, amount, payload.memo)
    return Status(201, movement_out(customer, tx, -amount))


@router.post("/customers/{customer_id}/adjustments", response={201: MovementOut, **ERRORS},
             auth=require("adjust"), summary="Adjust a balance without cash")
def adjust(request, customer_id: Path[Id], payload: AdjustmentIn):
    """Positive amounts add credit, negative ones remove it; a reason is required."""
    customer = get_customer(customer_id)
    amount = payload.minor("amount", allow_negative=True)
    tx = accounts.adjust(actor(request), customer, amount, payload.reason)
    return Status(201, movement_out(customer, tx, amount))


@router.get("/customers/{customer_id}/entries", response={200: EntryPage, **ERRORS},
            auth=require("view_customers"), summary="Ledger entries of a customer's credit")
def list_entries(request, customer_id: Path[Id], pages: Query[PageQuery]):
    """Newest first. ``amount`` is the change to the credit (+ more credit);
    ``balance_after`` is the credit right after that entry."""
    customer = get_customer(customer_id)
    acct = customer.credit_account
    sign = acct.normal_sign
    qs = (Entry.objects.filter(account_id=acct.pk)
          .select_related("transaction", "transaction__staff").order_by("-id"))
    items, meta = paginate(qs, pages.page, pages.page_size)
    out = []
    if items:
        running = sign * (Entry.objects.filter(account_id=acct.pk, id__lte=items[0].pk)
                          .aggregate(s=Sum("amount"))["s"] or 0)
        for entry in items:
            tx = entry.transaction
            out.append({
                "id": entry.pk,
                "transaction_id": tx.pk,
                "kind": tx.kind,
                "created_at": tx.created_at,
                "amount": money(sign * entry.amount, entry.currency),
                "balance_after": money(running, entry.currency),
                "memo": tx.memo,
                "reference": tx.reference,
                "staff": tx.staff.get_username() if tx.staff else None,
                "shift_id": tx.shift_id,
                "source": tx.source,
                "reverses_transaction_id": tx.reverses_id,
            })
            running -= sign * entry.amount
    return {**meta, "items": out}

