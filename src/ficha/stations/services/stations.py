"""Stations: create, arrange on the room map, pair, revoke."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from ficha.core import audit, clock, throttle
from ficha_protocol import messages as m

from ..models import Station
from .base import StationError, refresh

FIELDS = ["name", "kind", "col", "row", "group"]
PAIRING_MINUTES = 15
PAIRING_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L
PAIRING_LENGTH = 10  # ≈ 49.5 bits; throttled per address on top
PAIR_SCOPE = "station_pair"
MAX_GRID = 30

throttle.POLICIES.setdefault(PAIR_SCOPE, throttle.Policy(free=5, base_seconds=2,
                                                         max_seconds=900))


def _clean(name: str, kind: str, col: int, row: int) -> dict:
    name = (name or "").strip()
    if not name or len(name) > 40:
        raise StationError(_("A station needs a name of at most 40 characters."))
    if kind not in Station.Kind.values:
        raise StationError(_("Unknown station kind."))
    for value in (col, row):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_GRID:
            raise StationError(_("Column and row go from 1 to %(n)d.") % {"n": MAX_GRID})
    return {"name": name, "kind": kind, "col": col, "row": row}


def create_station(actor: audit.Actor, name: str, kind: str = Station.Kind.AGENT,
                   col: int = 1, row: int = 1, group=None) -> Station:
    fields = _clean(name, kind, col, row)
    try:
        with transaction.atomic():
            station = Station.objects.create(**fields, group=group)
            audit.record(actor, "station.create", station,
                         after=audit.snapshot(station, FIELDS),
                         summary=_("Station %(name)s added") % {"name": station.name})
    except IntegrityError:
        raise StationError(_("A station with this name already exists."))
    return station


def update_station(actor: audit.Actor, station: Station, **fields) -> Station:
    data = _clean(**{k: fields.get(k, getattr(station, k)) for k in FIELDS if k != "group"})
    extra = {"group": fields["group"]} if "group" in fields else {}
    try:
        with transaction.atomic():
            before = audit.snapshot(station, FIELDS)
            for k, v in {**data, **extra}.items():
                setattr(station, k, v)
            station.save()
            audit.record(actor, "station.update", station, before=before,
                         after=audit.snapshot(station, FIELDS),
                         summary=_("Station %(name)s changed") % {"name": station.name})
    except IntegrityError:
        raise StationError(_("A station with this name already exists."))
    return station


def arrange(actor: audit.Actor, positions: dict[int, tuple[int, int]]) -> int:
    """Move stations on the room map: {station id: (col, row)}; audited as one action."""
    for col, row in positions.values():
        if not (1 <= col <= MAX_GRID and 1 <= row <= MAX_GRID):
            raise StationError(_("Column and row go from 1 to %(n)d.") % {"n": MAX_GRID})
    changed = {}
    with transaction.atomic():
        for station in Station.objects.select_for_update().filter(pk__in=positions):
            col, row = positions[station.pk]
            if (station.col, station.row) != (col, row):
                changed[station.name] = [[station.col, station.row], [col, row]]
                Station.objects.filter(pk=station.pk).update(col=col, row=row)
        if changed:
            audit.record(actor, "station.arrange", object_type="stations.station",
                         after={"moved": changed},
                         summary=_("Room map arranged (%(n)d stations moved)")
                         % {"n": len(changed)})
    return len(changed)


# --- pairing ------------------------------------------------------------------------------
def _hash(code: str) -> str:
    return hashlib.sha256(normalize_pairing_code(code).encode()).hexdigest()


def normalize_pairing_code(code: str) -> str:
    return "".join(ch for ch in str(code).upper() if ch.isalnum())


def format_pairing_code(code: str) -> str:
    return f"{code[:5]}-{code[5:]}"


def issue_pairing_code(actor: audit.Actor, station: Station) -> str:
    """A one-time code (valid 15 minutes) the agent trades for the device secret with
    ``ficha-agent pair SERVER CODE``. Only its hash is stored; a new code replaces the old.
    Pairing again replaces the secret (the old PC stops being able to connect)."""
    if not station.is_agent:
        raise StationError(_("Only a PC with an agent can be paired."))
    code = "".join(secrets.choice(PAIRING_ALPHABET) for _n in range(PAIRING_LENGTH))
    with transaction.atomic():
        Station.objects.filter(pk=station.pk).update(
            pairing_hash=_hash(code),
            pairing_expires_at=clock.now() + dt.timedelta(minutes=PAIRING_MINUTES))
        audit.record(actor, "station.pairing_code", station,
                     summary=_("Pairing code shown for station %(name)s")
                     % {"name": station.name})
    return format_pairing_code(code)


def pair(code: str, *, hostname: str = "", ip: str | None = None) -> tuple[Station, str]:
    """The agent's side of pairing: a valid code → (station, new device secret).
    Throttled per address; the code works once."""
    keys = [f"ip:{ip or 'unknown'}"]
    wait = throttle.claim(PAIR_SCOPE, keys)
    if wait:
        throttle.note_refused(PAIR_SCOPE, keys)
        raise StationError(_("Too many attempts. Wait %(n)d seconds and try again.")
                           % {"n": wait}, code="throttled")
    digest = _hash(code)
    secret = m.new_secret()
    now = clock.now()
    with transaction.atomic():
        station = (Station.objects.select_for_update()
                   .filter(pairing_hash=digest, pairing_expires_at__gt=now).first())
        if station is None or len(normalize_pairing_code(code)) != PAIRING_LENGTH:
            station = None
        else:
            station.secret = secret
            station.paired_at = now
            station.hostname = (hostname or "")[:64]
            station.pairing_hash = ""
            station.pairing_expires_at = None
            station.save(update_fields=["secret", "paired_at", "hostname", "pairing_hash",
                                        "pairing_expires_at"])
            audit.record(audit.Actor(source="station", ip=ip, label=f"station {station.name}"),
                         "station.pair", station, after={"hostname": station.hostname},
                         summary=_("Station %(name)s paired") % {"name": station.name})
            # a PC paired before under this name must drop its link
            from ..models import StationCommand

            StationCommand.objects.create(station=station, action="revoke",
                                          created_by="pairing")
    if station is None:
        raise StationError(_("This pairing code is wrong or has expired."),
                           code="pairing_refused")
    throttle.forgive(PAIR_SCOPE, keys)
    return station, secret


def revoke(actor: audit.Actor, station: Station) -> Station:
    """Forget the device secret: the PC is disconnected and must be paired again."""
    with transaction.atomic():
        Station.objects.filter(pk=station.pk).update(secret="", paired_at=None,
                                                     connected=False)
        station.secret, station.paired_at = "", None
        from ..models import StationCommand

        StationCommand.objects.create(station=station, action="revoke",
                                      created_by=actor.name[:150])
        audit.record(actor, "station.revoke", station,
                     summary=_("Station %(name)s unpaired") % {"name": station.name})
    refresh(station)
    return station
