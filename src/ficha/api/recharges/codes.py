"""Codes: the list with totals, sell, unsell, delete, redeem, get one, void."""

from __future__ import annotations

from django.http import Http404
from django.utils.translation import gettext as _
from ninja import Path, Query, Router

from ficha.accounts import services as accounts
from ficha.accounts.models import Customer
from ficha.core import codes, rows
from ficha.core.services import currency as venue_currency
from ficha.recharges import services as recharges
from ficha.recharges.models import Recharge

from ..auth import actor, require
from ..schemas import ERRORS, money, paginate
from .common import (
    ERRORS_REDEEM,
    _batch_ref,
    _get_recharge,
    _ids_of_codes,
    _query,
    _selected_ids,
    _totals_out,
    recharge_out,
)
from .payloads import (
    CodeText,
    CountOut,
    DeleteIn,
    RechargeListQuery,
    RechargeOut,
    RechargePage,
    RedeemIn,
    RedemptionOut,
    SaleOut,
    SellIn,
    UnsaleOut,
    UnsellIn,
    VoidIn,
)

router = Router()


@router.get("/recharges", response={200: RechargePage, **ERRORS},
            auth=require("view_recharges"), summary="List and filter recharges, with totals")
def list_recharges(request, filters: Query[RechargeListQuery]):
    """Filters combine. Dates are whole venue-local days (both ends included) or exact
    ISO 8601 times. ``totals`` counts and sums every code matching the filters (not only
    this page) per status, with ``outstanding``: sold value not used yet."""
    query = _query(filters)
    items, meta = paginate(recharges.search(query), filters.page, filters.page_size)
    return {**meta, "items": [recharge_out(r) for r in items],
            "totals": _totals_out(recharges.totals(query))}


@router.post("/recharges/sell", response={200: SaleOut, **ERRORS},
             auth=require("sell_recharges"), summary="Sell recharges")
def sell(request, payload: SellIn):
    """Sell ``ids``/``codes``, a printed range (``from``, ``to``: same batch, both
    included) or a whole ``batch``. Only unsold, unexpired codes are sold; the others
    are skipped (``count`` says how many were sold; none at all: 409). Needs your open
    shift. ``price`` per code defaults to the face value; the liability is always the
    face value."""
    kw = {"payment_method": payload.payment_method, "price": payload.price_value()}
    act = actor(request)
    if payload.batch is not None:
        sale = recharges.sell_batch(act, _batch_ref(payload.batch), **kw)
    elif payload.first is not None:
        for typed in (payload.first, payload.last):
            _ids_of_codes([typed])  # 404 names an unknown code
        sale = recharges.sell_range(act, payload.first, payload.last, **kw)
    else:
        sale = recharges.sell(act, _selected_ids(payload), **kw)
    cur = venue_currency()
    return {"count": sale.count, "paid": money(sale.paid, cur), "face": money(sale.face, cur),
            "payment_method": sale.method, "transaction_id": sale.transaction.pk}


@router.post("/recharges/unsell", response={200: UnsaleOut, **ERRORS},
             auth=require("unsell_recharges"), summary="Undo sales of your current shift")
def unsell(request, payload: UnsellIn):
    """Gives back codes you sold in your current shift and nobody used (the others are
    skipped; none at all: 409). An owner voids a code sold in an earlier shift.
    ``refund`` is what goes back to the buyers."""
    done = recharges.unsell(actor(request), _selected_ids(payload))
    cur = venue_currency()
    return {"count": done.count, "refund": money(done.refund, cur),
            "face": money(done.face, cur)}


@router.post("/recharges/delete", response={200: CountOut, **ERRORS},
             auth=require("delete_recharges"), summary="Delete unsold recharges")
def delete(request, payload: DeleteIn):
    """Only unsold codes (others are skipped; none at all: 409). A deleted code is never
    issued again, and trying it raises a fraud alert."""
    if payload.batch is not None:
        batch = _batch_ref(payload.batch)
        selection = Recharge.objects.filter(batch_id=batch.pk).deletable()
        n = recharges.delete(actor(request), selection)
    else:
        n = recharges.delete(actor(request), _selected_ids(payload))
    return {"count": n}


@router.post("/recharges/redeem", response={200: RedemptionOut, **ERRORS_REDEEM},
             auth=require("redeem_for_customer"), summary="Redeem a code for a customer")
def redeem(request, payload: RedeemIn):
    """Credits the customer with a sold, unexpired, unused code, exactly once.
    Unknown and unsold codes are both 400 ``invalid_code``; an expired code is 410
    ``code_expired`` (with ``expired_at``); a used one 409 ``code_used``; too many
    failures from your address or for this customer: 429 with ``Retry-After``."""
    if payload.customer_id is not None:
        customer = rows.by_pk(Customer, payload.customer_id)
        missing = payload.customer_id
    else:
        customer = accounts.find_customer(payload.username)
        missing = payload.username
    if customer is None:
        raise Http404(_("No customer %(ref)s.") % {"ref": missing})
    act = actor(request)
    source = recharges.Source(ip=act.ip, account=customer.username, door="api")
    done = recharges.redeem(payload.code, customer=customer, source=source, actor=act)
    r = done.recharge
    return {
        "recharge_id": r.pk,
        "code": r.code,
        "display_code": codes.group(r.code),
        "customer": {"id": done.customer.pk, "username": done.customer.username},
        "amount": money(done.amount, r.currency),
        "balance": money(done.balance),
        "transaction_id": r.redeem_transaction_id,
    }


@router.get("/recharges/{code}", response={200: RechargeOut, **ERRORS},
            auth=require("view_recharges"), summary="Get a recharge by its code")
def get_recharge(request, code: Path[CodeText]):
    """The code as typed: ``12345678`` or ``1234 5678`` (URL-encoded)."""
    return recharge_out(_get_recharge(code))


@router.post("/recharges/{code}/void", response={200: RechargeOut, **ERRORS},
             auth=require("void_recharges"), summary="Void a sold recharge (owner)")
def void(request, code: Path[CodeText], payload: VoidIn):
    """A sold, unused code becomes void and the buyer gets back what they paid: cash
    from your open shift (409 ``no_open_shift`` without one) or the original non-cash
    payment method. A reason is required. Unsold codes are deleted instead; used or
    expired codes cannot be voided (409 ``recharge_state``)."""
    row = recharges.void(actor(request), _get_recharge(code), payload.reason)
    return recharge_out(_get_recharge(row.code))

