"""Prepaid recharge codes: batches, the list with totals, sale, unsale, delete, void,
redemption for a customer, printouts and the CSV export.

Thin doors over ``ficha.recharges.services`` (and ``printouts`` / ``export``). A refused
request (a ``RechargeError``) answers with a status chosen by its ``reason``
(``REASON_STATUS``); a locked-out source gets 429 with ``Retry-After``.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Annotated, Literal

from django.db.models import Count
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.utils.translation import gettext as _
from ninja import Field, Path, Query, Router, Schema
from ninja import Status as HttpStatus
from pydantic import AfterValidator, BeforeValidator, StrictInt, StringConstraints, model_validator

from ficha.accounts import services as accounts
from ficha.accounts.models import Customer
from ficha.core import clock, codes
from ficha.core.money import Money
from ficha.core.services import currency as venue_currency
from ficha.recharges import export, printouts
from ficha.recharges import services as recharges
from ficha.recharges.models import Batch, Recharge

from . import errors
from .auth import actor, require
from .schemas import (
    ERRORS,
    MAX_MINOR,
    Id,
    In,
    Major,
    Message,
    Minor,
    MoneyInput,
    MoneyOut,
    PageMeta,
    PageQuery,
    Text255,
    Username,
    clean_text,
    money,
    paginate,
)

router = Router(tags=["recharges"])

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
MAX_SELECTION = recharges.MAX_BATCH
MAX_PRINT_SELECTION = 1_000
MIN_YEAR, MAX_YEAR = 1970, 2999

# RechargeError.reason -> (HTTP status, machine code)
REASON_STATUS: dict[str, tuple[int, str]] = {
    "input": (400, "recharge_error"),
    "format": (400, "invalid_code_format"),
    "invalid": (400, "invalid_code"),
    "used": (409, "code_used"),
    "state": (409, "recharge_state"),
    "shift": (409, "no_open_shift"),
    "disabled": (409, "customer_disabled"),
    "expired": (410, "code_expired"),
    "throttled": (429, "throttled"),
}
# A RechargeError raised outside this router (and any unknown reason) answers 400.
errors.register(recharges.RechargeError, 400, "recharge_error")

ERRORS_REDEEM = {**ERRORS, 410: Message, 429: Message}


def recharge_error_response(exc: recharges.RechargeError) -> HttpResponse:
    """The JSON answer to a refused recharge request (see ``REASON_STATUS``)."""
    status, code = REASON_STATUS.get(exc.reason, (400, "recharge_error"))
    extra = {"reason": exc.reason}
    if exc.reason == "expired" and exc.expired_at is not None:
        extra["expired_at"] = exc.expired_at.isoformat()
    if exc.reason == "throttled":
        extra["retry_after"] = max(1, int(exc.retry_after or 1))
    message = str(exc) or _("The request cannot be done.")
    response = errors.error_response(status, message, code, **extra)
    if exc.reason == "throttled":
        response["Retry-After"] = str(extra["retry_after"])
    return response


def answer_recharge_errors(handler):
    """Turn a RechargeError into its answer inside the operation (so the idempotency
    layer stores it like any other final answer, and 429 carries Retry-After)."""

    @functools.wraps(handler)
    def wrapper(request, *args, **kwargs):
        try:
            return handler(request, *args, **kwargs)
        except recharges.RechargeError as exc:
            return recharge_error_response(exc)

    return wrapper


router.add_decorator(answer_recharge_errors, mode="operation")


# --- input types ----------------------------------------------------------------------------
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


# --- output schemas -------------------------------------------------------------------------
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


class CustomerLink(Schema):
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
    code: Annotated[str, Field(max_length=64)] = Field(
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


class CountOut(Schema):
    count: int = Field(..., description="How many codes changed")


class RedemptionOut(Schema):
    recharge_id: int
    code: str
    display_code: str
    customer: CustomerLink
    amount: MoneyOut = Field(..., description="Credited now")
    balance: MoneyOut = Field(..., description="The customer's credit afterwards")
    transaction_id: int | None


# --- input schemas --------------------------------------------------------------------------
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


class BatchPrintQuery(Schema):
    status: PrintableStatus | None = Field(None, description="Only unsold or only sold codes "
                                                             "(default: both)")
    offset: Annotated[int, Field(ge=0, le=recharges.MAX_BATCH)] = Field(
        0, description="Skip this many codes (print order), to print a batch in parts")
    limit: Annotated[int, Field(ge=1, le=recharges.MAX_BATCH)] | None = Field(
        None, description="Print at most this many codes")


class TicketOptions(Schema):
    width: Literal["58", "80"] = Field("58", description="Paper width in mm")


# --- helpers --------------------------------------------------------------------------------
def _money_or_none(minor, cur):
    return money(minor, cur) if minor is not None else None


def recharge_out(r: Recharge) -> dict:
    return {
        "id": r.pk,
        "code": r.code,
        "display_code": codes.group(r.code),
        "status": r.status,
        "amount": money(r.amount, r.currency),
        "batch": {"id": r.batch_id, "label": r.batch.label},
        "created_at": r.created_at,
        "expires_at": r.expires_at,
        "sold_at": r.sold_at,
        "sold_by": r.sold_by.get_username() if r.sold_by_id else None,
        "sold_shift_id": r.sold_shift_id,
        "sale_price": _money_or_none(r.sale_price, r.currency),
        "payment_method": r.payment_method,
        "used_at": r.used_at,
        "used_by": ({"id": r.used_by_id, "username": r.used_by.username}
                    if r.used_by_id else None),
        "used_door": r.used_door,
        "expired_at": r.expired_at,
        "voided_at": r.voided_at,
        "voided_by": r.voided_by.get_username() if r.voided_by_id else None,
        "void_reason": r.void_reason,
        "deleted_at": r.deleted_at,
    }


def _counts(batch_ids: list[int]) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {pk: {} for pk in batch_ids}
    if batch_ids:
        rows = (Recharge.objects.filter(batch_id__in=batch_ids).order_by()
                .values_list("batch_id", "status").annotate(n=Count("pk")))
        for batch_id, status, n in rows:
            out[batch_id][status] = n
    return out


def batch_out(batch: Batch, counts: dict[str, int] | None = None) -> dict:
    if counts is None:
        counts = _counts([batch.pk])[batch.pk]
    return {
        "id": batch.pk,
        "label": batch.label,
        "amount": money(batch.amount, batch.currency),
        "count": batch.count,
        "expires_at": batch.expires_at,
        "valid_days": batch.valid_days,
        "code_length": batch.code_length,
        "check_digit": batch.check_digit,
        "created_by": batch.created_by.get_username() if batch.created_by_id else None,
        "created_at": batch.created_at,
        "counts": counts,
    }


def _get_batch(batch_id: int) -> Batch:
    batch = Batch.objects.select_related("created_by").filter(pk=batch_id).first()
    if batch is None:
        raise Http404(_("No batch with id %(id)s.") % {"id": batch_id})
    return batch


def _batch_ref(ref) -> Batch:
    """A batch named in a body (id or label); an unknown one is a 404."""
    try:
        return recharges.get_batch(ref)
    except recharges.RechargeError:
        raise Http404(_("No such batch: %(ref)s") % {"ref": ref})


def _get_recharge(code: str) -> Recharge:
    found = recharges.get_by_code(code)
    if found is None:
        raise Http404(_("No recharge with code %(code)s.") % {"code": code[:64]})
    return Recharge.objects.select_related("batch", "sold_by", "used_by", "voided_by").get(
        pk=found.pk)


def _ids_of_codes(typed: list[str]) -> list[int]:
    """Recharge ids of codes as typed; an unknown code is refused by name."""
    wanted = {}
    for text in typed:
        digits = codes.normalize(text)
        if not digits or not digits.isascii():
            raise Http404(_("No recharge with code %(code)s.") % {"code": text})
        wanted.setdefault(digits, text)
    found: dict[str, int] = {}
    keys = list(wanted)
    for i in range(0, len(keys), 500):
        found.update(Recharge.objects.filter(code__in=keys[i:i + 500])
                     .values_list("code", "pk"))
    for digits, text in wanted.items():
        if digits not in found:
            raise Http404(_("No recharge with code %(code)s.") % {"code": text})
    return [found[d] for d in wanted]


def _selected_ids(payload: _Selection) -> list[int]:
    ids = list(payload.ids or [])
    if payload.codes:
        ids += _ids_of_codes(payload.codes)
    if not ids:
        raise recharges.RechargeError("input", _("Select at least one code."))
    return ids


def _search(filters: RechargeFilter):
    amount = filters.amount_minor
    if filters.amount is not None:
        if amount is not None:
            raise recharges.RechargeError("input", _("Give either amount or amount_minor, "
                                                     "not both."))
        amount = Money.parse(filters.amount, venue_currency()).minor
    return recharges.search(
        status=list(filters.status) or None, batch=filters.batch, amount=amount,
        code=filters.code or None, sold_from=filters.sold_from, sold_to=filters.sold_to,
        used_from=filters.used_from, used_to=filters.used_to,
        created_from=filters.created_from, created_to=filters.created_to,
        order=filters.order,
    )


def _totals_out(totals: dict) -> dict:
    cur = venue_currency()
    return {key: {"count": value["count"], "value": money(value["value"], cur)}
            for key, value in totals.items()}


def _filters_for_audit(filters: RechargeFilter) -> dict:
    out = {}
    for key, value in filters.model_dump(exclude_defaults=True).items():
        out[key] = value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else value
    return out


def _binary(content_type: str, extension: str) -> dict:
    return {"responses": {200: {
        "description": f"The {extension} file",
        "content": {content_type: {"schema": {"type": "string", "format": "binary"}}},
    }}}


def _download(data: bytes, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(data, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Content-Length"] = str(len(data))
    return response


def _safe_name(label: str) -> str:
    name = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_.") else "-"
                   for ch in label).strip("-.")
    return name[:60] or "recharges"


def _printable(rows: list[Recharge]) -> list[Recharge]:
    return [r for r in rows if r.status in (S.UNSOLD, S.SOLD)]


def _batch_rows(batch_id: int, query: BatchPrintQuery) -> tuple[Batch, list[Recharge]]:
    batch = _get_batch(batch_id)
    wanted = [query.status] if query.status else [S.UNSOLD, S.SOLD]
    qs = recharges.search(batch=batch, status=wanted, order="id")
    end = query.offset + query.limit if query.limit is not None else None
    rows = list(qs[query.offset:end])
    if not rows:
        raise Http404(_("This batch has no printable codes (unsold or sold)."))
    return batch, rows


def _selection_rows(selection: PrintSelection) -> list[Recharge]:
    ids = list(selection.id)
    if selection.code:
        ids += _ids_of_codes(selection.code)
    if not ids:
        raise recharges.RechargeError("input", _("Give id or code parameters to print."))
    by_pk = {r.pk: r for r in Recharge.objects.filter(pk__in=ids).select_related("batch")}
    rows = _printable([by_pk[pk] for pk in dict.fromkeys(ids) if pk in by_pk])
    if not rows:
        raise Http404(_("None of these codes can be printed (only unsold or sold ones)."))
    return rows


def _stamp() -> str:
    return f"{recharges.local_time(clock.now()):%Y%m%d-%H%M}"


# --- batches --------------------------------------------------------------------------------
@router.post("/recharges/batches", response={201: BatchOut, **ERRORS},
             auth=require("generate_recharges"), summary="Generate a batch of recharges")
def generate(request, payload: GenerateIn):
    """Creates ``count`` unsold codes of ``amount`` each (1 to 100,000). Expiry:
    ``expires_at`` (a date: valid to the end of that venue-local day) or ``valid_days``,
    or neither (never expires). Codes follow the venue's code settings and are never
    reused. Unsold codes are worth nothing until sold."""
    batch = recharges.generate(actor(request), count=payload.count,
                               amount=payload.minor("amount"), expires_at=payload.expires_at,
                               valid_days=payload.valid_days, label=payload.label)
    return HttpStatus(201, batch_out(_get_batch(batch.pk), {S.UNSOLD: batch.count}))


@router.get("/recharges/batches", response={200: BatchPage, **ERRORS},
            auth=require("view_recharges"), summary="List batches")
def list_batches(request, filters: Query[BatchFilter]):
    """Newest first, each with its codes counted per status."""
    qs = Batch.objects.select_related("created_by").order_by("-id")
    if filters.q.strip():
        qs = qs.filter(label__icontains=filters.q.strip())
    items, meta = paginate(qs, filters.page, filters.page_size)
    counts = _counts([b.pk for b in items])
    return {**meta, "items": [batch_out(b, counts[b.pk]) for b in items]}


@router.get("/recharges/batches/{batch_id}", response={200: BatchOut, **ERRORS},
            auth=require("view_recharges"), summary="Get a batch")
def get_batch(request, batch_id: Path[Id]):
    return batch_out(_get_batch(batch_id))


@router.get("/recharges/batches/{batch_id}/cards.pdf", response=ERRORS,
            auth=require("print_recharges"), summary="Print a batch: A4 PDF of cards",
            openapi_extra=_binary("application/pdf", "PDF"))
def batch_pdf(request, batch_id: Path[Id], query: Query[BatchPrintQuery]):
    """Cards with the venue name, code, amount, expiry and a QR code that opens the
    portal's recharge page with the code filled in. Unsold and sold codes (or only
    ``status``), in print order; 21 cards per A4 page. A large batch takes time (about
    a second per 1,000 cards): ``offset`` and ``limit`` print it in parts."""
    batch, rows = _batch_rows(batch_id, query)
    data = printouts.pdf(actor(request), rows, printouts.base_url(request), title=batch.label)
    return _download(data, "application/pdf", f"{_safe_name(batch.label)}.pdf")


@router.get("/recharges/batches/{batch_id}/tickets.escpos", response=ERRORS,
            auth=require("print_recharges"),
            summary="Print a batch: ESC/POS receipt tickets",
            openapi_extra=_binary("application/octet-stream", "ESC/POS"))
def batch_escpos(request, batch_id: Path[Id], query: Query[BatchPrintQuery],
                 options: Query[TicketOptions]):
    """Raw bytes for a 58 or 80 mm receipt printer, one ticket per code (same selection
    as the PDF)."""
    batch, rows = _batch_rows(batch_id, query)
    data = printouts.escpos(actor(request), rows, printouts.base_url(request),
                            width_mm=int(options.width))
    return _download(data, "application/octet-stream", f"{_safe_name(batch.label)}.escpos")


# --- the list, export and selected printouts (fixed paths before /recharges/{code}) ---------
@router.get("/recharges", response={200: RechargePage, **ERRORS},
            auth=require("view_recharges"), summary="List and filter recharges, with totals")
def list_recharges(request, filters: Query[RechargeListQuery]):
    """Filters combine. Dates are whole venue-local days (both ends included) or exact
    ISO 8601 times. ``totals`` counts and sums every code matching the filters (not only
    this page) per status, with ``outstanding``: sold value not used yet."""
    qs = _search(filters)
    items, meta = paginate(qs, filters.page, filters.page_size)
    return {**meta, "items": [recharge_out(r) for r in items],
            "totals": _totals_out(recharges.totals(qs))}


@router.get("/recharges/export.csv", response=ERRORS, auth=require("export_recharges"),
            summary="Export recharges as CSV", openapi_extra=_binary("text/csv", "CSV"))
def export_csv(request, filters: Query[RechargeFilter]):
    """The same filters as the list; every matching code, one row each: code, amount,
    currency, status, batch, expires_at, sold_at, sold_by, sale_price, payment_method,
    used_at, used_by. Times are ISO 8601 (UTC). Exports are recorded in the audit log."""
    qs = _search(filters)
    export.record_export(actor(request), filters=_filters_for_audit(filters),
                         count=qs.count())
    response = StreamingHttpResponse(export.csv_lines(qs.iterator(chunk_size=2000)),
                                     content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="recharges-{_stamp()}.csv"'
    return response


@router.get("/recharges/cards.pdf", response=ERRORS, auth=require("print_recharges"),
            summary="Print selected recharges: A4 PDF of cards",
            openapi_extra=_binary("application/pdf", "PDF"))
def selection_pdf(request, selection: Query[PrintSelection]):
    """``?code=…&code=…`` and/or ``?id=…`` (up to 1,000); unsold and sold codes only."""
    rows = _selection_rows(selection)
    data = printouts.pdf(actor(request), rows, printouts.base_url(request))
    return _download(data, "application/pdf", f"recharges-{_stamp()}.pdf")


@router.get("/recharges/tickets.escpos", response=ERRORS, auth=require("print_recharges"),
            summary="Print selected recharges: ESC/POS receipt tickets",
            openapi_extra=_binary("application/octet-stream", "ESC/POS"))
def selection_escpos(request, selection: Query[PrintSelection],
                     options: Query[TicketOptions]):
    rows = _selection_rows(selection)
    data = printouts.escpos(actor(request), rows, printouts.base_url(request),
                            width_mm=int(options.width))
    return _download(data, "application/octet-stream", f"recharges-{_stamp()}.escpos")


# --- actions --------------------------------------------------------------------------------
@router.post("/recharges/sell", response={200: CountOut, **ERRORS},
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
        n = recharges.sell_batch(act, _batch_ref(payload.batch), **kw)
    elif payload.first is not None:
        for typed in (payload.first, payload.last):
            _ids_of_codes([typed])  # 404 names an unknown code
        n = recharges.sell_range(act, payload.first, payload.last, **kw)
    else:
        n = recharges.sell(act, _selected_ids(payload), **kw)
    return {"count": n}


@router.post("/recharges/unsell", response={200: CountOut, **ERRORS},
             auth=require("unsell_recharges"), summary="Undo sales of your current shift")
def unsell(request, payload: UnsellIn):
    """Gives back codes you sold in your current shift and nobody used (the others are
    skipped; none at all: 409). An owner voids a code sold in an earlier shift."""
    return {"count": recharges.unsell(actor(request), _selected_ids(payload))}


@router.post("/recharges/delete", response={200: CountOut, **ERRORS},
             auth=require("delete_recharges"), summary="Delete unsold recharges")
def delete(request, payload: DeleteIn):
    """Only unsold codes (others are skipped; none at all: 409). A deleted code is never
    issued again, and trying it raises a fraud alert."""
    if payload.batch is not None:
        batch = _batch_ref(payload.batch)
        selection = Recharge.objects.filter(batch_id=batch.pk, status__in=[S.UNSOLD,
                                                                           S.EXPIRED])
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
        customer = Customer.objects.filter(pk=payload.customer_id).first()
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


# --- one recharge ---------------------------------------------------------------------------
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
