"""The room map (what the console shows) and the link's bookkeeping (seen, connected,
"PC on but agent silent")."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ficha.core import alerts, clock

from ..models import CafeSession, LinkStatus, Station
from .base import (
    FREE,
    LOCKED,
    OFFLINE,
    OFFLINE_AFTER,
    OPEN,
    PAUSED,
    SESSION,
    SILENT,
    price_of,
)

STATE_LABELS = {
    FREE: gettext_lazy("Free"),
    SESSION: gettext_lazy("In session"),
    PAUSED: gettext_lazy("Paused"),
    LOCKED: gettext_lazy("Locked"),
    OFFLINE: gettext_lazy("Offline"),
    SILENT: gettext_lazy("PC on, agent silent"),
}
SILENT_ALERT_AFTER = 30  # seconds of silence from a PC believed on before the alert
STATION_ALERT = "station"
alerts.KINDS.setdefault(STATION_ALERT, gettext_lazy("Station"))


@dataclass
class Cell:
    station: Station
    state: str
    session: CafeSession | None
    elapsed: int = 0
    remaining: int | None = None
    due: int = 0

    @property
    def label(self) -> str:
        return str(STATE_LABELS[self.state])

    @property
    def who(self) -> str:
        if self.session is None:
            return ""
        return self.session.customer.username if self.session.customer else self.session.label


DOOR_BEAT_STALE = 10  # seconds: the door beats every second
DOOR_SETTLE = 60  # seconds after the door started before silence counts (reconnects)


def door_status(now: dt.datetime | None = None) -> tuple[bool, bool]:
    """(the link door is running, and has run long enough for PCs to have reconnected)."""
    now = now or clock.now()
    row = LinkStatus.objects.filter(pk=1).first()
    if row is None or (now - row.beat_at).total_seconds() > DOOR_BEAT_STALE:
        return False, False
    return True, (now - row.started_at).total_seconds() >= DOOR_SETTLE


def door_started(now: dt.datetime | None = None) -> None:
    now = now or clock.now()
    LinkStatus.objects.update_or_create(pk=1, defaults={"started_at": now, "beat_at": now})


def door_beat(now: dt.datetime | None = None) -> None:
    LinkStatus.objects.filter(pk=1).update(beat_at=now or clock.now())


def link_state(station: Station, now: dt.datetime, door_up: bool = True) -> str | None:
    """offline / silent for an agent PC the link does not hear; None when it is fine.
    While the door itself is down nobody is blamed: every PC is just offline."""
    if not station.is_agent:
        return None
    fresh = (station.last_seen_at is not None
             and (now - station.last_seen_at).total_seconds() <= OFFLINE_AFTER)
    if station.connected and fresh:
        return None
    return SILENT if station.powered and door_up else OFFLINE


def room(now: dt.datetime | None = None) -> list[Cell]:
    """Every station with its state, customer, elapsed and remaining time and amount due.
    Two queries whatever the number of stations (plus balances of prepaid customers)."""
    from .base import limit_seconds

    now = now or clock.now()
    door_up = door_status(now)[1]
    stations = list(Station.objects.all())
    sessions = {s.station_id: s for s in CafeSession.objects.filter(OPEN)
                .select_related("customer", "customer__credit_account", "station")}
    cells = []
    for station in stations:
        session = sessions.get(station.pk)
        state = link_state(station, now, door_up)
        cell = Cell(station, FREE, session)
        if session is not None:
            cell.elapsed = session.used_seconds(now)
            cell.due = price_of(session, cell.elapsed)
            if session.kind == CafeSession.Kind.PREPAID:
                limit = limit_seconds(session)
                cell.remaining = None if limit is None else max(0, limit - cell.elapsed)
                cell.due = max(0, cell.due - session.debited)
            cell.state = PAUSED if session.status == CafeSession.Status.PAUSED else SESSION
        elif station.locked:
            cell.state = LOCKED
        if state is not None:
            cell.state = state
        cells.append(cell)
    return cells


# --- what the link door writes ----------------------------------------------------------------
def mark_connected(station_id: int, *, boot_id: str, restarts: int, version: str,
                   ip: str | None = None) -> None:
    Station.objects.filter(pk=station_id).update(
        connected=True, powered=True, last_seen_at=clock.now(), boot_id=boot_id[:64],
        restarts=max(0, int(restarts)) if isinstance(restarts, int) else 0,
        agent_version=version[:32])


def mark_disconnected(station_id: int, *, goodbye: bool) -> None:
    fields = {"connected": False}
    if goodbye:
        fields["powered"] = False
    Station.objects.filter(pk=station_id).update(**fields)


def mark_seen(station_ids: list[int], at: dt.datetime | None = None) -> int:
    """One UPDATE for every station heard since the last flush."""
    if not station_ids:
        return 0
    return Station.objects.filter(pk__in=station_ids).update(last_seen_at=at or clock.now())


def check_silent(now: dt.datetime | None = None) -> int:
    """Worker job: alert the owner about PCs believed on whose agent stopped talking
    without saying goodbye (possible operator fraud: the PC is used off the books)."""
    now = now or clock.now()
    if not door_status(now)[1]:
        return 0  # the door is down or just started: the PCs are not to blame
    n = 0
    cutoff = now - dt.timedelta(seconds=SILENT_ALERT_AFTER)
    for station in Station.objects.filter(kind=Station.Kind.AGENT, powered=True,
                                          last_seen_at__lt=cutoff):
        key = f"station:silent:{station.pk}"
        if alerts.is_open(key):
            continue
        with alerts.in_venue_language():
            message = _(
                "Station %(name)s seems on but its agent has not answered since %(when)s. "
                "The agent may have been stopped: the PC could be in use without being "
                "timed."
            ) % {"name": station.name,
                 "when": station.last_seen_at.strftime("%H:%M:%S")}
        alerts.raise_alert(STATION_ALERT, message, source=f"station {station.name}",
                           data={"station": station.pk, "boot_id": station.boot_id},
                           dedupe_key=key)
        n += 1
    return n


def power_off_expected(station: Station) -> None:
    """After a shutdown command: silence is expected, not suspicious."""
    with transaction.atomic():
        Station.objects.filter(pk=station.pk).update(powered=False)
