"""A small, fast RADIUS codec for the door's hot path: Access-Request and
Accounting-Request in, Access-Accept/Reject and Accounting-Response out.

pyrad builds a dictionary-aware object per packet (about 0.3 ms of CPU to decode one
request and encode its reply); the door needs the raw values of a few standard
attributes and replies with a handful. This module does exactly what pyrad 2.6 does for
those packets — same length rules (octets beyond the Length field are padding; a last
attribute cut short keeps what is there), same Message-Authenticator and Request
Authenticator checks over the packet as received, same User-Password decryption, the
reply's Message-Authenticator first, then the request's Proxy-State, then the
attributes grouped by type in first-use order — and keeps pyrad's dictionary as the
source of attribute numbers and types. ``tests/test_hotspot_codec.py`` checks that it
agrees with pyrad on random packets and that any bytes end in :class:`CodecError` at
worst. Status-Server and anything unusual stays with pyrad.
"""

from __future__ import annotations

import hashlib
import hmac
import struct

from pyrad import tools

ACCESS_REQUEST, ACCESS_ACCEPT, ACCESS_REJECT = 1, 2, 3
ACCOUNTING_REQUEST, ACCOUNTING_RESPONSE = 4, 5
MESSAGE_AUTHENTICATOR = 80
PROXY_STATE = 33
VENDOR_SPECIFIC = 26
MAX_LENGTH = 8192  # pyrad's limit; the door drops anything above 4096 before
_ZERO16 = bytes(16)
_HEADER = struct.Struct("!BBH")
_INTEGER = struct.Struct("!I")


class CodecError(ValueError):
    """The bytes are not a packet this codec accepts (the door drops it as malformed)."""


class Request:
    """A received request: header fields and the raw values of its attributes by type
    (Vendor-Specific attributes are kept whole under 26: the door reads none)."""

    __slots__ = (
        "attrs",
        "authenticator",
        "code",
        "ident",
        "message_authenticator",
        "raw",
        "secret",
    )

    def __init__(self, raw: bytes, secret: bytes):
        if len(raw) < 20:
            raise CodecError("packet header is corrupt")
        code, ident, length = _HEADER.unpack_from(raw)
        if length < 20 or len(raw) < length:
            raise CodecError("packet has invalid length")
        if length > MAX_LENGTH:
            raise CodecError("packet length is too long")
        raw = raw[:length]  # RFC 2865 section 3: octets beyond Length are padding
        self.raw, self.secret = raw, secret
        self.code, self.ident, self.authenticator = code, ident, raw[4:20]
        attrs: dict[int, list[bytes]] = {}
        self.message_authenticator = False
        pos = 20
        while pos < length:
            if pos + 2 > length:
                raise CodecError("attribute header is corrupt")
            key, attrlen = raw[pos], raw[pos + 1]
            if attrlen < 2:
                raise CodecError("attribute length is too small")
            value = raw[pos + 2 : pos + attrlen]  # a last attribute cut short keeps the rest
            if key == MESSAGE_AUTHENTICATOR:
                self.message_authenticator = True
            found = attrs.get(key)
            if found is None:
                attrs[key] = [value]
            else:
                found.append(value)
            pos += attrlen
        self.attrs = attrs

    def first(self, key: int) -> bytes | None:
        values = self.attrs.get(key)
        return values[0] if values else None

    def verify_message_authenticator(self) -> bool:
        """The HMAC-MD5 over the packet as received with the Message-Authenticator's
        value zeroed (RFC 2869 section 5.14; RFC 5176's zero vector for accounting)."""
        given = self.attrs.get(MESSAGE_AUTHENTICATOR)
        if not given:
            return False
        attrs = _zero_message_authenticator(self.raw[20:])
        vector = _ZERO16 if self.code == ACCOUNTING_REQUEST else self.authenticator
        mac = hmac.new(
            self.secret,
            _HEADER.pack(self.code, self.ident, 20 + len(attrs)) + vector + attrs,
            hashlib.md5,
        ).digest()
        return hmac.compare_digest(given[0], mac)

    def verify_accounting(self) -> bool:
        """The Request Authenticator of an Accounting-Request (RFC 2866 section 3)."""
        expected = hashlib.md5(self.raw[:4] + _ZERO16 + self.raw[20:] + self.secret).digest()
        return hmac.compare_digest(expected, self.authenticator)

    def password(self, hidden: bytes) -> str:
        """A User-Password revealed (RFC 2865 section 5.2), as pyrad's PwDecrypt."""
        if len(hidden) % 16:
            raise CodecError("invalid length of encrypted password")
        out = bytearray()
        last = self.authenticator
        for i in range(0, len(hidden), 16):
            block = hidden[i : i + 16]
            key = hashlib.md5(self.secret + last).digest()
            out += (int.from_bytes(block, "big") ^ int.from_bytes(key, "big")).to_bytes(16, "big")
            last = block
        return bytes(out).rstrip(b"\0").decode("utf-8", errors="ignore")


def _zero_message_authenticator(attrs: bytes) -> bytes:
    pos = 0
    while pos + 2 <= len(attrs):
        key, length = attrs[pos], attrs[pos + 1]
        if length < 2:
            break
        if key == MESSAGE_AUTHENTICATOR:
            return attrs[: pos + 2] + _ZERO16 + attrs[pos + length :]
        pos += length
    return attrs


class Encoder:
    """Reply attributes by dictionary name → wire bytes, with pyrad's dictionary."""

    def __init__(self, dictionary):
        self.dict = dictionary
        self._attrs: dict[str, tuple] = {}

    def _attribute(self, name: str):
        found = self._attrs.get(name)
        if found is None:
            attr = self.dict.attributes[name]
            vendor = self.dict.vendors.GetForward(attr.vendor) if attr.vendor else 0
            if attr.type == "tlv" or attr.encrypt or attr.has_tag or attr.is_sub_attribute:
                raise CodecError(f"{name}: not encoded here")
            found = self._attrs[name] = (vendor, attr.code, attr.type, attr.values)
        return found

    def attribute(self, name: str, value) -> tuple[object, bytes]:
        """(pyrad's key, one encoded attribute) for ``name`` = ``value``."""
        vendor, code, kind, values = self._attribute(name)
        if values.HasForward(value):  # a named value: the dictionary holds it encoded
            data = values.GetForward(value)
        elif kind == "integer" and type(value) is int and 0 <= value <= 0xFFFFFFFF:
            data = _INTEGER.pack(value)
        elif kind == "string" and type(value) is str:
            data = value.encode("utf-8")
        else:
            data = tools.EncodeAttr(kind, value)
        if vendor:
            inner = bytes((code, len(data) + 2)) + data
            if len(inner) + 4 > 253:
                raise CodecError(f"{name}: value too long")
            return (vendor, code), bytes((VENDOR_SPECIFIC, len(inner) + 6)) + struct.pack(
                "!L", vendor
            ) + inner
        if len(data) > 253:
            raise CodecError(f"{name}: value too long")
        return code, bytes((code, len(data) + 2)) + data

    def reply(self, request: Request, code: int, attributes=()) -> bytes:
        """The reply to ``request``: Message-Authenticator first (replies to an
        Access-Request), the request's Proxy-State, then ``attributes`` ((name, value)
        pairs) grouped by type in first-use order — as pyrad's CreateReply/ReplyPacket."""
        groups: dict[object, list[bytes]] = {}
        for state in request.attrs.get(PROXY_STATE, ()):
            groups.setdefault(PROXY_STATE, []).append(bytes((PROXY_STATE, len(state) + 2)) + state)
        for name, value in attributes:
            key, data = self.attribute(name, value)
            groups.setdefault(key, []).append(data)
        body = b"".join(b"".join(group) for group in groups.values())
        signed = request.code == ACCESS_REQUEST
        if signed:
            body = bytes((MESSAGE_AUTHENTICATOR, 18)) + _ZERO16 + body
        if 20 + len(body) > 4096:
            raise CodecError("reply too long")
        header = _HEADER.pack(code, request.ident, 20 + len(body))
        if signed:
            mac = hmac.new(
                request.secret, header + request.authenticator + body, hashlib.md5
            ).digest()
            body = body[:2] + mac + body[18:]
        authenticator = hashlib.md5(header + request.authenticator + body + request.secret).digest()
        return header + authenticator + body
