"""The agent's half of the protocol: pairing and the persistent, authenticated link.

Used by the station agent, the tests and the benchmark's simulated stations::

    creds = await pair("ws://server:8765", "ABCD-EFGH", hostname="pc-07")
    creds.save(path)                       # the device secret stays on the PC (0600)
    link = AgentLink(Credentials.load(path), on_state=..., on_command=...)
    await link.run(stop)                   # connect, heartbeat, reconnect forever

The server decides the time: each STATE carries the seconds remaining and the server's
clock, never a deadline. The agent counts down on its monotonic clock from the last
STATE; while the server is unreachable it keeps counting, locks at zero and queues what
happened (with monotonic times), then sends the queue as ``ago`` offsets on reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import AGENT_PATH, PROTOCOL_VERSION
from . import messages as m


class LinkError(RuntimeError):
    """The server refused us (``code``: pairing_refused, unknown_station, revoked, ...)."""

    def __init__(self, code: str, message: str = ""):
        super().__init__(message or code)
        self.code = code


def agent_url(server: str) -> str:
    """``host:port``, ``ws://host:port`` or ``wss://host:port`` → the agent endpoint."""
    server = server.strip().rstrip("/")
    if "://" not in server:
        server = "ws://" + server
    if server.startswith("http://"):
        server = "ws://" + server[7:]
    elif server.startswith("https://"):
        server = "wss://" + server[8:]
    if not server.endswith(AGENT_PATH):
        server += AGENT_PATH
    return server


@dataclass
class Credentials:
    url: str
    station: int
    secret: str
    name: str = ""

    def save(self, path: str | os.PathLike) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(asdict(self), fh)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Credentials:
        data = json.loads(Path(path).read_text())
        return cls(url=data["url"], station=int(data["station"]), secret=data["secret"],
                   name=data.get("name", ""))


def _connect(url: str, ssl=None):
    from websockets.asyncio.client import connect

    kwargs = {"max_size": m.MAX_FRAME, "open_timeout": 10, "ping_interval": None,
              "compression": None}
    if url.startswith("wss://"):
        kwargs["ssl"] = ssl if ssl is not None else True
    return connect(url, **kwargs)


async def _recv(ws, timeout: float) -> m.Frame:
    return m.decode(await asyncio.wait_for(ws.recv(), timeout))


async def pair(server: str, code: str, *, hostname: str = "", ssl=None,
               timeout: float = 10) -> Credentials:
    """Exchange a one-time pairing code for this PC's station id and device secret."""
    url = agent_url(server)
    async with _connect(url, ssl) as ws:
        challenge = await _recv(ws, timeout)
        if challenge.kind != m.CHALLENGE:
            raise LinkError("protocol", "no challenge")
        await ws.send(m.encode(m.PAIR, {"code": code, "hostname": hostname[:64],
                                        "protocol": PROTOCOL_VERSION}))
        reply = await _recv(ws, timeout)
    if reply.kind == m.ERROR:
        raise LinkError(str(reply.body.get("code", "error")), str(reply.body.get("message", "")))
    if reply.kind != m.PAIRED:
        raise LinkError("protocol", f"unexpected {reply.kind}")
    return Credentials(url=url, station=int(reply.body["station"]),
                       secret=str(reply.body["secret"]), name=str(reply.body.get("name", "")))


@dataclass
class QueuedEvent:
    kind: str  # session_end | logout
    session: int | None
    at: float  # monotonic seconds when it happened
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def wire(self, now: float) -> dict:
        return {"id": self.id, "kind": self.kind, "session": self.session,
                "ago": max(0, int(round(now - self.at)))}


class AgentLink:
    """One station's connection to the server; reconnects by itself in :meth:`run`."""

    def __init__(self, creds: Credentials, *, boot_id: str | None = None, restarts: int = 0,
                 version: str = "", ssl=None, heartbeat: float = m.HEARTBEAT_SECONDS,
                 monotonic: Callable[[], float] = time.monotonic,
                 on_state: Callable[[dict], None] | None = None,
                 on_command: Callable[[dict], Awaitable[tuple[bool, str]] | None] | None = None,
                 on_lock: Callable[[], None] | None = None):
        self.creds = creds
        self.boot_id = boot_id or uuid.uuid4().hex
        self.restarts = restarts
        self.version = version
        self.ssl = ssl
        self.heartbeat_seconds = heartbeat
        self.monotonic = monotonic
        self.on_state = on_state
        self.on_command = on_command
        self.on_lock = on_lock
        self.state: dict | None = None
        self.state_at = 0.0
        self.queue: list[QueuedEvent] = []
        self.connected = asyncio.Event()
        self.commands: list[dict] = []  # every command received (tests, bench)
        self.heartbeat_rtts: list[float] = []
        self.venue: dict = {}  # from welcome: name, language, currency, exponent
        self._ws = None
        self._signer: m.Signer | None = None
        self._reqs = itertools.count(1)
        self._waiting: dict[int, asyncio.Future] = {}
        self._send_lock = asyncio.Lock()
        self._started = monotonic()

    # --- time, as the agent sees it ---------------------------------------------------
    @property
    def mode(self) -> str:
        return (self.state or {}).get("mode", "locked")

    def remaining(self) -> int | None:
        """Seconds left, counted down locally from the last STATE (None: no limit)."""
        session = (self.state or {}).get("session")
        if not session or session.get("remaining") is None:
            return None
        left = session["remaining"]
        if self.mode == "session":
            left -= self.monotonic() - self.state_at
        return max(0, int(left))

    def tick(self) -> None:
        """Call every second or so while offline: lock at zero and queue the event."""
        session = (self.state or {}).get("session")
        if self.mode != "session" or not session or session.get("remaining") is None:
            return
        if self.remaining() == 0:
            at = self.state_at + session["remaining"]
            self.queue.append(QueuedEvent("session_end", session.get("id"), at))
            self.state = {**self.state, "mode": "locked", "session": None}
            if self.on_lock is not None:
                self.on_lock()

    def queue_event(self, kind: str, session: int | None = None) -> QueuedEvent:
        event = QueuedEvent(kind, session, self.monotonic())
        self.queue.append(event)
        return event

    # --- connection -----------------------------------------------------------------------
    async def connect(self, timeout: float = 10) -> dict:
        """Open the link, authenticate, get the full state, send queued offline events."""
        ws = await _connect(self.creds.url, self.ssl).__aenter__()
        try:
            challenge = await _recv(ws, timeout)
            if challenge.kind != m.CHALLENGE:
                raise LinkError("protocol", "no challenge")
            cnonce = m.new_nonce()
            signer = m.Signer(self.creds.secret,
                              m.link_id(str(challenge.body.get("nonce", "")), cnonce),
                              sending=m.TO_SERVER)
            await ws.send(signer.seal(m.HELLO, {
                "station": self.creds.station, "cnonce": cnonce, "boot_id": self.boot_id,
                "restarts": self.restarts, "version": self.version,
                "uptime": int(self.monotonic() - self._started)}))
            # the server signs from here on; hello's link id is in the body's cnonce
            reply = await _recv(ws, timeout)
            if reply.kind == m.ERROR and not reply.signature:
                raise LinkError(str(reply.body.get("code", "error")),
                                str(reply.body.get("message", "")))
            signer.check(reply)
            if reply.kind != m.WELCOME:
                raise LinkError("protocol", f"unexpected {reply.kind}")
        except BaseException:
            await ws.close()
            raise
        self._ws, self._signer = ws, signer
        self.heartbeat_seconds = reply.body.get("heartbeat", self.heartbeat_seconds)
        if isinstance(reply.body.get("venue"), dict):  # name, language, currency, exponent
            self.venue = reply.body["venue"]
        self._set_state(reply.body.get("state") or {})
        self.connected.set()
        return self.state

    async def close(self) -> None:
        self.connected.clear()
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close()
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(ConnectionError("link closed"))
        self._waiting.clear()

    async def send(self, kind: str, body: dict | None = None) -> None:
        if self._ws is None or self._signer is None:
            raise ConnectionError("not connected")
        async with self._send_lock:
            await self._ws.send(self._signer.seal(kind, body or {}))

    async def request(self, kind: str, body: dict | None = None, timeout: float = 10) -> dict:
        """Send a frame carrying a ``req`` number and wait for the answer that names it."""
        req = next(self._reqs)
        fut = asyncio.get_running_loop().create_future()
        self._waiting[req] = fut
        try:
            await self.send(kind, {**(body or {}), "req": req})
            return await asyncio.wait_for(fut, timeout)
        finally:
            self._waiting.pop(req, None)

    async def heartbeat(self) -> dict:
        t0 = time.perf_counter()
        reply = await self.request(m.HEARTBEAT, {
            "boot_id": self.boot_id, "restarts": self.restarts,
            "uptime": int(self.monotonic() - self._started), "locked": self.mode == "locked"})
        self.heartbeat_rtts.append(time.perf_counter() - t0)
        return reply

    async def login(self, username: str, secret: str) -> dict:
        return await self.request(m.LOGIN, {"username": username, "secret": secret})

    async def redeem(self, code: str) -> dict:
        return await self.request(m.CODE, {"code": code})

    async def logout(self) -> dict:
        return await self.request(m.LOGOUT)

    async def bye(self, reason: str = "shutdown") -> None:
        await self.send(m.BYE, {"reason": reason})

    async def flush_events(self) -> list[str]:
        """Send the offline queue; drop what the server acknowledged."""
        if not self.queue:
            return []
        now = self.monotonic()
        reply = await self.request(m.EVENTS, {"events": [e.wire(now) for e in self.queue]})
        done = set(reply.get("ids", []))
        self.queue = [e for e in self.queue if e.id not in done]
        return sorted(done)

    def _set_state(self, state: dict) -> None:
        self.state = state
        self.state_at = self.monotonic()
        if self.on_state is not None:
            self.on_state(state)

    async def receive_forever(self) -> None:
        """Read frames until the connection ends (then raise ConnectionError)."""
        ws, signer = self._ws, self._signer
        try:
            async for raw in ws:
                frame = signer.check(m.decode(raw))
                await self._dispatch(frame)
        except Exception as exc:
            if isinstance(exc, m.ProtocolError):
                await ws.close()
            raise ConnectionError(str(exc)) from exc
        finally:
            self.connected.clear()
            for fut in self._waiting.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("link closed"))
        raise ConnectionError("link closed")

    async def _dispatch(self, frame: m.Frame) -> None:
        body = frame.body
        if frame.kind == m.STATE:
            self._set_state(body)
        elif frame.kind == m.RESULT and isinstance(body.get("state"), dict):
            self._set_state(body["state"])
        elif frame.kind == m.COMMAND:
            self.commands.append(body)
            ok, text = True, ""
            if self.on_command is not None:
                result = self.on_command(body)
                if asyncio.iscoroutine(result):
                    result = await result
                if result is not None:
                    ok, text = result
            await self.send(m.COMMAND_ACK, {"id": body.get("id"), "ok": ok, "message": text})
            return
        req = body.get("req")
        if isinstance(req, int) and req in self._waiting:
            fut = self._waiting[req]
            if not fut.done():
                fut.set_result(body)

    async def _flush_then_beat(self) -> None:
        await self.flush_events()
        await self._beat()

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            await self.heartbeat()

    async def run(self, stop: asyncio.Event, *, retry: float = 2.0) -> None:
        """Stay connected until ``stop`` is set: reconnect with back-off, heartbeat,
        count down and lock offline, send the offline queue after each reconnect."""
        delay = retry
        while not stop.is_set():
            try:
                await self.connect()
                delay = retry
                # the reader must run while the queue is sent: it delivers events_ack
                tasks = [asyncio.ensure_future(self.receive_forever()),
                         asyncio.ensure_future(self._flush_then_beat()),
                         asyncio.ensure_future(stop.wait())]
                done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in pending:
                    task.cancel()
                for task in done:
                    with contextlib.suppress(BaseException):
                        task.result()
            except LinkError as exc:
                if exc.code in ("revoked", "unknown_station"):
                    raise
            except (TimeoutError, OSError, ConnectionError, m.ProtocolError):
                pass
            except Exception as exc:  # websockets' own errors: InvalidStatus, ...
                if exc.__class__.__module__.split(".")[0] != "websockets":
                    raise
            finally:
                await self.close()
            if stop.is_set():
                break
            # offline: keep counting, lock at zero
            end = self.monotonic() + delay
            while self.monotonic() < end and not stop.is_set():
                self.tick()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), min(1.0, delay))
            delay = min(delay * 2, 30.0)
