"""Booth calls for the PBX: authorize before dialling, end after hanging up.

Thin: the decisions are ``callshop.services.authorize`` and ``end_call``. A refusal is a
normal answer (200 with ``allowed: false``, the reason and a message for the caller); an
unknown booth or call and malformed input are 4xx with a message.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from django.utils.translation import gettext as _
from ninja import Field, Path, Router, Schema
from pydantic import StrictInt, model_validator

from ficha.callshop import services as callshop
from ficha.callshop.calls import MAX_BILLSEC
from ficha.callshop.models import Call
from ficha.callshop.rating import format_micro

from . import errors
from .auth import require
from .schemas import ERRORS, Id, In, MoneyOut, Text20, Text150, _text, money

router = Router(tags=["calls"])

Text80 = _text(80)
Booth = Annotated[_text(80, 1), Field(description="Booth name, PBX account code, endpoint "
                                                  "or channel name (PJSIP/booth3-0000001a)")]


class AuthorizeIn(In):
    booth: Booth
    number: Annotated[_text(80, 1), Field(description="The number as dialled")]
    account: Text150 | None = Field(None, description="A customer account (prepaid)")
    account_pin: Text20 | None = Field(None, description="The account's PIN, if it has one")
    pin: Text20 | None = Field(None, description="A calling-card PIN: a recharge code")
    call_id: Text150 | None = Field(
        None, description="The PBX's id of the call (Asterisk UNIQUEID, FreeSWITCH uuid): "
                          "a retry or the call's CDR finds the same call")
    caller: Text80 | None = None

    @model_validator(mode="after")
    def _one_payer(self):
        if self.pin and self.account:
            raise ValueError(_("Give an account or a PIN, not both."))
        if self.account_pin and not self.account:
            raise ValueError(_("account_pin needs an account."))
        return self


class RateOut(Schema):
    prefix: str
    destination: str
    price_per_minute: str = Field(..., description="Major units, exact (micro-unit precision)")
    connect_fee: str
    billing: str = Field(..., description='Minimum block / increment in seconds, "60/60"')
    first_charge: MoneyOut = Field(..., description="What the shortest billed call costs")


class AuthorizeOut(Schema):
    allowed: bool
    reason: str = Field(..., description="Empty when allowed; else no_payer, pin, account, "
                                         "number, no_deck, no_rate, credit, booth_inactive, "
                                         "throttled, disabled, duplicate")
    message: str = Field(..., description="For the caller, in the request's language")
    id: int | None = Field(None, description="Our call id: end the call with it")
    max_seconds: int = Field(..., description="Longest talk time allowed (0 when refused)")
    postpaid: bool = Field(..., description="Added to the booth's open session")
    rate: RateOut | None
    credit: MoneyOut | None = Field(None, description="Prepaid: the credit free before it")
    reserved: MoneyOut | None = Field(None, description="Prepaid: credit held until the end")
    retry_after: int | None = None
    repeated: bool = Field(..., description="The same call_id was authorized before")


class EndIn(In):
    billsec: StrictInt = Field(..., ge=0, le=MAX_BILLSEC,
                               description="Answered seconds (0: not answered)")
    disposition: Text20 | None = Field(None, description="ANSWERED, NO ANSWER, BUSY, ...")


class CallOut(Schema):
    id: int
    booth: str | None
    state: str
    dialled: str
    number: str
    destination: str
    started_at: dt.datetime
    ended_at: dt.datetime | None
    max_seconds: int | None
    billsec: int
    billed_seconds: int
    cost: MoneyOut
    reserved: MoneyOut
    session_id: int | None
    prepaid: bool
    reason: str
    unpaid: MoneyOut = Field(..., description="Prepaid: the part of the cost the credit "
                             "did not cover (a lost call ended late, a CDR-only call)")


class EndOut(CallOut):
    debited: bool = Field(..., description="A prepaid debit was written by this call")
    repeated: bool = Field(..., description="The call had ended before: nothing changed")


errors.register(callshop.CallError, 400, "call_error")


def _call_error(exc: callshop.CallError):
    status = 404 if exc.code in ("unknown_booth", "unknown_call") else (
        409 if exc.code == "rejected" else 400)
    return errors.ApiError(status, exc.message, exc.code)


def call_out(call: Call) -> dict:
    return {
        "id": call.pk, "booth": call.booth.name if call.booth_id else None,
        "state": call.state, "dialled": call.dialled, "number": call.digits,
        "destination": call.destination, "started_at": call.started_at,
        "ended_at": call.ended_at, "max_seconds": call.max_seconds, "billsec": call.billsec,
        "billed_seconds": call.billed_seconds, "cost": money(call.cost, call.currency),
        "reserved": money(call.reserved, call.currency), "session_id": call.session_id,
        "prepaid": call.customer_id is not None, "reason": call.reason,
        "unpaid": money(call.unpaid, call.currency),
    }


@router.post("/calls/authorize", response={200: AuthorizeOut, **ERRORS},
             auth=require("pbx_calls"), summary="Authorize a booth call")
def authorize_call(request, payload: AuthorizeIn):
    """May this booth dial this number, and for how long? Prepaid (``account`` or a
    calling-card ``pin``) or, with neither, the booth's open postpaid session.
    ``max_seconds`` is the longest talk time the credit pays for (connect fee and minimum
    block included; other live calls of the account hold their share)."""
    try:
        result = callshop.authorize(
            payload.booth, payload.number, account=payload.account or "",
            account_pin=payload.account_pin or "", pin=payload.pin or "",
            external_id=payload.call_id or "", caller=payload.caller or "")
    except callshop.CallError as exc:
        raise _call_error(exc) from None
    terms = result.terms
    rate = None
    if terms is not None:
        rate = {"prefix": terms.prefix, "destination": terms.description,
                "price_per_minute": format_micro(terms.price),
                "connect_fee": format_micro(terms.connect_fee), "billing": terms.billing,
                "first_charge": money(result.first_charge, result.currency)}
    prepaid = result.credit is not None or (result.call is not None
                                            and result.call.customer_id is not None)
    return {
        "allowed": result.allowed, "reason": result.reason, "message": result.message,
        "id": result.call.pk if result.call is not None else None,
        "max_seconds": result.max_seconds if result.allowed else 0,
        "postpaid": result.postpaid, "rate": rate,
        "credit": money(max(result.credit, 0), result.currency)
        if result.credit is not None else None,
        "reserved": money(result.reserved, result.currency)
        if prepaid and result.currency else None,
        "retry_after": result.retry_after, "repeated": result.repeated,
    }


@router.post("/calls/{call_id}/end", response={200: EndOut, **ERRORS},
             auth=require("pbx_calls"), summary="End a booth call")
def end_call(request, call_id: Path[Id], payload: EndIn):
    """Rate the call on ``billsec`` (at most the granted talk time) and debit a prepaid
    account, exactly once: a repeated end answers the first one's result."""
    try:
        ending = callshop.end_call(call_id, payload.billsec,
                                   disposition=payload.disposition or "")
    except callshop.CallError as exc:
        raise _call_error(exc) from None
    return {**call_out(ending.call), "debited": ending.debited, "repeated": ending.repeated}


@router.get("/calls/{call_id}", response={200: CallOut, **ERRORS},
            auth=require("pbx_calls"), summary="A booth call")
def get_call(request, call_id: Path[Id]):
    try:
        call = callshop.get_call(call_id)
    except callshop.CallError as exc:
        raise _call_error(exc) from None
    return call_out(call)
