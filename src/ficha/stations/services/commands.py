"""Remote commands from the console: every one audited, delivered by the link door."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ficha.core import audit, clock

from ..models import CafeSession, Station, StationCommand
from . import sessions
from .base import OPEN, StationError, refresh

# action -> label (the console's buttons)
ACTIONS = {
    "start": gettext_lazy("Start session"),
    "stop": gettext_lazy("Stop session"),
    "pause": gettext_lazy("Pause"),
    "resume": gettext_lazy("Resume"),
    "lock": gettext_lazy("Lock"),
    "unlock": gettext_lazy("Unlock"),
    "message": gettext_lazy("Send message"),
    "logoff": gettext_lazy("Log off"),
    "shutdown": gettext_lazy("Shut down"),
    "restart": gettext_lazy("Restart"),
    "move": gettext_lazy("Move session"),
}
AGENT_ONLY = {"lock", "unlock", "message", "logoff", "shutdown", "restart"}
PENDING_SECONDS = 300  # a command for an offline PC is delivered if it connects this soon


def _queue(station: Station, action: str, actor: audit.Actor, text: str = "") -> StationCommand:
    return StationCommand.objects.create(station=station, action=action, text=text[:500],
                                         created_by=actor.name[:150])


def run(actor: audit.Actor, station: Station, action: str, *, text: str = "",
        target: Station | None = None, customer=None) -> StationCommand | CafeSession | None:
    """Do ``action`` on ``station`` (see ACTIONS); audited; the agent hears of it within a
    second or two when connected."""
    if action not in ACTIONS:
        raise StationError(_("Unknown command."))
    if action in AGENT_ONLY and not station.is_agent:
        raise StationError(_("This device has no agent: only sessions can be timed."))
    session = CafeSession.objects.filter(OPEN, station=station).first()
    if action == "start":
        if customer is not None:
            return sessions.start_prepaid(actor, station, customer)
        return sessions.start_postpaid(actor, station, text)
    if action == "stop" and session is None:
        raise StationError(_("No session on this station."))
    if action == "pause":
        return sessions.pause(actor, _need(session))
    if action == "resume":
        return sessions.resume(actor, _need(session))
    if action == "move":
        if target is None:
            raise StationError(_("Choose the station to move to."))
        return sessions.move(actor, _need(session), target)
    with transaction.atomic():
        if action == "stop":
            sessions.end(session, actor=actor, reason="stop")
            return None
        if action == "message":
            text = (text or "").strip()
            if not text:
                raise StationError(_("Write the message to show."))
        if action == "lock":
            Station.objects.filter(pk=station.pk).update(locked=True)
            station.locked = True
            if session is not None and session.status == CafeSession.Status.RUNNING:
                sessions.pause(actor, session, by_lock=True)
        elif action == "unlock":
            Station.objects.filter(pk=station.pk).update(locked=False)
            station.locked = False
            if session is not None and session.paused_by_lock:
                sessions.resume(actor, session)
        elif action in ("logoff", "shutdown") and session is not None:
            sessions.end(session, actor=actor, reason=action)
        command = _queue(station, action, actor, text)
        audit.record(actor, f"station.{action}", station,
                     after={"command": command.pk, "text": text},
                     summary=_("%(action)s sent to station %(name)s")
                     % {"action": ACTIONS[action], "name": station.name})
        refresh(station, actor.name)
    return command


def _need(session: CafeSession | None) -> CafeSession:
    if session is None:
        raise StationError(_("No session on this station."))
    return session


def pending_for(station_id: int, now: dt.datetime | None = None) -> list[StationCommand]:
    """Commands not yet delivered, recent enough to still mean something."""
    now = now or clock.now()
    return list(StationCommand.objects.filter(
        station_id=station_id, delivered_at__isnull=True,
        created_at__gte=now - dt.timedelta(seconds=PENDING_SECONDS),
        action__in=sorted(AGENT_ONLY)).order_by("id"))


def mark_delivered(ids: list[int]) -> None:
    if ids:
        StationCommand.objects.filter(pk__in=ids).update(delivered_at=clock.now())


def acknowledge(station_id: int, command_id, ok, message: str = "") -> None:
    if isinstance(command_id, int):
        StationCommand.objects.filter(pk=command_id, station_id=station_id).update(
            acked_at=clock.now(), ok=bool(ok), result=str(message or "")[:200])
