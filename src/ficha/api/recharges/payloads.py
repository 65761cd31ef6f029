"""Input and output schemas (payloads) of the recharges endpoints."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from django.utils.translation import gettext as _
from ninja import Field, Schema
from pydantic import AfterValidator, BeforeValidator, StrictInt, StringConstraints, model_validator

from ficha.core import clock, codes
from ficha.recharges import services as recharges
from ficha.recharges.models import Recharge

from ..schemas import (
    MAX_MINOR,
    Id,
    In,
    Major,
    Minor,
    MoneyInput,
    MoneyOut,
    Out,
    PageMeta,
    PageQuery,
    Text255,
    Username,
    clean_text,
)

S = Recharge.Status
StatusName = Literal["unsold", "sold", "used", "expired", "void", "deleted"]
PrintableStatus = Literal["unsold", "sold"]
PaymentMethod = Literal[tuple(recharges.PAYMENT_METHODS)]  # type: ignore[valid-type]
_SORT_FIELDS = ("id", "code", "amount", "status", "expires_at", "sold_at", "used_at",
                "created_at", "batch")
Order = Literal[tuple(f"{sign}{name}" for name in _SORT_FIELDS for sign in ("", "-"))]  # type: ignore[valid-type]
Text80 = Annotated[str, StringConstraints(max_length=80), AfterValidator(clean_text)]
CodeText = Annotated[str, StringConstraints(min_length=1, max_length=64),
                     AfterValidator(clean_text)]


def _code_prefix(value: str) -> str:
    """A code prefix as typed must hold a digit: "abc" would match every code."""
    if value.strip() and not codes.normalize(value):
        raise ValueError(_("A recharge code has digits only; check what you typed."))
    return value


CodePrefix = Annotated[str, StringConstraints(max_length=64), AfterValidator(clean_text),
                       AfterValidator(_code_prefix)]
MAX_SELECTION = recharges.MAX_BATCH
MAX_PRINT_SELECTION = 1_000
MIN_YEAR, MAX_YEAR = 1970, 2999


def _when(value):
    """A date ("2026-05-01": that whole venue-local day) or an ISO 8601 date-time."""
    if isinstance(value, (dt.date, dt.datetime)) or value is None:
        return value
    if not isinstance(value, str) or len(value) > 40:
        raise ValueError(_("Give a date (YYYY-MM-DD) or a date and time (ISO 8601)."))
    text = value.strip()
    try:
        parsed = dt.date.fromisoformat(text)
    except ValueError:
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(_("Give a date (YYYY-MM-DD) or a date and time (ISO 8601)."))
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        # far dates overflow when moved between time zones or to the next day
        raise ValueError(_("Give a date between %(first)d and %(last)d.")
                         % {"first": MIN_YEAR, "last": MAX_YEAR})
    return parsed


When = Annotated[dt.datetime | dt.date, BeforeValidator(_when)]


BatchRef = Annotated[Id, Field(description="Batch id")] | Text80


class StatusCounts(Schema):
    unsold: int = 0
    sold: int = 0
    used: int = 0
    expired: int = 0
    void: int = 0
    deleted: int = 0


class BatchOut(Schema):
    id: int
    label: str
    amount: MoneyOut
    count: int
    expires_at: dt.datetime | None
    valid_days: int | None
    code_length: int
    check_digit: bool
    created_by: str | None
    created_at: dt.datetime
    counts: StatusCounts = Field(..., description="Codes of this batch per status, now")


class BatchPage(PageMeta):
    items: list[BatchOut]


class BatchFilter(PageQuery):
    q: Text80 = Field("", description="Part of the label")


class BatchLink(Schema):
    id: int
    label: str


class CustomerLink(Out):
    id: int
    username: str


class RechargeOut(Schema):
    id: int
    code: str = Field(..., description="Digits only")
    display_code: str = Field(..., description="Grouped for people: 1234 5678")
    status: StatusName
    amount: MoneyOut
    batch: BatchLink
    created_at: dt.datetime
    expires_at: dt.datetime | None
    sold_at: dt.datetime | None
    sold_by: str | None
    sold_shift_id: int | None
    sale_price: MoneyOut | None
    payment_method: str
    used_at: dt.datetime | None
    used_by: CustomerLink | None
    used_door: str
    expired_at: dt.datetime | None
    voided_at: dt.datetime | None
    voided_by: str | None
    void_reason: str
    deleted_at: dt.datetime | None


class Total(Schema):
    count: int
    value: MoneyOut


class Totals(Schema):
    unsold: Total
    sold: Total
    used: Total
    expired: Total
    void: Total
    deleted: Total
    outstanding: Total = Field(..., description="Sold, unused value the shop still owes "
                                                "(the recharge liability)")
    total: Total = Field(..., description="Every status but deleted")


class RechargePage(PageMeta):
    items: list[RechargeOut]
    totals: Totals


class RechargeFilter(Schema):
    status: list[StatusName] = Field(
        default_factory=list,
        description="Repeat for several; without it every status but deleted")
    batch: Text80 | None = Field(None, description="Batch id or label")
    amount: Major | None = Field(None, description="Face value in major units, \"500\"")
    amount_minor: Annotated[int, Field(ge=0, le=MAX_MINOR)] | None = Field(
        None, description="Face value in minor units")
    code: CodePrefix = Field(
        "", description="Code prefix as typed (\"1234\" or \"1234 5\")")
    sold_from: When | None = None
    sold_to: When | None = None
    used_from: When | None = None
    used_to: When | None = None
    created_from: When | None = None
    created_to: When | None = None
    order: Order = Field("-id", description="A field, \"-\" first for descending")


class RechargeListQuery(RechargeFilter, PageQuery):
    pass


class SaleOut(Schema):
    count: int = Field(..., description="How many codes were sold")
    paid: MoneyOut = Field(..., description="What the buyer paid for them together")
    face: MoneyOut = Field(..., description="Their face value together")
    payment_method: str
    transaction_id: int


class UnsaleOut(Schema):
    count: int = Field(..., description="How many codes went back to unsold")
    refund: MoneyOut = Field(..., description="What goes back to the buyers")
    face: MoneyOut


class CountOut(Schema):
    count: int = Field(..., description="How many codes changed")


class RedemptionOut(Out):
    recharge_id: int
    code: str
    display_code: str
    customer: CustomerLink
    amount: MoneyOut = Field(..., description="Credited now")
    balance: MoneyOut = Field(..., description="The customer's credit afterwards")
    transaction_id: int | None


class GenerateIn(MoneyInput):
    MONEY_FIELDS = ("amount",)
    count: Annotated[StrictInt, Field(ge=1, le=recharges.MAX_BATCH)]
    amount: Major | None = None
    amount_minor: Minor | None = None
    expires_at: dt.date | None = Field(
        None, description="Last valid day (valid to its end, venue time)")
    valid_days: Annotated[StrictInt, Field(ge=1, le=recharges.MAX_VALID_DAYS)] | None = Field(
        None, description="Valid until the end of the day N days from today "
                          f"(presets: {', '.join(map(str, recharges.VALID_DAY_PRESETS))})")
    label: Text80 = Field("", description="Unique; default: date and batch id")

    @model_validator(mode="after")
    def _not_too_far(self):
        if self.expires_at is not None:
            last = clock.today() + dt.timedelta(days=recharges.MAX_VALID_DAYS)
            if self.expires_at > last:
                raise ValueError(_("A code is valid for 1 to %(max)d days.")
                                 % {"max": recharges.MAX_VALID_DAYS})
        return self


class _Selection(In):
    ids: list[Id] | None = Field(None, max_length=MAX_SELECTION)
    codes: list[CodeText] | None = Field(None, max_length=MAX_SELECTION,
                                         description="As typed; \"1234 5678\" is fine")

    def _picked(self) -> list[str]:
        return [name for name in ("ids", "codes") if getattr(self, name) is not None]


class SellIn(_Selection, MoneyInput):
    first: CodeText | None = Field(None, alias="from",
                                   description="First code of a printed range")
    last: CodeText | None = Field(None, alias="to", description="Last code of the range")
    batch: BatchRef | None = Field(None, description="Every sellable code of a batch "
                                                     "(id or label)")
    payment_method: PaymentMethod = "cash"
    price: Major | None = Field(None, description="Per code, major units "
                                                  "(default: the face value)")
    price_minor: Minor | None = None

    @model_validator(mode="after")
    def _one_selection(self):
        kinds = [bool(self._picked()), self.first is not None or self.last is not None,
                 self.batch is not None]
        if sum(kinds) != 1:
            raise ValueError(_("Choose what to sell: ids and/or codes, a range (from and to) "
                               "or a batch."))
        if (self.first is None) != (self.last is None):
            raise ValueError(_("A range needs both from and to."))
        if self.price is not None and self.price_minor is not None:
            raise ValueError(_("Give either price or price_minor, not both."))
        return self

    def price_value(self) -> int | None:
        if self.price is None and self.price_minor is None:
            return None
        return self.minor("price")


class UnsellIn(_Selection):
    @model_validator(mode="after")
    def _some(self):
        if not self._picked():
            raise ValueError(_("Give ids or codes."))
        return self


class DeleteIn(_Selection):
    batch: BatchRef | None = Field(None, description="Every unsold code of a batch")

    @model_validator(mode="after")
    def _one_selection(self):
        if bool(self._picked()) == (self.batch is not None):
            raise ValueError(_("Give ids and/or codes, or a batch."))
        return self


class VoidIn(In):
    reason: Text255 = Field(..., description="Why (kept in the audit log)")


class RedeemIn(In):
    code: CodeText
    customer_id: Id | None = None
    username: Username | None = None

    @model_validator(mode="after")
    def _one_customer(self):
        if (self.customer_id is None) == (self.username is None):
            raise ValueError(_("Give either customer_id or username."))
        return self


class PrintSelection(Schema):
    id: list[Id] = Field(default_factory=list, max_length=MAX_PRINT_SELECTION,
                         description="Recharge ids (repeat the parameter)")
    code: list[CodeText] = Field(default_factory=list, max_length=MAX_PRINT_SELECTION,
                                 description="Codes (repeat the parameter)")
    # a printout holds at most printouts.MAX_CARDS cards: more answers 422


class BatchPrintQuery(Schema):
    status: PrintableStatus | None = Field(None, description="Only unsold or only sold codes "
                                                             "(default: both)")
    offset: Annotated[int, Field(ge=0, le=recharges.MAX_BATCH)] = Field(
        0, description="Skip this many codes (print order), to print a batch in parts")
    limit: Annotated[int, Field(ge=1, le=recharges.MAX_BATCH)] | None = Field(
        None, description="Print at most this many codes")


class TicketOptions(Schema):
    width: Literal["58", "80"] = Field("58", description="Paper width in mm")

