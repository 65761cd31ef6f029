"""An asyncio UDP load generator for RADIUS servers (used by ``bench.benchmarks.radius``).

One generator drives every server under test the same way, so their numbers compare:

* packets are built before the clock starts (:func:`access_request`,
  :func:`accounting_request`): correct identifiers, Request Authenticators (random for
  Access-Request, MD5 over the packet and secret for Accounting-Request), User-Password
  hidden as RFC 2865 says, and a Message-Authenticator (HMAC-MD5) on every Access-Request;
* packet ``k`` goes out on socket ``k % S`` with identifier ``(k // S) % 256``, so up to
  ``256 × S`` requests can be outstanding without two sharing a (port, identifier); a
  packet whose slot is still busy waits for it;
* :func:`closed_loop` keeps ``concurrency`` requests in flight (peak throughput);
  :func:`open_loop` sends at a fixed rate whatever the answers (latency at a given load);
* every answer's Response Authenticator is checked; answers to nothing outstanding are
  counted as duplicates, requests never answered within ``timeout`` as lost;
* the garbage collector is off while a loop runs (:func:`_no_gc`): the process that runs
  the generator also holds the benchmark's packets and results, and a full collection
  there took 60–170 ms, during which answers waited in the socket buffer and were timed
  as the server's latency (and the open loop then sent the late packets in a burst).

Nothing here imports Django.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import hmac
import os
import socket
import struct
import time
from dataclasses import dataclass, field

ACCESS_REQUEST, ACCESS_ACCEPT, ACCESS_REJECT = 1, 2, 3
ACCOUNTING_REQUEST, ACCOUNTING_RESPONSE = 4, 5
START, STOP, INTERIM = 1, 2, 3


def _attr(kind: int, value: bytes) -> bytes:
    if len(value) > 253:
        raise ValueError("attribute value longer than 253 bytes")
    return bytes((kind, len(value) + 2)) + value


def _int(kind: int, value: int) -> bytes:
    return _attr(kind, struct.pack("!I", value))


def hide_password(password: bytes, secret: bytes, authenticator: bytes) -> bytes:
    """RFC 2865 §5.2: the password XORed with MD5(secret ‖ previous block)."""
    padded = password + b"\0" * (-len(password) % 16 or (16 if not password else 0))
    out = b""
    last = authenticator
    for i in range(0, len(padded), 16):
        key = hashlib.md5(secret + last).digest()
        block = bytes(a ^ b for a, b in zip(padded[i:i + 16], key, strict=True))
        out += block
        last = block
    return out


def access_request(ident: int, secret: bytes, username: str, password: str, *,
                   mac: str = "", nas_ip: bytes = b"\x7f\0\0\1") -> bytes:
    """An Access-Request (PAP) with Message-Authenticator first (BlastRADIUS)."""
    authenticator = os.urandom(16)
    attrs = (
        _attr(80, b"\0" * 16)
        + _attr(1, username.encode())
        + _attr(2, hide_password(password.encode(), secret, authenticator))
        + _attr(4, nas_ip)
        + _int(61, 19)  # NAS-Port-Type = Wireless-802.11
        + (_attr(31, mac.encode()) if mac else b"")
        + _attr(30, b"bench-hotspot")
    )
    header = struct.pack("!BBH", ACCESS_REQUEST, ident, 20 + len(attrs)) + authenticator
    packet = header + attrs
    digest = hmac.new(secret, packet, hashlib.md5).digest()
    return header + attrs[:2] + digest + attrs[18:]


def accounting_request(ident: int, secret: bytes, status: int, session_id: str,
                       username: str, *, session_time: int = 0, input_octets: int = 0,
                       output_octets: int = 0, mac: str = "",
                       nas_ip: bytes = b"\x7f\0\0\1") -> bytes:
    attrs = (
        _int(40, status)
        + _attr(44, session_id.encode())
        + _attr(1, username.encode())
        + _attr(4, nas_ip)
        + (_attr(31, mac.encode()) if mac else b"")
        + _attr(30, b"bench-hotspot")
        + _int(46, session_time)
        + _int(42, input_octets & 0xFFFFFFFF)
        + _int(43, output_octets & 0xFFFFFFFF)
        + _int(52, input_octets >> 32)
        + _int(53, output_octets >> 32)
    )
    header = struct.pack("!BBH", ACCOUNTING_REQUEST, ident, 20 + len(attrs))
    authenticator = hashlib.md5(header + b"\0" * 16 + attrs + secret).digest()
    return header + authenticator + attrs


def reply_ok(reply: bytes, request: bytes, secret: bytes) -> bool:
    """Whether ``reply`` answers ``request``: identifier and Response Authenticator."""
    if len(reply) < 20 or reply[1] != request[1]:
        return False
    length = struct.unpack("!H", reply[2:4])[0]
    if length > len(reply) or length < 20:
        return False
    expect = hashlib.md5(reply[:4] + request[4:20] + reply[20:length] + secret).digest()
    return hmac.compare_digest(expect, reply[4:20])


def slot(k: int, sockets: int) -> tuple[int, int]:
    """(socket index, identifier) of packet ``k``."""
    return k % sockets, (k // sockets) % 256


@dataclass
class Result:
    sent: int = 0
    answered: int = 0
    codes: dict[int, int] = field(default_factory=dict)
    lost: int = 0
    duplicates: int = 0  # a second answer to one request
    late: int = 0  # answers that came after their request was counted lost
    bad: int = 0  # answers failing the Response Authenticator check
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, answered requests
    answered_ks: list[int] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.answered / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("inf")
        values = sorted(self.latencies)
        return values[min(len(values) - 1, max(0, int(q * len(values) + 0.5) - 1))]

    def as_dict(self) -> dict:
        return {"sent": self.sent, "answered": self.answered, "lost": self.lost,
                "duplicates": self.duplicates, "late": self.late, "bad": self.bad,
                "codes": {str(k): v for k, v in self.codes.items()},
                "seconds": round(self.seconds, 3), "rate": round(self.rate, 1),
                "p50_ms": round(self.percentile(0.50) * 1000, 3),
                "p99_ms": round(self.percentile(0.99) * 1000, 3)}


@contextlib.contextmanager
def _no_gc():
    """No garbage collection for the length of a timed loop (a few seconds: what it
    allocates is small), so the generator's own pauses are not timed as the server's."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


class _Client(asyncio.DatagramProtocol):
    def __init__(self, run: _Run, index: int):
        self.run = run
        self.index = index
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.run.received(self.index, data)

    def error_received(self, exc):  # ICMP port unreachable and such: the request is lost
        pass


class _Run:
    def __init__(self, packets, sockets: int, secret: bytes, timeout: float,
                 local_ports: list[int] | None = None):
        self.packets = packets
        self.local_ports = local_ports
        self.sockets = sockets
        self.secret = secret
        self.timeout = timeout
        self.result = Result()
        self.pending: dict[tuple[int, int], tuple[int, float]] = {}
        self.expired: dict[tuple[int, int], int] = {}  # slot -> packet counted lost
        self.answered_slots: dict[tuple[int, int], int] = {}  # slot -> packet answered
        self.freed: dict[tuple[int, int], asyncio.Event] = {}
        self.clients: list[_Client] = []
        self.window = asyncio.Event()
        self.outstanding = 0
        self.done = asyncio.Event()
        self.last_answer = 0.0

    async def open(self, target):
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in target[0] else socket.AF_INET
        for i in range(self.sockets):
            local = (("::1" if family == socket.AF_INET6 else "127.0.0.1"),
                     self.local_ports[i]) if self.local_ports else None
            _t, proto = await loop.create_datagram_endpoint(
                lambda i=i: _Client(self, i), remote_addr=target, family=family,
                local_addr=local)
            sock = _t.get_extra_info("socket")
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            except OSError:
                pass
            self.clients.append(proto)

    def close(self):
        for c in self.clients:
            c.transport.close()

    async def send(self, k: int):
        key = slot(k, self.sockets)
        while key in self.pending:  # the slot's earlier request is still out
            sent_k, at = self.pending[key]
            left = at + self.timeout - time.perf_counter()
            if left <= 0:
                self.expire(key)
                break
            event = self.freed.setdefault(key, asyncio.Event())
            try:
                await asyncio.wait_for(event.wait(), left)
            except TimeoutError:
                pass
        self.pending[key] = (k, time.perf_counter())
        self.outstanding += 1
        self.result.sent += 1
        self.clients[key[0]].transport.sendto(self.packets[k])

    def expire(self, key) -> None:
        k, _at = self.pending.pop(key)
        self.outstanding -= 1
        self.result.lost += 1
        self.expired[key] = k

    def _old_answer(self, key, data: bytes) -> bool:
        """Count an answer to an earlier packet of this slot: late or duplicate."""
        k = self.expired.get(key)
        if k is not None and reply_ok(data, self.packets[k], self.secret):
            del self.expired[key]
            self.result.late += 1
            return True
        k = self.answered_slots.get(key)
        if k is not None and reply_ok(data, self.packets[k], self.secret):
            self.result.duplicates += 1
            return True
        return False

    def received(self, index: int, data: bytes):
        now = time.perf_counter()
        if len(data) < 20:
            self.result.bad += 1
            return
        key = (index, data[1])
        entry = self.pending.get(key)
        if entry is None or not reply_ok(data, self.packets[entry[0]], self.secret):
            if not self._old_answer(key, data):
                self.result.bad += 1
            return
        k, at = entry
        del self.pending[key]
        self.outstanding -= 1
        self.result.answered += 1
        self.result.codes[data[0]] = self.result.codes.get(data[0], 0) + 1
        self.result.latencies.append(now - at)
        self.result.answered_ks.append(k)
        self.answered_slots[key] = k
        self.expired.pop(key, None)
        self.last_answer = now
        event = self.freed.pop(key, None)
        if event is not None:
            event.set()
        self.window.set()

    async def drain(self):
        """Wait for the outstanding answers; what is still out after ``timeout`` is lost."""
        end = time.perf_counter() + self.timeout
        while self.pending and time.perf_counter() < end:
            await asyncio.sleep(0.005)
        for key in list(self.pending):
            self.expire(key)


async def closed_loop(target, packets, secret: bytes, *, concurrency: int, seconds: float,
                      sockets: int | None = None, timeout: float = 3.0,
                      local_ports: list[int] | None = None) -> Result:
    """Keep ``concurrency`` requests in flight for ``seconds`` (or until the packets run
    out); the rate counts answers between the first send and the last answer.
    ``local_ports`` (one per socket) keeps the source ports from run to run, so a server
    whose processes share a port (SO_REUSEPORT) sees each source at the same process."""
    sockets = len(local_ports) if local_ports else (sockets or max(1, -(-concurrency // 128)))
    run = _Run(packets, sockets, secret, timeout, local_ports)
    await run.open(target)
    try:
        with _no_gc():
            start = time.perf_counter()
            end = start + seconds
            k = 0
            while k < len(packets) and time.perf_counter() < end:
                while run.outstanding < concurrency and k < len(packets):
                    await run.send(k)
                    k += 1
                run.window.clear()
                try:
                    await asyncio.wait_for(run.window.wait(), 0.05)
                except TimeoutError:
                    # Expire requests that waited too long so a lost one does not block.
                    now = time.perf_counter()
                    for key, (_k, at) in list(run.pending.items()):
                        if now - at > timeout:
                            run.expire(key)
            await run.drain()
            run.result.seconds = max(1e-9, (run.last_answer or time.perf_counter()) - start)
            return run.result
    finally:
        run.close()


async def open_loop(target, packets, secret: bytes, *, rate: float, seconds: float,
                    sockets: int = 8, timeout: float = 3.0,
                    local_ports: list[int] | None = None) -> Result:
    """Send at ``rate`` requests/s for ``seconds`` whatever the answers; latencies are
    from each packet's actual send time."""
    sockets = len(local_ports) if local_ports else sockets
    run = _Run(packets, sockets, secret, timeout, local_ports)
    await run.open(target)
    try:
        with _no_gc():
            count = min(len(packets), int(rate * seconds))
            start = time.perf_counter()
            k = 0
            while k < count:
                due = start + k / rate
                now = time.perf_counter()
                if due > now:
                    await asyncio.sleep(due - now)
                    continue
                while k < count and start + k / rate <= time.perf_counter():
                    await run.send(k)
                    k += 1
                await asyncio.sleep(0)
            run.result.seconds = time.perf_counter() - start
            await run.drain()
            return run.result
    finally:
        run.close()
