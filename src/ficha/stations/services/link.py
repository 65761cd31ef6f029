"""What the link door (``ficha stationd``) reads: secrets, snapshots, new commands."""

from __future__ import annotations

from ..models import CafeSession, Station, StationCommand
from .base import OPEN, snapshot


def station_secret(pk) -> tuple[int, str, str] | None:
    """(id, name, secret) of a paired station, or None (unknown or unpaired)."""
    if isinstance(pk, bool) or not isinstance(pk, int):
        return None
    row = Station.objects.filter(pk=pk, kind=Station.Kind.AGENT).exclude(secret="").values_list(
        "pk", "name", "secret").first()
    return row


def snapshots(ids) -> dict[int, dict]:
    """Snapshots of several stations: one query for stations, one for their sessions."""
    ids = list(ids)
    stations = Station.objects.filter(pk__in=ids)
    sessions = {s.station_id: s for s in CafeSession.objects.filter(OPEN, station_id__in=ids)
                .select_related("customer", "customer__credit_account", "station")}
    out = {}
    for station in stations:
        session = sessions.get(station.pk)
        out[station.pk] = snapshot(station, session) if session is not None else {
            "station": station.pk, "name": station.name, "locked": station.locked,
            "session": None}
    return out


def last_command_id() -> int:
    row = StationCommand.objects.order_by("-id").values_list("id", flat=True).first()
    return row or 0


def commands_after(last_id: int, limit: int = 2000) -> list[tuple[int, int, str, str]]:
    return list(StationCommand.objects.filter(pk__gt=last_id).order_by("id")
                .values_list("id", "station_id", "action", "text")[:limit])
