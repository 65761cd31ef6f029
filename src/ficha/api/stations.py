"""Café stations over the API: the room (state of every station, as on the console's room
map), sessions (start, stop, pause, resume, move) and remote commands.

Thin: the state is ``stations.services.room`` (the room map's own rule) and every action
is ``stations.services.run``, which audits it. A refusal (locked station, no credit,
already a session, ...) is 409 with the service's message and code.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from django.utils.translation import gettext as _
from ninja import Field, Path, Query, Router, Schema, Status

from ficha.accounts import services as accounts
from ficha.stations import services as st
from ficha.stations.models import CafeSession, Station

from . import errors
from .auth import actor, require
from .schemas import ERRORS, BodyId, Id, In, MoneyOut, Out, Text60, _text, money

router = Router(tags=["stations"])

State = Literal["free", "session", "paused", "locked", "offline", "silent"]
Command = Literal["lock", "unlock", "message", "logoff", "shutdown", "restart"]


class StationFilter(Schema):
    state: State | None = Field(None, description="Only stations in this state")


class CellSessionOut(Out):
    id: int
    kind: str = Field(..., description="prepaid or postpaid")
    status: str = Field(..., description="running or paused")
    customer: str = Field(..., description="Username (prepaid) or the guest's label")
    started_at: dt.datetime
    elapsed: int = Field(..., description="Used seconds, pauses excluded")
    remaining: int | None = Field(
        None,
        description="Prepaid: seconds the credit and "
        "packages still pay for; null: unlimited "
        "or postpaid",
    )
    due: MoneyOut = Field(
        ..., description="Postpaid: the price so far; prepaid: what is not yet debited"
    )


class StationOut(Out):
    id: int
    name: str
    kind: str = Field(..., description="agent (PC with agent) or device (timed from here)")
    group: str | None
    col: int
    row: int
    state: State = Field(
        ...,
        description="As on the room map: free, session, paused, "
        "locked, offline, silent (PC on, agent silent)",
    )
    state_label: str
    locked: bool
    session: CellSessionOut | None


class StationList(Out):
    count: int
    items: list[StationOut]


class SessionOut(Out):
    id: int
    station_id: int
    station: str
    kind: str
    status: str
    customer: str | None
    label: str
    started_at: dt.datetime
    ended_at: dt.datetime | None
    end_reason: str
    seconds: int = Field(..., description="Used seconds as last metered, pauses excluded")
    package_seconds: int = Field(..., description="Of them, paid by time packages")
    charged: MoneyOut
    debited: MoneyOut = Field(..., description="Prepaid: taken from the account so far")


class BillLineOut(Out):
    kind: str = Field(..., description="time, billing, start_fee, minimum, rounding")
    text: str = Field(..., description="How this line was computed, in the request's language")
    seconds: int
    start: dt.datetime | None
    end: dt.datetime | None


class BillOut(Out):
    session: SessionOut
    total: MoneyOut
    billed_seconds: int
    lines: list[BillLineOut]


class StartIn(In):
    customer: _text(150, 1) | None = Field(
        None,
        description="Prepaid: the customer's username (paid from their credit). "
        "Without it, a postpaid guest session paid at the counter",
    )
    label: Text60 | None = Field(None, description="Postpaid: the guest's name for the bill")


class MoveIn(In):
    target: BodyId = Field(..., description="The (free, unlocked) station to move to")


class CommandIn(In):
    action: Command
    text: _text(500) | None = Field(None, description="message: the text to show")


class CommandOut(Out):
    id: int
    station_id: int
    action: str
    text: str
    created_at: dt.datetime
    delivered: bool = Field(
        ...,
        description="Reached the agent already (it is queued for "
        "a few minutes while the PC is offline)",
    )


def _station_error(exc: st.StationError) -> errors.ApiError:
    return errors.ApiError(409, str(exc), exc.code if exc.code != "invalid" else "station_error")


def _cell_out(cell: st.Cell) -> dict:
    station, session = cell.station, cell.session
    out = {
        "id": station.pk,
        "name": station.name,
        "kind": station.kind,
        "group": station.group.name if station.group_id else None,
        "col": station.col,
        "row": station.row,
        "state": cell.state,
        "state_label": cell.label,
        "locked": station.locked,
        "session": None,
    }
    if session is not None:
        out["session"] = {
            "id": session.pk,
            "kind": session.kind,
            "status": session.status,
            "customer": cell.who,
            "started_at": session.started_at,
            "elapsed": cell.elapsed,
            "remaining": cell.remaining,
            "due": money(cell.due, session.tariff.get("currency") or None),
        }
    return out


def session_out(session: CafeSession) -> dict:
    cur = session.tariff.get("currency") or None
    return {
        "id": session.pk,
        "station_id": session.station_id,
        "station": session.station.name,
        "kind": session.kind,
        "status": session.status,
        "customer": session.customer.username if session.customer_id else None,
        "label": session.label,
        "started_at": session.started_at,
        "ended_at": session.ended_at,
        "end_reason": session.end_reason,
        "seconds": session.seconds,
        "package_seconds": session.package_seconds,
        "charged": money(session.charged, cur),
        "debited": money(session.debited, cur),
    }


def _station(station_id: int) -> Station:
    station = Station.objects.filter(pk=station_id).first()
    if station is None:
        raise errors.ApiError(404, _("No station with this id."), "unknown_station")
    return station


def _run(request, station: Station, action: str, **kwargs):
    try:
        return st.run(actor(request), station, action, **kwargs)
    except st.StationError as exc:
        raise _station_error(exc) from None


def _fresh(session: CafeSession) -> CafeSession:
    return CafeSession.objects.select_related("station", "customer").get(pk=session.pk)


@router.get(
    "/stations",
    response={200: StationList, **ERRORS},
    auth=require("operate_stations"),
    summary="The room: every station and its state",
)
def list_stations(request, filters: Query[StationFilter]):
    """Every station in room-map order with the state the console's room map shows (the
    same rule), its customer, elapsed and remaining time and the amount due."""
    cells = st.room()
    groups = {g.pk: g for g in _groups({c.station.group_id for c in cells})}
    for cell in cells:
        if cell.station.group_id:
            cell.station.group = groups[cell.station.group_id]
    items = [_cell_out(c) for c in cells if filters.state in (None, c.state)]
    return {"count": len(items), "items": items}


def _groups(ids):
    from ficha.tariffs.models import StationGroup

    return StationGroup.objects.filter(pk__in=[i for i in ids if i])


@router.get(
    "/stations/{station_id}",
    response={200: StationOut, **ERRORS},
    auth=require("operate_stations"),
    summary="One station and its state",
)
def get_station(request, station_id: Path[Id]):
    station = _station(station_id)
    cell = next(c for c in st.room() if c.station.pk == station.pk)
    return _cell_out(cell)


@router.post(
    "/stations/{station_id}/session",
    response={201: SessionOut, **ERRORS},
    auth=require("operate_stations"),
    summary="Start a session",
)
def start_session(request, station_id: Path[Id], payload: StartIn):
    """Prepaid for ``customer`` (their credit and packages pay; 409 ``no_credit`` when
    they do not cover the first minutes), else a postpaid guest session. Audited."""
    station = _station(station_id)
    customer = None
    if payload.customer:
        customer = accounts.find_customer(payload.customer.strip())
        if customer is None:
            raise errors.ApiError(404, _("No customer with this username."), "unknown_customer")
    session = _run(request, station, "start", text=payload.label or "", customer=customer)
    return Status(201, session_out(_fresh(session)))


def _open(station: Station) -> CafeSession:
    session = st.open_session(station)
    if session is None:
        raise errors.ApiError(409, _("No session on this station."), "no_session")
    return session


@router.post(
    "/stations/{station_id}/session/stop",
    response={200: SessionOut, **ERRORS},
    auth=require("operate_stations"),
    summary="Stop the session",
)
def stop_session(request, station_id: Path[Id]):
    """Ends it now: final metering (prepaid) or the bill to settle at the counter
    (postpaid). Audited."""
    station = _station(station_id)
    session = _open(station)
    _run(request, station, "stop")
    return session_out(_fresh(session))


@router.post(
    "/stations/{station_id}/session/pause",
    response={200: SessionOut, **ERRORS},
    auth=require("operate_stations"),
    summary="Pause the session",
)
def pause_session(request, station_id: Path[Id]):
    """The clock stops; a pause is never priced. Audited."""
    station = _station(station_id)
    _open(station)
    return session_out(_fresh(_run(request, station, "pause")))


@router.post(
    "/stations/{station_id}/session/resume",
    response={200: SessionOut, **ERRORS},
    auth=require("operate_stations"),
    summary="Resume the session",
)
def resume_session(request, station_id: Path[Id]):
    station = _station(station_id)
    _open(station)
    return session_out(_fresh(_run(request, station, "resume")))


@router.post(
    "/stations/{station_id}/session/move",
    response={200: SessionOut, **ERRORS},
    auth=require("operate_stations"),
    summary="Move the session to another station",
)
def move_session(request, station_id: Path[Id], payload: MoveIn):
    """The session keeps its tariff and its time. Audited."""
    station = _station(station_id)
    target = _station(payload.target)
    _open(station)
    return session_out(_fresh(_run(request, station, "move", target=target)))


@router.get(
    "/stations/sessions/{session_id}/bill",
    response={200: BillOut, **ERRORS},
    auth=require("operate_stations"),
    summary="A session's itemised bill",
)
def session_bill(request, session_id: Path[Id]):
    """The price of the used time, line by line (how each amount was computed)."""
    session = (
        CafeSession.objects.select_related("station", "customer").filter(pk=session_id).first()
    )
    if session is None:
        raise errors.ApiError(404, _("No café session with this id."), "unknown_session")
    charge = st.bill(session)
    return {
        "session": session_out(session),
        "total": money(charge.total, charge.currency or None),
        "billed_seconds": charge.billed_seconds,
        "lines": [
            {
                "kind": line.kind,
                "text": line.text,
                "seconds": line.seconds,
                "start": line.start,
                "end": line.end,
            }
            for line in charge.lines
        ],
    }


class UnpaidList(Out):
    count: int
    items: list[SessionOut]


class CheckoutOut(SessionOut):
    paid: MoneyOut
    settled_at: dt.datetime
    shift_id: int | None


@router.get(
    "/stations/sessions/unpaid",
    response={200: UnpaidList, **ERRORS},
    auth=require("operate_stations"),
    summary="Postpaid sessions not yet paid",
)
def unpaid_sessions(request):
    """Ended postpaid sessions waiting for checkout at the counter, oldest first (at most
    500)."""
    items = [session_out(s) for s in st.unpaid().select_related("customer")[:500]]
    return {"count": len(items), "items": items}


@router.post(
    "/stations/sessions/{session_id}/checkout",
    response={200: CheckoutOut, **ERRORS},
    auth=require("operate_stations"),
    summary="Check out a postpaid session",
)
def checkout_session(request, session_id: Path[Id]):
    """Ends the session if it still runs, then takes its price in cash into the caller's
    open shift (409 ``no_open_shift`` without one, ``paid`` when already paid). Audited."""
    if not CafeSession.objects.filter(pk=session_id).exists():
        raise errors.ApiError(404, _("No café session with this id."), "unknown_session")
    try:
        session = st.checkout(actor(request), session_id)
    except st.StationError as exc:
        raise _station_error(exc) from None
    session = _fresh(session)
    return {
        **session_out(session),
        "paid": money(session.paid, session.tariff.get("currency") or None),
        "settled_at": session.settled_at,
        "shift_id": session.shift_id,
    }


@router.post(
    "/stations/{station_id}/commands",
    response={202: CommandOut, **ERRORS},
    auth=require("operate_stations"),
    summary="Send a command to a station's agent",
)
def send_command(request, station_id: Path[Id], payload: CommandIn):
    """lock (pauses a running session), unlock (resumes it), message (``text``), logoff
    and shutdown (end the session), restart. Agent PCs only; delivered within a second
    or two when connected, else when it connects within a few minutes. Audited."""
    station = _station(station_id)
    command = _run(request, station, payload.action, text=payload.text or "")
    return Status(
        202,
        {
            "id": command.pk,
            "station_id": station.pk,
            "action": command.action,
            "text": command.text,
            "created_at": command.created_at,
            "delivered": command.delivered_at is not None,
        },
    )
