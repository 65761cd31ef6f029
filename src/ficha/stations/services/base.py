"""Shared pieces: errors, the tariff a station uses, and a station's state."""

from __future__ import annotations

import datetime as dt
import json

from django.conf import settings
from django.db.models import Q
from django.utils.translation import gettext as _

from ficha.accounts import services as accounts
from ficha.core import audit, clock
from ficha.core.services import currency, venue_settings
from ficha.tariffs import cafe
from ficha.tariffs import services as tariffs

from ..models import CafeSession, Station, StationCommand

S = CafeSession.Status
OPEN = Q(status__in=[S.RUNNING, S.PAUSED])

# map states (beyond the agent's modes)
FREE, SESSION, PAUSED, LOCKED = "free", "session", "paused", "locked"
OFFLINE, SILENT = "offline", "silent"  # silent: PC on but agent silent
OFFLINE_AFTER = 10  # seconds without a heartbeat: the agent is gone (HandyCafe: 10 s)
WARN_MINUTES = (5, 1)


class StationError(ValueError):
    """A station action that cannot be done; the message is for people."""

    def __init__(self, message: str, code: str = "invalid"):
        super().__init__(message)
        self.code = code


def station_actor(station: Station, ip: str | None = None) -> audit.Actor:
    return audit.Actor(source="station", ip=ip, label=f"station {station.name}")


def spec_for(station: Station) -> cafe.TariffSpec:
    """The tariff of the station's group, or the default tariff; while none is set up,
    ``FICHA_CAFE_PRICE_PER_HOUR`` an hour."""
    try:
        return tariffs.spec_for(station.group if station.group_id else None)
    except cafe.TariffError:
        pass
    venue = venue_settings()
    return cafe.simple(int(getattr(settings, "FICHA_CAFE_PRICE_PER_HOUR", 100)),
                       currency=currency(), time_zone=venue.time_zone or "UTC",
                       name=_("Default café tariff"))


def price_group_of(customer) -> str:
    return tariffs.price_group_of(customer)


_specs: dict[str, cafe.TariffSpec] = {}


def session_spec(session: CafeSession) -> cafe.TariffSpec:
    """The tariff a session started with. Specs are immutable and building one costs
    milliseconds (its week of bands): each distinct one is built once per process."""
    key = json.dumps(session.tariff, sort_keys=True)
    spec = _specs.get(key)
    if spec is None:
        if len(_specs) > 256:
            _specs.clear()
        spec = _specs[key] = cafe.spec_from_json(session.tariff)
    return spec


def priced_seconds(session: CafeSession, used: int) -> int:
    """Used seconds minus those paid by the customer's packages."""
    return max(0, used - session.package_seconds)


def wall_window(session: CafeSession, offset: int
                ) -> tuple[dt.datetime, tuple[tuple[int, int], ...]]:
    """The wall time of the session's used second ``offset`` and its pauses after that
    second, counted from it (what ``cafe.price`` takes as ``start`` and ``gaps``)."""
    shift = 0
    rest = []
    for used, length in session.gaps():
        if used <= offset:
            shift += length
        else:
            rest.append((used - offset, length))
    return session.started_at + dt.timedelta(seconds=offset + shift), tuple(rest)


def priced_window(session: CafeSession, used: int
                  ) -> tuple[dt.datetime, int, tuple[tuple[int, int], ...]]:
    """(start, seconds, gaps) to price ``used`` seconds of the session: the time after
    its package time, at the hours it was really used (pauses between are not priced;
    a pause after the last used second does not move the time billed by rounding)."""
    start, gaps = wall_window(session, session.package_seconds)
    seconds = priced_seconds(session, used)
    return start, seconds, tuple(g for g in gaps if g[0] < seconds)


def paid_start(session: CafeSession) -> dt.datetime:
    """When the priced time began: after the package time the session used (bands are
    priced at the hours they were really used in; pauses are not counted)."""
    return wall_window(session, session.package_seconds)[0]


def price_of(session: CafeSession, used: int) -> int:
    start, seconds, gaps = priced_window(session, used)
    return cafe.total(session_spec(session), start, seconds, session.price_group, gaps)


def limit_seconds(session: CafeSession) -> int | None:
    """Prepaid: the used seconds the customer's packages and money pay for (None:
    unlimited)."""
    if session.kind != CafeSession.Kind.PREPAID or session.customer_id is None:
        return None
    credit = session.debited + max(0, accounts.available(session.customer))
    group = session.station.group if session.station.group_id else None
    left = tariffs.package_seconds_left(session.customer, station_group=group)
    # money starts paying when the package time still held runs out
    start, gaps = wall_window(session, session.package_seconds + left)
    money = cafe.seconds_for(session_spec(session), start, credit, session.price_group, gaps)
    if money is None:
        return None
    return session.package_seconds + left + money


def refresh(station: Station | int, who: str = "") -> None:
    """Tell the link door that this station's state changed (delivered within a second)."""
    pk = station.pk if isinstance(station, Station) else station
    StationCommand.objects.create(station_id=pk, action="refresh", created_by=who[:150])


def open_session(station: Station) -> CafeSession | None:
    return (CafeSession.objects.filter(OPEN, station=station)
            .select_related("customer", "customer__credit_account", "station").first())


# --- state ------------------------------------------------------------------------------
def snapshot(station: Station, session: CafeSession | None = None,
             with_limit: bool = True) -> dict:
    """What the link door caches for a station: the state minus the clock."""
    if session is None:
        session = open_session(station)
    snap = {"station": station.pk, "name": station.name, "locked": station.locked,
            "session": None}
    if session is not None:
        snap["session"] = {
            "id": session.pk, "kind": session.kind,
            "customer": session.customer.username if session.customer else session.label,
            "started_at": session.started_at, "paused_at": session.paused_at,
            "paused_seconds": session.paused_seconds,
            "limit": limit_seconds(session) if with_limit else None,
            "charged": session.charged, "currency": session.tariff.get("currency", ""),
        }
        if with_limit and session.kind == CafeSession.Kind.PREPAID and session.customer_id:
            # what the customer has left once the time used so far is paid
            snap["session"]["balance"] = (accounts.balance(session.customer)
                                          + session.debited - session.charged)
    return snap


def live(snap: dict, now: dt.datetime | None = None) -> dict:
    """The state sent to the agent: remaining seconds and the server's clock, never a
    deadline (the agent counts down on its monotonic clock)."""
    now = now or clock.now()
    state = {"station": snap["station"], "name": snap["name"],
             "server_time": round(now.timestamp(), 3), "mode": FREE, "session": None}
    session = snap.get("session")
    if session is not None:
        end = session["paused_at"] or now
        used = max(0, int((end - session["started_at"]).total_seconds())
                   - session["paused_seconds"])
        limit = session["limit"]
        remaining = None if limit is None else max(0, limit - used)
        state["mode"] = PAUSED if session["paused_at"] else SESSION
        state["session"] = {"id": session["id"], "kind": session["kind"],
                            "customer": session["customer"], "elapsed": used,
                            "remaining": remaining, "charged": session["charged"],
                            "currency": session["currency"]}
        if "balance" in session:
            state["session"]["balance"] = session["balance"]
    if snap["locked"] and state["mode"] != SESSION:
        state["mode"] = LOCKED
    return state


def state_of(station: Station) -> dict:
    return live(snapshot(station))
