"""Cash shifts: open with a float, see the current one, close with the counted cash."""

from datetime import datetime

from django.http import Http404
from django.utils.translation import gettext as _
from ninja import Path, Query, Router, Schema, Status

from ficha.core import roles
from ficha.ledger import services as ledger
from ficha.ledger.models import Shift

from .auth import actor, require
from .schemas import (
    ERRORS,
    Id,
    LongText,
    Major,
    Minor,
    MoneyInput,
    MoneyOut,
    PageMeta,
    PageQuery,
    Text150,
    money,
    paginate,
)

router = Router(tags=["shifts"])


class ShiftOut(Schema):
    id: int
    opened_by: str
    opened_at: datetime
    is_open: bool
    opening_float: MoneyOut
    cash_in_drawer: MoneyOut | None = None
    closed_at: datetime | None
    closed_by: str | None
    expected: MoneyOut | None
    counted: MoneyOut | None
    variance: MoneyOut | None
    note: str


class ShiftPage(PageMeta):
    items: list[ShiftOut]


class ShiftFilter(PageQuery):
    open: bool | None = None
    staff: Text150 = ""


class ShiftOpenIn(MoneyInput):
    MONEY_FIELDS = ("opening_float",)
    opening_float: Major | None = None
    opening_float_minor: Minor | None = None


class ShiftCloseIn(MoneyInput):
    MONEY_FIELDS = ("counted",)
    counted: Major | None = None
    counted_minor: Minor | None = None
    note: LongText = ""


def shift_out(shift: Shift, *, live: bool = False) -> dict:
    cur = shift.currency
    return {
        "id": shift.pk,
        "opened_by": shift.opened_by.get_username(),
        "opened_at": shift.opened_at,
        "is_open": shift.is_open,
        "opening_float": money(shift.opening_float, cur),
        "cash_in_drawer": money(ledger.shift_cash(shift), cur) if live and shift.is_open
        else None,
        "closed_at": shift.closed_at,
        "closed_by": shift.closed_by.get_username() if shift.closed_by else None,
        "expected": money(shift.expected, cur),
        "counted": money(shift.counted, cur),
        "variance": money(shift.variance, cur),
        "note": shift.note,
    }


def _current(request) -> Shift:
    shift = ledger.current_shift(request.auth)
    if shift is None:
        raise Http404(_("You have no open shift."))
    return shift


@router.get("/shifts", response={200: ShiftPage, **ERRORS}, auth=require("use_shift"),
            summary="List shifts")
def list_shifts(request, filters: Query[ShiftFilter]):
    """Your own shifts, newest first; owners and managers see everyone's."""
    qs = Shift.objects.select_related("opened_by", "closed_by").order_by("-opened_at", "-id")
    if not roles.can(request.auth, "view_all_shifts"):
        qs = qs.filter(opened_by=request.auth)
    if filters.open is not None:
        qs = qs.filter(closed_at__isnull=filters.open)
    if filters.staff.strip():
        qs = qs.filter(opened_by__username__iexact=filters.staff.strip())
    items, meta = paginate(qs, filters.page, filters.page_size)
    return {**meta, "items": [shift_out(s) for s in items]}


@router.post("/shifts", response={201: ShiftOut, **ERRORS}, auth=require("use_shift"),
             summary="Open a shift")
def open_shift(request, payload: ShiftOpenIn):
    """The opening float moves from the safe into the drawer. One open shift per person."""
    shift = ledger.open_shift(actor(request), payload.minor("opening_float"))
    return Status(201, shift_out(shift, live=True))


@router.get("/shifts/current", response={200: ShiftOut, **ERRORS}, auth=require("use_shift"),
            summary="Your open shift")
def current_shift(request):
    """404 ``not_found`` when you have no open shift."""
    return shift_out(_current(request), live=True)


@router.post("/shifts/current/close", response={200: ShiftOut, **ERRORS},
             auth=require("use_shift"), summary="Close your shift with the counted cash")
def close_shift(request, payload: ShiftCloseIn):
    """Records expected, counted and variance (counted − expected)."""
    shift = _current(request)
    closed = ledger.close_shift(actor(request), shift, payload.minor("counted"), payload.note)
    return shift_out(closed)


@router.get("/shifts/{shift_id}", response={200: ShiftOut, **ERRORS},
            auth=require("use_shift"), summary="Get a shift")
def get_shift(request, shift_id: Path[Id]):
    shift = Shift.objects.select_related("opened_by", "closed_by").filter(pk=shift_id).first()
    if shift is None or (shift.opened_by_id != request.auth.pk
                         and not roles.can(request.auth, "view_all_shifts")):
        raise Http404(_("No shift with id %(id)s.") % {"id": shift_id})
    return shift_out(shift, live=True)
