"""What the link door (``ficha stationd``) reads: secrets, snapshots, new commands."""

from __future__ import annotations

from django.db import connections, router

from ..models import CafeSession, Station, StationCommand
from .base import OPEN, snapshot

_SECRET_SQL: dict[str, str] = {}


def station_secret(pk) -> tuple[int, str, str] | None:
    """(id, name, secret) of a paired station, or None (unknown or unpaired). Asked at
    every connection: one plain SELECT."""
    if isinstance(pk, bool) or not isinstance(pk, int) or not 0 < pk < 2**63:
        return None
    conn = connections[router.db_for_read(Station)]
    sql = _SECRET_SQL.get(conn.vendor)
    if sql is None:
        q = conn.ops.quote_name
        sql = _SECRET_SQL[conn.vendor] = (
            f"SELECT {q('id')}, {q('name')}, {q('secret')} FROM {q(Station._meta.db_table)} "
            f"WHERE {q('id')} = %s AND {q('kind')} = %s AND {q('secret')} <> ''")
    with conn.cursor() as cur:
        cur.execute(sql, [pk, Station.Kind.AGENT])
        row = cur.fetchone()
    return tuple(row) if row else None


def on_connect(pk: int, *, boot_id: str, restarts, version: str, ip=None
               ) -> tuple[dict, list[tuple[int, str, str]]]:
    """An agent authenticated: note it, and return its snapshot and the commands waiting
    for it (marked delivered). One call from the door per connection."""
    from .commands import mark_delivered, pending_for
    from .roommap import mark_connected

    mark_connected(pk, boot_id=boot_id, restarts=restarts, version=version, ip=ip)
    snap = snapshots([pk]).get(pk)
    pending = [(c.pk, c.action, c.text) for c in pending_for(pk)]
    mark_delivered([c[0] for c in pending])
    return snap, pending


def venue() -> dict:
    """What the agent shows on its lock screen: the venue's name and language, and how
    to write its money (the currency and its number of decimals, from core.money)."""
    from ficha.core.money import exponent
    from ficha.core.services import venue_settings

    v = venue_settings()
    return {"name": v.venue_name, "language": v.language, "currency": v.currency,
            "exponent": exponent(v.currency)}


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
