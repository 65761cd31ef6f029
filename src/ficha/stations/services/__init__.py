"""Stations: café PCs and devices, pairing, sessions, metering, remote commands, room map.

The only place that changes stations and café sessions. Doors (console, the agent link
``ficha stationd``, the worker) call these functions. A package by use case: ``base``
(errors, tariff, state), ``stations`` (create, arrange, pair, revoke), ``sessions``
(start, meter, pause, move, end, checkout, agent logins, offline events), ``commands``
(remote commands, audited) and ``roommap`` (the console's map, link bookkeeping, the
"PC on but agent silent" alert).
"""

from ..models import CafeSession, Station, StationCommand, StationEvent  # noqa: F401
from .base import (  # noqa: F401
    FREE,
    LOCKED,
    OFFLINE,
    OFFLINE_AFTER,
    PAUSED,
    SESSION,
    SILENT,
    StationError,
    limit_seconds,
    live,
    open_session,
    refresh,
    snapshot,
    spec_for,
    state_of,
)
from .commands import ACTIONS, AGENT_ONLY, acknowledge, mark_delivered, pending_for, run  # noqa: F401
from .roommap import (  # noqa: F401
    STATE_LABELS,
    Cell,
    check_silent,
    door_beat,
    door_started,
    door_status,
    mark_connected,
    mark_disconnected,
    mark_seen,
    power_off_expected,
    room,
)
from .sessions import (  # noqa: F401
    agent_code,
    agent_login,
    agent_logout,
    apply_events,
    bill,
    checkout,
    correct_end,
    end,
    expire_or_meter,
    meter,
    meter_running,
    move,
    pause,
    resume,
    start_postpaid,
    start_prepaid,
    unpaid,
)
from .stations import (  # noqa: F401
    arrange,
    create_station,
    format_pairing_code,
    issue_pairing_code,
    pair,
    revoke,
    update_station,
)
