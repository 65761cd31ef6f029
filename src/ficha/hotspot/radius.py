"""``ficha radiusd``: the RADIUS door (RFC 2865/2866) onto ``hotspot.services``.

A UDP server: authentication and accounting sockets, each read by its own worker thread
(:class:`_Reader`; the event loop only runs the periodic jobs); pyrad's dictionaries give
the attributes (package data in ``dictionaries/``). Each packet is decoded, checked (known
NAS, authenticator, Message-Authenticator), handed to the services, and the reply encoded.
Packets that wait in the socket while a batch is handled are handed over together
(micro-batching: ``services.authorize_many`` / ``account_many``, at most :data:`BATCH`);
an idle server hands a packet over at once, alone. Whatever
arrives — truncated, oversized, malformed, unknown attributes or vendors, wrong secret —
the server never crashes and never debits on a packet that failed its checks: a packet is
answered or dropped, and drops are counted per NAS (per address for unknown senders).

A retransmitted request (same sender, identifier and authenticator) is answered from a
short cache, or ignored while the first copy is still being handled. What a packet asks
is read in ``radius_packets``.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import select
import socket
import struct
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections, connections
from pyrad import packet as rp

from ficha.core import clock
from ficha.core.door_thread import DoorThread

from . import codec, services
from .models import Nas
from .radius_packets import (  # noqa: F401  (dictionary, DICTIONARY_PATH: this door's names)
    DICTIONARY_PATH,
    Drop,
    _encode_value,
    acct_request,
    auth_request,
    dictionary,
)

log = logging.getLogger("ficha.radiusd")

MAX_PACKET = 4096  # RFC 2865 section 3
REPLY_CACHE_SECONDS = 30.0
NAS_REFRESH_SECONDS = 5.0
FLUSH_SECONDS = 5.0
BATCH = 64  # packets of one kind handed to the services in one call, at most
# A busy reader waits up to FICHA_RADIUS_GATHER_MICROSECONDS for more packets until its
# batch has GATHER (an idle one never waits: a lone packet is handled at once).
GATHER = 16
RECEIVE_BUFFER = 4 * 1024 * 1024  # bytes; the kernel caps it (net.core.rmem_max)

_UNSEEN = object()


class Handler:
    """Turns one datagram into a reply (bytes) or None; counts drops. Thread-safe."""

    def __init__(self):
        self.dict = dictionary()
        self.encoder = codec.Encoder(self.dict)
        self._lock = threading.Lock()
        self.drops: dict[int, collections.Counter] = collections.defaultdict(
            collections.Counter)
        self.unknown: collections.Counter = collections.Counter()
        self.seen: dict[int, object] = {}  # NAS id -> when it last got an answer
        self._table: list[services.NasEntry] = []
        self._by_address: dict[str, Nas | None] = {}  # the table's answers, per sender
        self._table_at = 0.0

    # -- NAS table and counters --------------------------------------------------------
    def refresh(self, force: bool = False) -> None:
        if force or time.monotonic() - self._table_at > NAS_REFRESH_SECONDS:
            table = services.nas_table()
            self._table, self._by_address = table, {}
            self._table_at = time.monotonic()

    def nas_for(self, address: str) -> Nas | None:
        table, by_address = self._table, self._by_address
        found = by_address.get(address, _UNSEEN)
        if found is _UNSEEN:
            found = services.find_nas(table, address)
            if len(by_address) < 4096:  # spoofed senders cannot grow it without bound
                by_address[address] = found
        return found

    def count(self, nas: Nas | None, address: str, reason: str) -> None:
        with self._lock:
            if nas is None:
                self.unknown[address] += 1
            else:
                self.drops[nas.pk][reason] += 1

    def take_counts(self):
        with self._lock:
            drops, unknown, seen = self.drops, self.unknown, self.seen
            self.drops = collections.defaultdict(collections.Counter)
            self.unknown = collections.Counter()
            self.seen = {}
        return drops, unknown, seen

    def flush(self) -> int:
        drops, unknown, seen = self.take_counts()
        if not drops and not unknown and not seen:
            return 0
        return services.record_drops({k: dict(v) for k, v in drops.items()}, dict(unknown),
                                     seen)

    # -- packets -------------------------------------------------------------------------
    def handle(self, kind: str, data: bytes, nas: Nas, address: str) -> bytes | None:
        """The reply to one datagram (a batch of one)."""
        return self.handle_many(kind, [(data, nas, address)])[0]

    def handle_many(self, kind: str, items: list[tuple[bytes, Nas, str]]
                    ) -> list[bytes | None]:
        """Replies (or None: dropped, or not handled) to datagrams of one kind, in order.
        Each is decoded and checked on its own; those that pass go to the services in
        one call (``authorize_many`` / ``account_many``); one bad packet or one failed
        service item never costs the others their answer."""
        replies: list[bytes | None] = [None] * len(items)
        pending: list[tuple[int, object, object]] = []  # (index, packet, request)
        for i, (data, nas, address) in enumerate(items):
            try:
                done, pkt, request = self._decode(kind, data, nas)
            except Exception as exc:  # noqa: BLE001 - counted as a drop
                self._failed(kind, nas, address, exc)
                continue
            if done is not None:
                replies[i] = done
            else:
                pending.append((i, pkt, request))
        if pending:
            batch = [(items[i][1], request) for i, _pkt, request in pending]
            try:
                if kind == "auth":
                    results = services.authorize_many(batch)
                else:
                    results = services.account_many(batch)
            except Exception as exc:  # noqa: BLE001 - the whole call failed: no replies
                results = [exc] * len(batch)
            failed = False
            for (i, pkt, _request), result in zip(pending, results, strict=True):
                _data, nas, address = items[i]
                if isinstance(result, Exception):
                    if isinstance(result, services.AccountingError):
                        result = Drop(services.DROP_MALFORMED)
                    failed = self._failed(kind, nas, address, result) or failed
                    continue
                try:
                    replies[i] = self._encode(kind, pkt, result)
                except Exception as exc:  # noqa: BLE001
                    failed = self._failed(kind, nas, address, exc) or failed
            if failed:
                close_old_connections()
        answered = [items[i][1].pk for i, reply in enumerate(replies) if reply is not None]
        if answered:
            now = clock.now()
            with self._lock:
                for pk in answered:
                    self.seen[pk] = now
        return replies

    def _failed(self, kind: str, nas: Nas, address: str, exc: Exception) -> bool:
        """Count a dropped packet; log a failed service (True: the NAS will retry)."""
        if isinstance(exc, Drop):
            self.count(nas, address, exc.reason)
        elif isinstance(exc, (rp.PacketError, struct.error, ValueError, KeyError,
                              IndexError, TypeError, UnicodeError)):
            self.count(nas, address, services.DROP_MALFORMED)
        else:  # a service failed (database down, ...): no reply, NAS retries
            log.error("RADIUS %s packet from %s not handled", kind, address,
                      exc_info=(type(exc), exc, exc.__traceback__))
            return True
        return False

    def _decode(self, kind: str, data: bytes, nas: Nas):
        """(reply, None, None) when answered without the services (Status-Server), else
        (None, packet, request for the services); raises Drop (or a decoding error).
        Access- and Accounting-Requests are decoded by :mod:`.codec`, Status-Server by
        pyrad."""
        if len(data) < 20 or len(data) > MAX_PACKET:
            raise Drop(services.DROP_MALFORMED)
        secret = nas.secret.encode("utf-8")
        code = data[0]
        if kind == "auth":
            if code == rp.AccessRequest:
                pkt = codec.Request(data, secret)
                if pkt.message_authenticator:
                    if not pkt.verify_message_authenticator():
                        raise Drop(services.DROP_BAD_AUTHENTICATOR)
                elif nas.require_message_authenticator:
                    raise Drop(services.DROP_MISSING_MA)
                return None, pkt, auth_request(pkt)
            if code != rp.StatusServer:
                raise Drop(services.DROP_MALFORMED)
            status = rp.AuthPacket(packet=data, dict=self.dict, secret=secret)
            if not status.message_authenticator:
                raise Drop(services.DROP_MISSING_MA)
            if not status.verify_message_authenticator():
                raise Drop(services.DROP_BAD_AUTHENTICATOR)
            return status.CreateReply().ReplyPacket(), None, None
        if code == rp.AccountingRequest:
            pkt = codec.Request(data, secret)
            if not pkt.verify_accounting():
                raise Drop(services.DROP_BAD_AUTHENTICATOR)
            if pkt.message_authenticator and not pkt.verify_message_authenticator():
                raise Drop(services.DROP_BAD_AUTHENTICATOR)
            return None, pkt, acct_request(pkt)
        if code != rp.StatusServer:
            raise Drop(services.DROP_MALFORMED)
        status = rp.AcctPacket(packet=data, dict=self.dict, secret=secret)
        if not status.VerifyAcctRequest():
            raise Drop(services.DROP_BAD_AUTHENTICATOR)
        return status.CreateReply().ReplyPacket(), None, None

    def _encode(self, kind: str, pkt: codec.Request, result) -> bytes:
        if kind == "auth":
            code = rp.AccessAccept if result.accept else rp.AccessReject
            attributes = [(name, _encode_value(name, value))
                          for name, value in result.attributes]
        else:
            code, attributes = rp.AccountingResponse, []
        try:
            return self.encoder.reply(pkt, code, attributes)
        except codec.CodecError:  # an attribute the small codec leaves to pyrad
            cls = rp.AuthPacket if kind == "auth" else rp.AcctPacket
            reply = cls(packet=pkt.raw, dict=self.dict, secret=pkt.secret).CreateReply()
            reply.code = code
            for name, value in attributes:
                reply.AddAttribute(name, value)
            return reply.ReplyPacket()


def _bind(addr: tuple[str, int], reuse_port: bool) -> socket.socket:
    family, kind, proto, _name, sockaddr = socket.getaddrinfo(
        addr[0], addr[1], type=socket.SOCK_DGRAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:  # room for the datagrams that arrive while a batch is being handled
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        except OSError:
            pass
        sock.bind(sockaddr)
    except BaseException:
        sock.close()
        raise
    return sock


def parse_addr(text: str, default_port: int) -> tuple[str, int] | None:
    text = (text or "").strip()
    if not text or text.lower() == "off":
        return None
    if text.startswith("["):
        host, _, port = text[1:].partition("]")
        port = port.lstrip(":")
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    elif ":" in text:  # a bare IPv6 address
        host, port = text, ""
    else:
        host, port = text, ""
    return host or "0.0.0.0", int(port) if port else default_port


class _Reader(threading.Thread):
    """One socket's worker: waits for a datagram, takes every other one already waiting
    (at most :data:`BATCH`), hands them to the services in one call, answers, and goes
    back to the socket. Datagrams that arrive meanwhile wait in the kernel's buffer and
    form the next batch: an idle server handles a packet at once, alone (no added
    latency); a busy one, in batches that grow with the load. While busy (its last batch
    was more than one packet), a worker that finds nothing more waiting waits up to
    ``FICHA_RADIUS_GATHER_MICROSECONDS`` (1 ms) for more, until its batch has
    :data:`GATHER`: bigger batches cost less per packet (one transaction, one commit),
    which leaves the cores room at a steady load (bench radius.servers, 2 cores, at 80 %
    of the peak: the machine 82-85 % busy instead of 92-96 %, and a lower p99). No event
    loop, queue or thread hand-off per packet: a blocking ``recvfrom`` releases the GIL
    while it waits.
    """

    def __init__(self, server: RadiusServer, kind: str, sock: socket.socket, n: int):
        super().__init__(name=f"radiusd-{kind}-{n}", daemon=True)
        self.server, self.kind, self.sock = server, kind, sock

    def run(self) -> None:
        server, kind, sock = self.server, self.kind, self.sock
        recv, take, handle = sock.recvfrom, server._take, server.handler.handle_many
        gather, busy = settings.RADIUS_GATHER_MICROSECONDS / 1e6, False
        try:
            while not server.stopping:
                try:
                    data, addr = recv(MAX_PACKET + 1)  # longer ones: dropped as malformed
                except OSError as exc:
                    if server.stopping:
                        return
                    log.debug("RADIUS socket error: %s", exc)
                    continue
                if server.stopping:
                    return
                batch: list = []
                began = 0.0
                while True:
                    try:  # never let one packet stop the reader
                        take(kind, sock, data, addr, batch)
                    except Exception:
                        log.exception("RADIUS packet from %s", addr)
                    if len(batch) >= BATCH:
                        break
                    waiting = _next_waiting(sock)
                    if waiting is None and busy and gather and len(batch) < GATHER:
                        # Nothing waiting. Under load (the last batch was not a lone
                        # packet), wait a moment for more: a bigger batch costs less
                        # per packet.
                        began = began or time.monotonic()
                        left = began + gather - time.monotonic()
                        if left > 0 and _readable(sock, left):
                            waiting = _next_waiting(sock)
                    if not waiting:
                        break
                    data, addr = waiting
                busy = len(batch) > 1
                if not batch:
                    continue
                try:
                    replies = handle(kind, [(data, nas, address)
                                            for _key, _addr, data, nas, address in batch])
                except Exception:
                    log.exception("RADIUS handler failed")
                    replies = [None] * len(batch)
                server._answer(sock, batch, replies)
        finally:
            connections.close_all()


def _readable(sock: socket.socket, seconds: float) -> bool:
    """Whether a datagram arrives on ``sock`` within ``seconds``."""
    return bool(select.select([sock], [], [], seconds)[0])


def _next_waiting(sock: socket.socket):
    """(data, address) of a datagram already waiting; None when none is; False after a
    socket error (logged)."""
    try:
        return _recv_waiting(sock)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError as exc:
        log.debug("RADIUS socket error: %s", exc)
        return False


_DONTWAIT = getattr(socket, "MSG_DONTWAIT", None)


def _recv_waiting(sock: socket.socket):
    """A datagram already waiting on a blocking socket, or BlockingIOError."""
    if _DONTWAIT is not None:
        return sock.recvfrom(MAX_PACKET + 1, _DONTWAIT)
    if not select.select([sock], [], [], 0)[0]:
        raise BlockingIOError
    return sock.recvfrom(MAX_PACKET + 1)


class RadiusServer:
    """Both sockets, their worker threads (``threads`` per socket) and the periodic jobs
    (NAS refresh, drop counts) on the event loop."""

    def __init__(self, auth_addr, acct_addr, *, threads: int = 1, reuse_port: bool = False):
        self.auth_addr = auth_addr
        self.acct_addr = acct_addr
        self.threads = max(1, threads)
        # SO_REUSEPORT: several processes share the ports, the kernel spreads senders over
        # them (one sender's retransmits reach the same process and its reply cache).
        self.reuse_port = reuse_port
        self.handler = Handler()
        self.pool: ThreadPoolExecutor | None = None  # the periodic jobs
        self.loop: asyncio.AbstractEventLoop | None = None
        self.sockets: dict[str, socket.socket] = {}
        self.addresses: dict[str, tuple[str, int]] = {}
        self.stopping = False
        self._lock = threading.Lock()  # the reply cache and the requests in flight
        self._inflight: set = set()
        self._readers: list[_Reader] = []
        self._replies: OrderedDict = OrderedDict()
        self._tasks = []

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="radiusd-jobs")
        await self.loop.run_in_executor(self.pool, self.handler.refresh, True)
        try:
            for kind, addr in (("auth", self.auth_addr), ("acct", self.acct_addr)):
                if addr is None:
                    continue
                sock = self.sockets[kind] = _bind(addr, self.reuse_port)
                self.addresses[kind] = sock.getsockname()[:2]
        except BaseException:
            for sock in self.sockets.values():
                sock.close()
            raise
        for kind, sock in self.sockets.items():
            for n in range(self.threads):
                reader = _Reader(self, kind, sock, n)
                reader.start()
                self._readers.append(reader)
        self._tasks.append(asyncio.create_task(self._every(NAS_REFRESH_SECONDS,
                                                           self.handler.refresh)))
        self._tasks.append(asyncio.create_task(self._every(FLUSH_SECONDS, self._flush)))

    def _flush(self):
        try:
            self.handler.flush()
        finally:
            close_old_connections()

    async def _every(self, seconds: float, fn) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await self.loop.run_in_executor(self.pool, fn)
            except Exception:
                log.exception("RADIUS periodic job failed")

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        self.stopping = True
        readers, self._readers = self._readers, []
        sockets, self.sockets = self.sockets, {}

        def wake_and_join():
            # a reader blocked in recvfrom wakes for a datagram: one empty one per reader
            for sock in sockets.values():
                host, port = sock.getsockname()[:2]
                if host in ("0.0.0.0", "::"):
                    host = "127.0.0.1" if sock.family == socket.AF_INET else "::1"
                for _poke in range(2 * self.threads):
                    try:
                        with socket.socket(sock.family, socket.SOCK_DGRAM) as poke:
                            poke.sendto(b"", (host, port))
                    except OSError:
                        pass
            for reader in readers:
                reader.join(10)
            for sock in sockets.values():
                sock.close()

        await self.loop.run_in_executor(None, wake_and_join)
        if self.pool is not None:
            await self.loop.run_in_executor(None, self.pool.shutdown, True)
            try:  # the database is not for the event loop's thread
                await self.loop.run_in_executor(None, self._flush)
            except Exception:
                log.exception("RADIUS drop counters not saved")
            self.pool = None

    def _take(self, kind: str, sock: socket.socket, data: bytes, addr, batch: list) -> None:
        """A datagram just read on ``sock``: dropped (counted), answered from the reply
        cache, ignored (its first copy is being handled, in this batch or another), or
        added to ``batch``."""
        if self.stopping:  # perhaps stop()'s wake-up datagram
            return
        address = addr[0]
        nas = self.handler.nas_for(address)
        if nas is None:
            self.handler.count(None, address, services.DROP_UNKNOWN)
            return
        if len(data) < 20 or len(data) > MAX_PACKET:
            self.handler.count(nas, address, services.DROP_MALFORMED)
            return
        key = (kind, address, addr[1], data[1], data[4:20])
        now = time.monotonic()
        replies = self._replies
        with self._lock:
            while replies:  # forget old replies (oldest first)
                old_key, (at, _reply) = next(iter(replies.items()))
                if now - at < REPLY_CACHE_SECONDS:
                    break
                replies.popitem(last=False)
            cached = replies.get(key)
            if cached is None:
                if key in self._inflight:  # its first copy is being handled
                    return
                self._inflight.add(key)
        if cached is not None:
            _send(sock, cached[1], addr)
            return
        batch.append((key, addr, data, nas, address))

    def _answer(self, sock: socket.socket, batch, replies) -> None:
        """A batch's answers: kept for retransmits, and sent."""
        now = time.monotonic()
        with self._lock:
            for (key, *_rest), reply in zip(batch, replies, strict=True):
                self._inflight.discard(key)
                if reply is not None:
                    self._replies[key] = (now, reply)
        for (_key, addr, *_rest), reply in zip(batch, replies, strict=True):
            if reply is not None:
                _send(sock, reply, addr)


def _send(sock: socket.socket, data: bytes, addr) -> None:
    try:
        sock.sendto(data, addr)
    except OSError as exc:  # full send buffer, closed socket: the NAS retransmits
        log.debug("RADIUS reply to %s not sent: %s", addr, exc)


class ServerThread(DoorThread):
    """A RadiusServer on its own event loop in a background thread (``ficha serve``,
    tests): ``start()`` returns once the sockets are bound (or raises why not)."""

    def __init__(self, auth_addr, acct_addr, *, threads: int = 1):
        super().__init__(RadiusServer(auth_addr, acct_addr, threads=threads), "ficha-radiusd")

    @property
    def addresses(self):
        return self.server.addresses
