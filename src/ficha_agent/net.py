"""The link in its own thread: an asyncio loop runs :class:`AgentLink` (connect,
heartbeat, reconnect, offline countdown, reconciliation); the GUI's thread talks to it
only through :meth:`Bridge.submit` / :meth:`Bridge.logout` and reads what happened from
``Bridge.inbox``, a :class:`queue.Queue` it polls with Tk's ``after()``.

Messages put in ``inbox`` (tuples): ``("online", bool)``, ``("state", state)``,
``("result", kind, reply)``, ``("command", cmd)``, ``("fatal", message)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import subprocess
import sys
import threading

from ficha_protocol.client import AgentLink, Credentials, LinkError

from . import __version__
from .machine import logout_offline

POWER = {  # what the console's shutdown / restart / logoff commands run
    "win32": {
        "shutdown": ["shutdown", "/s", "/t", "5"],
        "restart": ["shutdown", "/r", "/t", "5"],
        "logoff": ["shutdown", "/l"],
    },
    "linux": {
        "shutdown": ["systemctl", "poweroff"],
        "restart": ["systemctl", "reboot"],
        "logoff": ["loginctl", "terminate-session", ""],
    },
}


class _Link(AgentLink):
    def __init__(self, bridge: Bridge, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.bridge = bridge

    online = False  # what the GUI was last told (``connected`` is cleared earlier)

    async def connect(self, timeout: float = 10) -> dict:
        state = await super().connect(timeout)
        self.online = True
        self.bridge.post("online", True)
        return state

    async def close(self) -> None:
        await super().close()
        if self.online:
            self.online = False
            self.bridge.post("online", False)


class Bridge:
    def __init__(
        self,
        creds: Credentials,
        *,
        power: bool = True,
        boot_id: str | None = None,
        restarts: int = 0,
        ssl=None,
        monotonic=None,
    ):
        self.inbox: queue.Queue = queue.Queue()
        self.power = power
        self.link = _Link(
            self,
            creds,
            boot_id=boot_id,
            restarts=restarts,
            version=f"ficha-agent/{__version__}",
            ssl=ssl,
            on_state=lambda state: self.post("state", state),
            on_command=self._command,
            **({"monotonic": monotonic} if monotonic else {}),
        )
        self.loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._thread, name="ficha-agent-link", daemon=True)

    def post(self, *message) -> None:
        self.inbox.put(message)

    # --- the link's thread ------------------------------------------------------------
    def start(self) -> Bridge:
        self.thread.start()
        self._ready.wait(10)
        return self

    def _thread(self) -> None:
        try:
            asyncio.run(self._main())
        except LinkError as exc:  # revoked or unknown: pair again
            self.post("fatal", f"{exc.code}: {exc}")

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        await self.link.run(self._stop)

    async def _leave(self) -> None:
        if self.link.connected.is_set():  # an agent stopped on purpose: no alert
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.link.bye("stop"), 2)
        self._stop.set()

    async def _command(self, cmd: dict):
        action = cmd.get("action")
        if action in ("shutdown", "restart", "logoff"):
            argv = POWER.get(sys.platform if sys.platform == "win32" else "linux", {})[action]
            if not self.power:
                return False, "power commands are off in this agent's configuration"
            if action != "logoff":
                with contextlib.suppress(Exception):
                    await self.link.bye("reboot" if action == "restart" else "shutdown")
            if argv[-1] == "":
                import os

                argv = [*argv[:-1], os.environ.get("XDG_SESSION_ID", "self")]
            try:
                subprocess.Popen(argv)
            except OSError as exc:
                return False, str(exc)
            return True, ""
        self.post("command", cmd)
        return True, ""

    async def _request(self, kind: str, *args) -> None:
        try:
            reply = await getattr(self.link, kind)(*args)
        except (ConnectionError, TimeoutError, OSError):
            reply = {"ok": False, "code": "offline", "message": ""}
        self.post("result", kind, reply)

    # --- called from the GUI's thread ---------------------------------------------------
    def submit(self, kind: str, *args) -> None:
        """``login(username, secret)``, ``redeem(code)`` or ``logout()``; the answer comes
        back as ``("result", kind, reply)``."""
        if self.loop is None:
            self.post("result", kind, {"ok": False, "code": "offline", "message": ""})
            return
        asyncio.run_coroutine_threadsafe(self._request(kind, *args), self.loop)

    def logout(self) -> None:
        """Log out: through the server when it is reachable, else here (queued)."""
        if self.loop is None:
            return
        if self.link.connected.is_set():
            self.submit("logout")
        else:

            def offline():
                if logout_offline(self.link):
                    self.post("state", self.link.state)

            self.loop.call_soon_threadsafe(offline)

    def stop(self, timeout: float = 5) -> None:
        if not self.thread.is_alive():
            return
        if self.loop is not None and self._stop is not None:
            asyncio.run_coroutine_threadsafe(self._leave(), self.loop)
        self.thread.join(timeout)
