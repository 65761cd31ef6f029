"""What the PC shows and when: a plain state machine, no display, no network.

The :class:`~ficha_protocol.client.AgentLink` holds the server's last state and counts
down on the monotonic clock (``remaining()``), and while offline its ``run`` loop calls
``tick()`` so the session ends at zero and a ``session_end`` event is queued for the
server. :class:`Machine` reads the link and decides, each time it is stepped (the GUI
steps it a few times a second):

* the **screen**: ``login`` (the lock screen with the login form), ``session`` (the PC
  is unlocked; the session bar shows), ``paused`` (a lock screen without the form: the
  staff paused the session) or ``blocked`` (locked from the console);
* the **warnings** at 5 and 1 minutes left (once each per session; re-armed when a code
  extends the session past them);
* that the paid time ran out: the lock screen comes back at zero even before the server
  says so (online, the server ends the session at its next metering; offline, the link
  queued the event);
* whether the server is reachable (logging in needs it; a running session does not).
"""

from __future__ import annotations

from dataclasses import dataclass

LOGIN, SESSION, PAUSED, BLOCKED = "login", "session", "paused", "blocked"
WARNINGS = (5, 1)  # minutes


@dataclass(frozen=True)
class View:
    screen: str
    online: bool
    remaining: int | None  # seconds; None: no limit (postpaid) or no session
    balance: int | None  # minor units of `currency`; prepaid sessions only
    currency: str
    customer: str
    time_up: bool  # the lock screen is back because the paid time ran out


class Machine:
    def __init__(self, link):
        self.link = link
        self.online = False
        self.screen = LOGIN
        self.time_up = False
        self._session: int | None = None
        self._armed = dict.fromkeys(WARNINGS, True)
        self._last_left: int | None = None

    # --- inputs -----------------------------------------------------------------------
    def set_online(self, online: bool) -> None:
        self.online = online

    def server_warning(self, state: dict) -> list[tuple]:
        """A pushed STATE may carry ``warn: 5|1``: show it unless already shown."""
        minutes = state.get("warn")
        if minutes in self._armed and self._armed[minutes]:
            return self._fire(minutes)
        return []

    # --- the clock ----------------------------------------------------------------------
    def _session_info(self) -> dict | None:
        state = self.link.state or {}
        return state.get("session") if state.get("mode") in ("session", "paused") else None

    def _fire(self, minutes: int) -> list[tuple]:
        for m in WARNINGS:
            if m >= minutes:  # the 1-minute warning makes the 5-minute one moot
                self._armed[m] = False
        return [("warn", minutes)]

    def step(self) -> list[tuple]:
        """Advance: returns the effects to show, ``("screen", name)`` and ``("warn", n)``."""
        effects: list[tuple] = []
        warn: list[tuple] = []
        session = self._session_info()
        sid = session.get("id") if session else None
        if sid != self._session:
            ended = self._session
            self._session = sid
            self._armed = dict.fromkeys(WARNINGS, True)
            # ended at zero: counted down here, or locked by the link's offline tick
            self.time_up = (
                sid is None
                and ended is not None
                and (
                    self._last_left is not None
                    and self._last_left <= 2
                    or any(
                        e.kind == "session_end" and e.session == ended
                        for e in getattr(self.link, "queue", [])
                    )
                )
            )
        mode = (self.link.state or {}).get("mode", "free")
        left = self.link.remaining() if session else None
        if mode == "session" and left is not None:
            for minutes in WARNINGS:
                if left > minutes * 60:
                    self._armed[minutes] = True  # extended by a code: warn again later
            for minutes in sorted(WARNINGS):  # the nearest one only
                if 0 < left <= minutes * 60 and self._armed[minutes]:
                    warn = self._fire(minutes)
                    break
            if left == 0:
                self.time_up = True
        self._last_left = left
        screen = self._screen(mode, left)
        if screen != self.screen:
            if screen == SESSION:
                self.time_up = False
            self.screen = screen
            effects.append(("screen", screen))
        return effects + warn

    def _screen(self, mode: str, left: int | None) -> str:
        if mode == "session":
            return LOGIN if left == 0 else SESSION
        if mode == "paused":
            return PAUSED
        if mode == "locked" and self.online:
            return BLOCKED
        return LOGIN  # free, or locked at zero while offline (the link's tick)

    def view(self) -> View:
        session = self._session_info() or {}
        venue = getattr(self.link, "venue", {}) or {}
        return View(
            screen=self.screen,
            online=self.online,
            remaining=self.link.remaining() if session else None,
            balance=session.get("balance"),
            currency=session.get("currency") or venue.get("currency", ""),
            customer=str(session.get("customer") or ""),
            time_up=self.time_up,
        )


def logout_offline(link) -> bool:
    """The customer logs out while the server is unreachable: end the session here and
    queue a ``logout`` event (sent, and applied once, at reconnection). Call it in the
    link's thread. Returns False when there was no session."""
    state = link.state or {}
    session = state.get("session")
    if state.get("mode") not in ("session", "paused") or not session:
        return False
    link.queue_event("logout", session.get("id"))
    link.state = {**state, "mode": "free", "session": None}
    return True


def clock_text(seconds: int | None) -> str:
    """``1:05:09`` or ``12:04``."""
    if seconds is None:
        return ""
    seconds = max(0, int(seconds))
    h, rest = divmod(seconds, 3600)
    mi, s = divmod(rest, 60)
    return f"{h}:{mi:02d}:{s:02d}" if h else f"{mi:02d}:{s:02d}"


def money_text(minor: int | None, currency: str, exponent: int | None) -> str:
    """Minor units as the server's venue writes them (the exponent comes from the server,
    which has the currency table): ``1 500 XOF``, ``12.50 EUR``."""
    if minor is None:
        return ""
    exp = 2 if exponent is None else int(exponent)
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(int(minor)), 10**exp) if exp else (abs(int(minor)), 0)
    text = f"{whole:,}".replace(",", "\u202f")
    if exp:
        text += f".{frac:0{exp}d}"
    return f"{sign}{text} {currency}".strip()
