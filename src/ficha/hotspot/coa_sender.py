"""A thin UDP sender for RFC 5176 requests (CoA-Request, Disconnect-Request).

It encodes what it is given, sends each request once, waits for a verified answer (ACK or
NAK, with Error-Cause) up to a timeout and reports what came back. It decides nothing:
retries, back-off and what an answer means live in ``services.coa_jobs``. All requests of
one call are in flight together (asyncio), so a slow gateway does not hold up the others.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from pyrad import packet as rp

from .radius import dictionary

log = logging.getLogger("ficha.hotspot.coa")

ACK, NAK, TIMEOUT, ERROR = "ack", "nak", "timeout", "error"
DISCONNECT, COA = "disconnect", "coa"
_CODES = {DISCONNECT: rp.DisconnectRequest, COA: rp.CoARequest}
_ACKS = {rp.DisconnectACK, rp.CoAACK}
_NAKS = {rp.DisconnectNAK, rp.CoANAK}

# RFC 5176 section 3.5: what a gateway's Error-Cause says (protocol names, as the
# gateways' own logs and manuals write them).
ERROR_CAUSES = {
    201: "Residual-Session-Context-Removed", 202: "Invalid-EAP-Packet",
    401: "Unsupported-Attribute", 402: "Missing-Attribute",
    403: "NAS-Identification-Mismatch", 404: "Invalid-Request",
    405: "Unsupported-Service", 406: "Unsupported-Extension",
    407: "Invalid-Attribute-Value", 501: "Administratively-Prohibited",
    502: "Request-Not-Routable", 503: "Session-Context-Not-Found",
    504: "Session-Context-Not-Removable", 505: "Other-Proxy-Processing-Error",
    506: "Resources-Unavailable", 507: "Request-Initiated",
    508: "Multiple-Session-Selection-Unsupported",
}


@dataclass
class Request:
    host: str
    port: int
    secret: str
    kind: str  # disconnect / coa
    attributes: list[tuple[str, object]] = field(default_factory=list)


@dataclass(frozen=True)
class Answer:
    result: str  # ack / nak / timeout / error
    error_cause: int | None = None
    detail: str = ""


def encode(request: Request, ident: int) -> rp.CoAPacket:
    """The request as a pyrad packet (Event-Timestamp and Message-Authenticator added)."""
    pkt = rp.CoAPacket(code=_CODES[request.kind], id=ident, secret=request.secret.encode(),
                       dict=dictionary(), message_authenticator=True)
    for name, value in request.attributes:
        pkt.AddAttribute(name, value)
    pkt.AddAttribute("Event-Timestamp", int(time.time()))
    return pkt


class _Client(asyncio.DatagramProtocol):
    def __init__(self, pkt: rp.CoAPacket, raw: bytes):
        self.pkt, self.raw = pkt, raw
        self.answer: asyncio.Future = asyncio.get_running_loop().create_future()

    def connection_made(self, transport):
        transport.sendto(self.raw)

    def datagram_received(self, data, addr):
        if self.answer.done():
            return
        try:
            reply = self.pkt.CreateReply(packet=data)
        except Exception:  # not a RADIUS packet: keep waiting for the real answer
            return
        if not self.pkt.VerifyReply(reply, data):
            return  # wrong id or authenticator (wrong secret, or a spoofed answer)
        self.answer.set_result(reply)

    def error_received(self, exc):
        if not self.answer.done():
            self.answer.set_exception(exc)


async def _send_one(request: Request, ident: int, timeout: float) -> Answer:
    try:
        ipaddress.ip_address(request.host)
        pkt = encode(request, ident)
        raw = pkt.RequestPacket()
    except Exception as exc:  # an address or attribute we cannot encode
        return Answer(ERROR, detail=str(exc)[:200])
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in request.host else socket.AF_INET
    try:
        transport, proto = await loop.create_datagram_endpoint(
            lambda: _Client(pkt, raw), remote_addr=(request.host, request.port),
            family=family)
    except OSError as exc:
        return Answer(ERROR, detail=str(exc)[:200])
    try:
        reply = await asyncio.wait_for(proto.answer, timeout)
    except TimeoutError:
        return Answer(TIMEOUT)
    except OSError as exc:  # ICMP port unreachable and the like
        return Answer(ERROR, detail=str(exc)[:200])
    finally:
        transport.close()
    cause = None
    raw_cause = dict.get(reply, 101)  # Error-Cause, undecoded (named values vary)
    if raw_cause and len(raw_cause[0]) == 4:
        cause = int.from_bytes(raw_cause[0], "big")
    if reply.code in _ACKS:
        return Answer(ACK, cause)
    if reply.code in _NAKS:
        return Answer(NAK, cause)
    return Answer(ERROR, cause, detail=f"unexpected code {reply.code}")


async def send_async(requests: list[Request], timeout: float = 3.0) -> list[Answer]:
    return list(await asyncio.gather(*(
        _send_one(req, i % 256, timeout) for i, req in enumerate(requests))))


def send(requests: list[Request], timeout: float = 3.0) -> list[Answer]:
    """Send every request once, together; one answer per request, in order."""
    if not requests:
        return []
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(send_async(requests, timeout))
    # called from inside an event loop (an async caller): run ours in its own thread
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(send_async(requests, timeout))).result()
