"""Message types and the signed envelope (no Django, no I/O).

Every frame is one JSON object ``{"t": type, "s": seq, "b": body, "m": mac}``.

* Before authentication only ``challenge`` (server), ``pair`` / ``hello`` (agent),
  ``paired`` and ``error`` (server) travel; ``challenge``, ``pair``, ``paired`` and
  ``error`` are unsigned.
* ``hello`` and every later frame, both ways, carry ``s`` (a sequence number: 1 for the
  first frame each side sends on this connection, then strictly increasing) and ``m``:
  HMAC-SHA256 with the station's device secret over the direction, the connection's link
  id (server nonce + agent nonce, fresh for each connection), ``s``, ``t`` and the body in
  canonical JSON. So a frame cannot be altered (tampering), replayed on this connection
  (``s`` not above the last one), replayed on another connection (another link id) or
  reflected back (the direction is signed).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

# --- types -------------------------------------------------------------------------------
# server -> agent
CHALLENGE = "challenge"  # {nonce, server_time, protocol}; unsigned
PAIRED = "paired"  # {station, name, secret}; unsigned, answers PAIR, then the server closes
ERROR = "error"  # {code, message}; unsigned before hello, signed after
WELCOME = "welcome"  # {state, heartbeat}: hello accepted
STATE = "state"  # full state (see docs/agent-protocol.md), answers HEARTBEAT and pushes
COMMAND = "cmd"  # {id, action, text}
RESULT = "result"  # {req, ok, code, message, state}: answers LOGIN / CODE / LOGOUT
EVENTS_ACK = "events_ack"  # {ids}
BILL_REPLY = "bill"  # {req, ok, code, message, bill}: answers BILL

# agent -> server
PAIR = "pair"  # {code, hostname}: unsigned (the agent has no secret yet)
HELLO = "hello"  # {station, cnonce, boot_id, restarts, version}
HEARTBEAT = "hb"  # {boot_id, restarts, uptime, locked}
LOGIN = "login"  # {req, username, secret}
CODE = "code"  # {req, code}: log in with a recharge code alone, or extend a session
LOGOUT = "logout"  # {req}: the customer ends their session
EVENTS = "events"  # {events: [{id, kind, session, ago}]}: what happened while offline
COMMAND_ACK = "cmd_ack"  # {id, ok, message}
BYE = "bye"  # {reason: shutdown | reboot | stop}: the PC is going down on purpose
BILL = "bill"  # {req, session?}: the running session's itemised bill, or an ended one's

UNSIGNED = frozenset({CHALLENGE, PAIRED, PAIR})

# command actions (server -> agent)
ACTIONS = ("lock", "unlock", "message", "logoff", "shutdown", "restart", "refresh")

# offline event kinds (agent -> server)
EVENT_KINDS = ("session_end", "logout")

# agent / station modes in STATE
MODES = ("free", "session", "paused", "locked")

TO_SERVER = "a2s"
TO_AGENT = "s2a"

MAX_FRAME = 64 * 1024
HEARTBEAT_SECONDS = 5


class ProtocolError(ValueError):
    """A frame that must be refused; ``code`` is stable, for programs."""

    def __init__(self, code: str, message: str = ""):
        super().__init__(message or code)
        self.code = code


def new_nonce() -> str:
    return secrets.token_hex(16)


def new_secret() -> str:
    """A device secret: 256 random bits, URL-safe text."""
    return secrets.token_urlsafe(32)


def canonical(body: dict) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


def link_id(server_nonce: str, agent_nonce: str) -> str:
    return f"{server_nonce}:{agent_nonce}"


def mac(secret: str, direction: str, link: str, seq: int, kind: str, body: dict) -> str:
    head = f"ficha-station/1\n{direction}\n{link}\n{seq}\n{kind}\n".encode()
    return hmac.new(secret.encode(), head + canonical(body), hashlib.sha256).hexdigest()


def encode(kind: str, body: dict | None = None, *, seq: int = 0, signature: str = "") -> str:
    frame: dict = {"t": kind, "b": body or {}}
    if seq:
        frame["s"] = seq
    if signature:
        frame["m"] = signature
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Frame:
    kind: str
    body: dict
    seq: int = 0
    signature: str = ""


def decode(raw: str | bytes) -> Frame:
    """Parse a frame; raises :class:`ProtocolError` on anything malformed."""
    if isinstance(raw, bytes):
        if len(raw) > MAX_FRAME:
            raise ProtocolError("too_large")
        try:
            raw = raw.decode()
        except UnicodeDecodeError:
            raise ProtocolError("malformed", "not UTF-8")
    if len(raw) > MAX_FRAME:
        raise ProtocolError("too_large")
    try:
        data = json.loads(raw)
    except ValueError:
        raise ProtocolError("malformed", "not JSON")
    if not isinstance(data, dict):
        raise ProtocolError("malformed", "not an object")
    kind, body = data.get("t"), data.get("b", {})
    seq, signature = data.get("s", 0), data.get("m", "")
    if not isinstance(kind, str) or not isinstance(body, dict):
        raise ProtocolError("malformed", "bad type or body")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise ProtocolError("malformed", "bad sequence number")
    if not isinstance(signature, str):
        raise ProtocolError("malformed", "bad signature")
    return Frame(kind, body, seq, signature)


class Signer:
    """One side of an authenticated connection: signs what it sends, checks what it
    receives (signature and strictly increasing sequence numbers)."""

    def __init__(self, secret: str, link: str, *, sending: str):
        if sending not in (TO_SERVER, TO_AGENT):
            raise ValueError(sending)
        self.secret = secret
        self.link = link
        self.sending = sending
        self.receiving = TO_AGENT if sending == TO_SERVER else TO_SERVER
        self.sent = 0
        self.received = 0

    def seal(self, kind: str, body: dict | None = None) -> str:
        body = body or {}
        self.sent += 1
        return encode(kind, body, seq=self.sent,
                      signature=mac(self.secret, self.sending, self.link, self.sent, kind,
                                    body))

    def check(self, frame: Frame) -> Frame:
        """Accept ``frame`` or raise ProtocolError("bad_signature" / "replay")."""
        if not frame.signature or not frame.seq:
            raise ProtocolError("unsigned", "this frame must be signed")
        want = mac(self.secret, self.receiving, self.link, frame.seq, frame.kind, frame.body)
        if not hmac.compare_digest(want, frame.signature):
            raise ProtocolError("bad_signature", "signature does not match")
        if frame.seq <= self.received:
            raise ProtocolError("replay", "sequence number already used")
        self.received = frame.seq
        return frame
