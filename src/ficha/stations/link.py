"""``ficha stationd``: the agent link door onto ``stations.services``.

One persistent WebSocket per station agent (``ws[s]://host:port/agent``). Why WebSocket:
commands must reach a PC within 2 s (a poll every 10 s, as Libki does, cannot), it passes
the HTTP proxies and firewalls a café has, and TLS (wss) is the same as for HTTPS.

The door keeps, per connected station, a *snapshot* of its state (session, credit limit),
so a heartbeat is answered from memory: verify the signature, note the station as seen,
reply with the remaining seconds and the server's clock. "Seen" marks are flushed with one
UPDATE per second. State changes made elsewhere (console, worker) reach the door through
``StationCommand`` rows (``refresh``, ``revoke`` and the agent commands), polled twice a
second; the door then pushes the new state or the command to the agent. Every database
call runs in a worker thread (the ORM blocks): one on SQLite (one writer), four else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl as ssl_module
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from django.db import close_old_connections

from ficha.core import clock
from ficha.core.alerts import in_venue_language
from ficha.core.door_thread import DoorThread
from ficha_protocol import AGENT_PATH, PROTOCOL_VERSION
from ficha_protocol import messages as m

from . import services
from .services import link as lookups

log = logging.getLogger("ficha.stationd")

POLL_SECONDS = 0.5
FLUSH_SECONDS = 1.0
TICK_SECONDS = 1.0
RESNAP_SECONDS = 15.0  # balances change elsewhere (Wi-Fi, deposits): re-read limits
HELLO_TIMEOUT = 10.0


def tls_context(cert: str | None, key: str | None) -> ssl_module.SSLContext | None:
    """wss: a server certificate (and key) turns TLS on."""
    if not cert:
        return None
    ctx = ssl_module.SSLContext(ssl_module.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl_module.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key or None)
    return ctx


def _call(fn, *args, **kwargs):
    """A database call in a worker thread: the thread keeps its connection (as the
    RADIUS door does); after an error it is dropped, so a broken one is not reused."""
    try:
        return fn(*args, **kwargs)
    except Exception:
        close_old_connections()
        raise


class Conn:
    def __init__(self, ws, station: int, name: str, signer: m.Signer, ip: str | None):
        self.ws = ws
        self.station = station
        self.name = name
        self.signer = signer
        self.ip = ip
        self.lock = asyncio.Lock()
        self.goodbye = False
        self.warned: set[tuple[int, int]] = set()
        self.commands: set[int] = set()  # ids sent on this link: each goes once

    def first_time(self, command: int) -> bool:
        """The welcome (what waited) and the poll (what is new) may both see a command
        queued just before the agent reconnected: only the first sends it."""
        if command in self.commands:
            return False
        self.commands.add(command)
        return True

    async def send(self, kind: str, body: dict) -> None:
        async with self.lock:  # sequence numbers leave in order
            await self.ws.send(self.signer.seal(kind, body))


class LinkServer:
    def __init__(self, addr: tuple[str, int], *, threads: int = 1,
                 ssl: ssl_module.SSLContext | None = None, heartbeat: int = m.HEARTBEAT_SECONDS):
        self.addr = addr
        self.ssl = ssl
        self.heartbeat = heartbeat
        self.threads = threads
        self.executor = ThreadPoolExecutor(max_workers=threads,
                                           thread_name_prefix="ficha-stationd-db")
        self.conns: dict[int, Conn] = {}
        self.snaps: dict[int, dict] = {}
        self.seen: set[int] = set()
        self.last_command = 0
        self.address: tuple[str, int] | None = None
        self._server = None
        self._tasks: list[asyncio.Task] = []
        self.stats = {"heartbeats": 0, "refused": 0, "commands": 0, "pushes": 0}

    async def db(self, fn, *args, **kwargs):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, lambda: _call(fn, *args, **kwargs))

    # --- life cycle ---------------------------------------------------------------------
    async def start(self) -> None:
        from websockets.asyncio.server import serve

        self.last_command = await self.db(lookups.last_command_id)
        await self.db(services.door_started)
        self._server = await serve(self.handler, self.addr[0], self.addr[1], ssl=self.ssl,
                                   max_size=m.MAX_FRAME, ping_interval=20, ping_timeout=20,
                                   compression=None,  # frames are small: deflate costs CPU
                                   close_timeout=2,
                                   process_request=self._check_path)
        sock = next(iter(self._server.sockets))
        self.address = sock.getsockname()[:2]
        for every, fn in ((POLL_SECONDS, self.poll), (FLUSH_SECONDS, self.flush),
                          (TICK_SECONDS, self.tick), (RESNAP_SECONDS, self.resnap)):
            self._tasks.append(asyncio.ensure_future(self._every(every, fn)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
        with contextlib.suppress(Exception):
            await self.flush()
        ids = list(self.conns)
        if ids:
            with contextlib.suppress(Exception):
                await self.db(_disconnect_all, ids)
        # each database thread closes its own connection (PostgreSQL counts them)
        barrier = threading.Barrier(self.threads, timeout=5)
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(self.executor, _close_in_thread, barrier)
                               for _n in range(self.threads)), return_exceptions=True)
        self.executor.shutdown(wait=True)

    async def _every(self, seconds: float, fn) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await fn()
            except Exception:  # keep the door up: log and go on
                log.exception("stationd: %s failed", getattr(fn, "__name__", fn))

    def _check_path(self, connection, request):
        if request.path != AGENT_PATH:
            return connection.respond(404, "Not found\n")
        return None

    # --- one connection -------------------------------------------------------------------
    async def handler(self, ws) -> None:
        ip = ws.remote_address[0] if ws.remote_address else None
        nonce = m.new_nonce()
        await ws.send(m.encode(m.CHALLENGE, {"nonce": nonce, "protocol": PROTOCOL_VERSION,
                                            "server_time": round(time.time(), 3)}))
        try:
            first = m.decode(await asyncio.wait_for(ws.recv(), HELLO_TIMEOUT))
        except (TimeoutError, m.ProtocolError, Exception):
            await ws.close(1008, "hello expected")
            return
        if first.kind == m.PAIR:
            await self._pair(ws, first, ip)
            return
        if first.kind != m.HELLO:
            await self._refuse(ws, "protocol", "hello expected")
            return
        conn = await self._authenticate(ws, first, nonce, ip)
        if conn is None:
            return
        old = self.conns.get(conn.station)
        self.conns[conn.station] = conn
        if old is not None:
            with contextlib.suppress(Exception):
                await old.ws.close(1000, "replaced by a new connection")
        try:
            await self._serve(conn, first)
        finally:
            if self.conns.get(conn.station) is conn:
                del self.conns[conn.station]
                self.snaps.pop(conn.station, None)
                self.seen.discard(conn.station)
                with contextlib.suppress(Exception):
                    await self.db(services.mark_disconnected, conn.station,
                                  goodbye=conn.goodbye)

    async def _refuse(self, ws, code: str, message: str) -> None:
        self.stats["refused"] += 1
        with contextlib.suppress(Exception):
            await ws.send(m.encode(m.ERROR, {"code": code, "message": message}))
            await ws.close(1008, code)

    async def _pair(self, ws, frame: m.Frame, ip) -> None:
        try:
            station, secret = await self.db(_pair, str(frame.body.get("code", "")),
                                            hostname=str(frame.body.get("hostname", "")),
                                            ip=ip)
        except services.StationError as exc:
            await self._refuse(ws, exc.code, str(exc))
            return
        await ws.send(m.encode(m.PAIRED, {"station": station.pk, "name": station.name,
                                          "secret": secret}))
        await ws.close(1000, "paired")

    async def _authenticate(self, ws, hello: m.Frame, nonce: str, ip) -> Conn | None:
        body = hello.body
        found = await self.db(lookups.station_secret, body.get("station"))
        if found is None:
            await self._refuse(ws, "unknown_station", "unknown or unpaired station")
            return None
        pk, name, secret = found
        signer = m.Signer(secret, m.link_id(nonce, str(body.get("cnonce", ""))[:64]),
                          sending=m.TO_AGENT)
        try:
            signer.check(hello)
        except m.ProtocolError as exc:
            await self._refuse(ws, "auth_failed", exc.code)
            return None
        return Conn(ws, pk, name, signer, ip)

    async def _serve(self, conn: Conn, hello: m.Frame) -> None:
        body = hello.body
        snap, pending = await self.db(
            lookups.on_connect, conn.station, boot_id=str(body.get("boot_id", "")),
            restarts=body.get("restarts", 0), version=str(body.get("version", "")),
            ip=conn.ip)
        self.snaps[conn.station] = snap or {
            "station": conn.station, "name": conn.name, "locked": False, "session": None}
        venue = await self.db(lookups.venue)
        await conn.send(m.WELCOME, {"state": services.live(self.snaps[conn.station]),
                                    "heartbeat": self.heartbeat, "venue": venue})
        for pk, action, text in pending:
            if conn.first_time(pk):
                await conn.send(m.COMMAND, {"id": pk, "action": action, "text": text})
        async for raw in conn.ws:
            try:
                frame = conn.signer.check(m.decode(raw))
            except m.ProtocolError as exc:
                log.warning("station %s: %s, closing", conn.name, exc.code)
                self.stats["refused"] += 1
                await conn.ws.close(1008, exc.code)
                return
            await self._dispatch(conn, frame)

    async def _dispatch(self, conn: Conn, frame: m.Frame) -> None:
        body, kind = frame.body, frame.kind
        req = body.get("req")
        if kind == m.HEARTBEAT:
            self.stats["heartbeats"] += 1
            self.seen.add(conn.station)
            snap = self.snaps.get(conn.station)
            state = services.live(snap) if snap else {}
            await conn.send(m.STATE, {**state, "req": req})
            return
        if kind in (m.LOGIN, m.CODE, m.LOGOUT):
            reply = await self.db(_agent_request, conn.station, kind, body, conn.ip)
            await self._reload(conn.station)
            await conn.send(m.RESULT, {**reply, "req": req,
                                       "state": services.live(self.snaps[conn.station])})
            return
        if kind == m.EVENTS:
            events = body.get("events")
            ids = await self.db(_apply_events, conn.station,
                                events if isinstance(events, list) else [])
            await self._reload(conn.station)
            await conn.send(m.EVENTS_ACK, {"ids": ids, "req": req})
            await conn.send(m.STATE, services.live(self.snaps[conn.station]))
            return
        if kind == m.BILL:
            reply = await self.db(_agent_bill, conn.station, body.get("session"))
            await conn.send(m.BILL_REPLY, {**reply, "req": req})
            return
        if kind == m.COMMAND_ACK:
            await self.db(services.acknowledge, conn.station, body.get("id"), body.get("ok"),
                          str(body.get("message", "")))
            return
        if kind == m.BYE:
            conn.goodbye = True
            return
        await conn.send(m.ERROR, {"code": "unknown_type", "message": kind[:40], "req": req})

    async def _reload(self, station: int) -> None:
        snaps = await self.db(lookups.snapshots, [station])
        if station in snaps and station in self.conns:
            self.snaps[station] = snaps[station]

    # --- periodic work --------------------------------------------------------------------
    async def poll(self) -> None:
        """Deliver new commands and push states changed elsewhere."""
        rows = await self.db(lookups.commands_after, self.last_command)
        if not rows:
            return
        self.last_command = rows[-1][0]
        refresh: set[int] = set()
        delivered = []
        for pk, station, action, text in rows:
            conn = self.conns.get(station)
            if action == "refresh":
                if conn is not None:
                    refresh.add(station)
            elif action == "revoke":
                # unpaired, or paired again (a new secret): links on the old secret go
                if conn is not None:
                    found = await self.db(lookups.station_secret, station)
                    if found is None or found[2] != conn.signer.secret:
                        # the owner's doing: its silence is expected (not "agent silent");
                        # the connection's own ending marks the station disconnected
                        conn.goodbye = True
                        with contextlib.suppress(Exception):
                            await conn.ws.close(1008, "revoked")
            elif conn is not None and conn.first_time(pk):
                if action in ("shutdown", "restart"):
                    conn.goodbye = True  # silence after this is expected
                with contextlib.suppress(Exception):
                    await conn.send(m.COMMAND, {"id": pk, "action": action, "text": text})
                    delivered.append(pk)
                    self.stats["commands"] += 1
        if refresh:
            snaps = await self.db(lookups.snapshots, refresh)
            for station, snap in snaps.items():
                conn = self.conns.get(station)
                if conn is None:
                    continue
                self.snaps[station] = snap
                with contextlib.suppress(Exception):
                    await conn.send(m.STATE, services.live(snap))
                    self.stats["pushes"] += 1
        if delivered:
            await self.db(services.mark_delivered, delivered)

    async def flush(self) -> None:
        """The door's own beat, and one UPDATE for every station heard since the last."""
        ids, self.seen = sorted(self.seen), set()
        await self.db(_flush, ids)

    async def tick(self) -> None:
        """Warnings at 5 and 1 minutes; at zero the session ends (then the lock screen)."""
        now = clock.now()
        expired = []
        timed = [(station, snap) for station, snap in self.snaps.items()
                 if snap.get("session") and snap["session"].get("limit") is not None]
        for station, snap in timed:
            session = snap["session"]
            conn = self.conns.get(station)
            if conn is None:
                continue
            state = services.live(snap, now)
            left = state["session"]["remaining"]
            if state["mode"] != services.SESSION:
                continue
            if left <= 0:
                expired.append((station, session["id"]))
                continue
            for minutes in services.base.WARN_MINUTES:
                key = (session["id"], minutes)
                if left <= minutes * 60 and key not in conn.warned:
                    conn.warned.add(key)
                    with contextlib.suppress(Exception):
                        await conn.send(m.STATE, {**state, "warn": minutes})
                    break
        if expired:
            # ends what ran out; a snapshot that was only stale (credit added elsewhere)
            # is read again either way, and the agents get the truth at once
            for _station, pk in expired:
                await self.db(services.expire_or_meter, pk)
            stations = [station for station, _pk in expired]
            snaps = await self.db(lookups.snapshots, stations)
            for station, snap in snaps.items():
                conn = self.conns.get(station)
                if conn is not None:
                    self.snaps[station] = snap
                    with contextlib.suppress(Exception):
                        await conn.send(m.STATE, services.live(snap))

    async def resnap(self) -> None:
        busy = [s for s, snap in self.snaps.items() if snap.get("session")]
        if busy:
            snaps = await self.db(lookups.snapshots, busy)
            for station, snap in snaps.items():
                if station in self.conns:
                    self.snaps[station] = snap


def _agent_request(station_id: int, kind: str, body: dict, ip) -> dict:
    with in_venue_language():  # what the customer reads at the PC
        return _agent_request_in_language(station_id, kind, body, ip)


def _agent_request_in_language(station_id: int, kind: str, body: dict, ip) -> dict:
    station = services.Station.objects.get(pk=station_id)
    try:
        if kind == m.LOGIN:
            services.agent_login(station, str(body.get("username", ""))[:150],
                                 str(body.get("secret", ""))[:300], ip=ip)
            return {"ok": True}
        if kind == m.CODE:
            _session, amount = services.agent_code(station, str(body.get("code", ""))[:64],
                                                   ip=ip)
            return {"ok": True, "credited": amount}
        services.agent_logout(station)
        return {"ok": True}
    except services.StationError as exc:
        return {"ok": False, "code": exc.code, "message": str(exc)}


def _agent_bill(station_id: int, session_id) -> dict:
    """The bill the agent asked for, in the venue's language (what the customer reads)."""
    with in_venue_language():
        station = services.Station.objects.get(pk=station_id)
        try:
            return {"ok": True, "bill": services.agent_bill(station, session_id)}
        except services.StationError as exc:
            return {"ok": False, "code": exc.code, "message": str(exc)}


def _apply_events(station_id: int, events: list) -> list[str]:
    station = services.Station.objects.get(pk=station_id)
    return services.apply_events(station, events)


def _pair(code: str, *, hostname: str, ip) -> tuple:
    with in_venue_language():
        return services.pair(code, hostname=hostname, ip=ip)


def _close_in_thread(barrier: threading.Barrier) -> None:
    from django.db import connections

    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait()  # so that every thread of the pool takes one
    connections.close_all()


def _flush(ids: list[int]) -> None:
    services.door_beat()
    services.mark_seen(ids)


def _disconnect_all(ids: list[int]) -> None:
    services.Station.objects.filter(pk__in=ids).update(connected=False)


class ServerThread(DoorThread):
    """A LinkServer on its own event loop in a background thread (``ficha serve``,
    tests): ``start()`` returns once the socket is bound (or raises why not)."""

    def __init__(self, addr, *, threads: int = 1, ssl=None, heartbeat: int = 5):
        super().__init__(LinkServer(addr, threads=threads, ssl=ssl, heartbeat=heartbeat),
                         "ficha-stationd")

    @property
    def address(self):
        return self.server.address
