"""Console sessions on shared counter PCs: idle timeout, absolute lifetime, log out
everywhere.

A staff session carries when it started, when it was last used (by ``core.clock``, so
tests can move time) and the user's session key (``StaffProfile.session_key``). It ends
after ``VenueSettings.staff_idle_minutes`` without a request, ``staff_session_hours``
after login, and as soon as the key changes (the password was changed, or the user chose
"log out everywhere"). :class:`ficha.accounts.middleware.StaffSessionMiddleware` checks
it on every request that carries a staff login, console and API alike.
"""

from __future__ import annotations

from django.contrib.auth import SESSION_KEY, logout

from ficha.core import clock
from ficha.core.services import venue_settings

from . import devices
from .services import staff_session_key

SINCE = "staff_since"
SEEN = "staff_seen"
KEY = "staff_key"
CLOCK = "staff_clock"  # stamps taken under a test's frozen clock are not compared to real time
_SEEN_EVERY = 60  # write the last-seen stamp at most once a minute, and at most a tenth
# of the idle timeout late (a 1-minute timeout must not end a session clicked every 25 s)

IDLE = "idle"
EXPIRED = "expired"
REVOKED = "revoked"


def _now() -> int:
    return int(clock.now().timestamp())


def _clock_kind() -> str:
    return "frozen" if clock.is_frozen() else "real"


def start(request, user) -> None:
    """Right after ``django.contrib.auth.login``."""
    now = _now()
    request.session[SINCE] = now
    request.session[SEEN] = now
    request.session[CLOCK] = _clock_kind()
    request.session[KEY] = staff_session_key(user)


def keep(request, user) -> None:
    """The user changed their own password here: this session goes on (the others end)."""
    from django.contrib.auth import update_session_auth_hash

    update_session_auth_hash(request, user)
    request.session[KEY] = staff_session_key(user)


def check(request) -> str | None:
    """Why this request's staff session has ended (IDLE, EXPIRED, REVOKED), or None.

    Also stamps the session as used."""
    session = request.session
    if SESSION_KEY not in session:
        return None
    user = request.user
    if not user.is_authenticated:
        return None
    now = _now()
    if SINCE not in session or session.get(CLOCK, "real") != _clock_kind():
        # a session from before these rules (or a test moved from a frozen clock to the
        # real one): start counting now
        key = session.get(KEY)
        start(request, user)
        if key is not None:
            session[KEY] = key  # a revoked session stays revoked
        return REVOKED if key is not None and key != session_key_of(user) else None
    venue = venue_settings()
    idle = max(1, venue.staff_idle_minutes) * 60
    lifetime = max(1, venue.staff_session_hours) * 3600
    if now - int(session.get(SEEN) or 0) > idle:
        return IDLE
    if now - int(session.get(SINCE) or 0) > lifetime:
        return EXPIRED
    if session.get(KEY, "") != session_key_of(user):
        return REVOKED
    if now - int(session.get(SEEN) or 0) >= min(_SEEN_EVERY, max(1, idle // 10)):
        session[SEEN] = now
    return None


def session_key_of(user) -> str:
    return staff_session_key(user)


def end(request) -> None:
    logout(request)


def device_tag(request, user) -> str | None:
    """This browser's entry for ``user`` if it logged in as them before."""
    return devices.known_tag(request, devices.STAFF, user.pk, staff_session_key(user))


def remember_device(request, response, user) -> None:
    devices.remember(request, response, devices.STAFF, user.pk, staff_session_key(user))
