"""The door's small RADIUS codec agrees with pyrad — decoding, the authenticator and
Message-Authenticator checks, User-Password, and the reply bytes — on random packets,
and survives any bytes (a CodecError at worst, which the door counts as malformed)."""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from collections import OrderedDict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyrad import packet as rp

from ficha.hotspot import codec
from ficha.hotspot.radius import _encode_value, dictionary

SECRET = b"codec-secret"

attribute = st.tuples(st.integers(1, 255), st.binary(max_size=40))


def _attrs_bytes(attrs) -> bytes:
    out = b""
    for key, value in attrs:
        if key == 26 and len(value) >= 6:  # a well-formed Vendor-Specific now and then
            inner = value[4:]
            value = value[:4] + bytes((value[4], len(inner))) + inner[2:]
        out += bytes((key, len(value) + 2)) + value
    return out


@st.composite
def packets(draw):
    """Access- or Accounting-Requests, signed right or wrong, some cut or padded."""
    code = draw(st.sampled_from([rp.AccessRequest, rp.AccountingRequest]))
    ident = draw(st.integers(0, 255))
    attrs = draw(st.lists(attribute, max_size=8))
    secret = draw(st.sampled_from([SECRET, b"other-secret"]))
    password = draw(st.none() | st.binary(max_size=40))
    with_ma = draw(st.booleans())
    body = _attrs_bytes(attrs)
    authenticator = os.urandom(16)
    if password is not None:
        padded = password + b"\0" * (-len(password) % 16 or (0 if password else 16))
        hidden, last = b"", authenticator
        for i in range(0, len(padded), 16):
            key = hashlib.md5(secret + last).digest()
            last = bytes(a ^ b for a, b in zip(padded[i : i + 16], key, strict=True))
            hidden += last
        body = bytes((2, len(hidden) + 2)) + hidden + body
    if with_ma:
        body = bytes((80, 18)) + bytes(16) + body
    header = struct.pack("!BBH", code, ident, 20 + len(body))
    if code == rp.AccountingRequest:
        authenticator = bytes(16)
    if with_ma:
        mac = hmac.new(secret, header + authenticator + body, hashlib.md5).digest()
        body = body[:2] + mac + body[18:]
    if code == rp.AccountingRequest:
        authenticator = hashlib.md5(header + bytes(16) + body + secret).digest()
    data = header + authenticator + body
    cut = draw(st.sampled_from(["whole", "whole", "cut", "padded", "flip"]))
    if cut == "cut":
        data = data[: draw(st.integers(0, len(data)))]
    elif cut == "padded":
        data += draw(st.binary(min_size=1, max_size=10))
    elif cut == "flip" and len(data) > 20:
        i = draw(st.integers(20, len(data) - 1))
        data = data[:i] + bytes((data[i] ^ draw(st.integers(1, 255)),)) + data[i + 1 :]
    return data


def _pyrad(data: bytes):
    cls = rp.AuthPacket if data[0] == rp.AccessRequest else rp.AcctPacket
    return cls(packet=data, dict=dictionary(), secret=SECRET)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(packets())
def test_decoding_and_checks_agree_with_pyrad(data):
    try:
        theirs = _pyrad(data)
    except Exception:  # noqa: BLE001 - pyrad refused it: so must the codec
        theirs = None
    if theirs is None:
        with pytest.raises(codec.CodecError):
            codec.Request(data, SECRET)
        return
    ours = codec.Request(data, SECRET)
    assert (ours.code, ours.ident, ours.authenticator) == (
        theirs.code,
        theirs.id,
        theirs.authenticator,
    )
    for key in range(1, 256):
        if key == 26:
            continue  # vendor attributes: pyrad splits them, the door reads none
        assert ours.attrs.get(key) == OrderedDict.get(theirs, key), key
    assert ours.message_authenticator == bool(theirs.message_authenticator)
    if ours.message_authenticator:
        assert ours.verify_message_authenticator() == theirs.verify_message_authenticator()
    if ours.code == rp.AccountingRequest:
        assert ours.verify_accounting() == theirs.VerifyAcctRequest()
    hidden = ours.first(2)
    if hidden is not None and ours.code == rp.AccessRequest:
        if len(hidden) % 16:
            with pytest.raises(codec.CodecError):
                ours.password(hidden)
        else:
            assert ours.password(hidden) == theirs.PwDecrypt(hidden)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=120))
def test_any_bytes_decode_or_raise_codec_error_only(data):
    try:
        request = codec.Request(data, SECRET)
    except codec.CodecError:
        return
    request.verify_message_authenticator()
    request.verify_accounting()
    hidden = request.first(2)
    if hidden is not None:
        try:
            request.password(hidden)
        except codec.CodecError:
            pass


REPLY_ATTRIBUTES = [  # what the services put into an Access-Accept or -Reject
    ("Session-Timeout", st.integers(0, 2**32 - 1)),
    ("Idle-Timeout", st.integers(0, 2**32 - 1)),
    ("Acct-Interim-Interval", st.integers(60, 86400)),
    ("Mikrotik-Rate-Limit", st.text(max_size=30)),
    ("Mikrotik-Total-Limit", st.integers(0, 2**32 - 1)),
    ("Mikrotik-Total-Limit-Gigawords", st.integers(0, 2**32 - 1)),
    ("WISPr-Bandwidth-Max-Up", st.integers(0, 2**32 - 1)),
    ("WISPr-Bandwidth-Max-Down", st.integers(0, 2**32 - 1)),
    ("ChilliSpot-Max-Total-Octets", st.integers(0, 2**32 - 1)),
    ("ChilliSpot-Max-Total-Gigawords", st.integers(0, 2**32 - 1)),
    ("WISPr-Session-Terminate-Time", st.just("2026-12-02T13:00:00+00:00")),
    ("Class", st.text(alphabet="abcdefXYZ0123456789:-_", max_size=60)),
    ("Reply-Message", st.text(max_size=80)),
]
reply_attributes = st.lists(
    st.sampled_from(range(len(REPLY_ATTRIBUTES))).flatmap(
        lambda i: REPLY_ATTRIBUTES[i][1].map(lambda v, i=i: (REPLY_ATTRIBUTES[i][0], v))
    ),
    max_size=10,
)


def _request(code: int, proxy_states: list[bytes], with_ma: bool) -> bytes:
    body = b"".join(bytes((33, len(s) + 2)) + s for s in proxy_states)
    body += bytes((1, 7)) + b"alice"
    if with_ma:
        body = bytes((80, 18)) + bytes(16) + body
    header = struct.pack("!BBH", code, 7, 20 + len(body))
    authenticator = os.urandom(16) if code == rp.AccessRequest else bytes(16)
    if with_ma:
        mac = hmac.new(SECRET, header + authenticator + body, hashlib.md5).digest()
        body = body[:2] + mac + body[18:]
    if code == rp.AccountingRequest:
        authenticator = hashlib.md5(header + bytes(16) + body + SECRET).digest()
    return header + authenticator + body


@settings(max_examples=300, deadline=None)
@given(
    reply_attributes,
    st.lists(st.binary(min_size=1, max_size=20), max_size=3),
    st.booleans(),
    st.booleans(),
)
def test_replies_are_byte_for_byte_pyrads(attributes, proxy_states, accept, with_ma):
    data = _request(rp.AccessRequest, proxy_states, with_ma)
    encoder = codec.Encoder(dictionary())
    values = [(name, _encode_value(name, value)) for name, value in attributes]
    code = rp.AccessAccept if accept else rp.AccessReject
    ours = encoder.reply(codec.Request(data, SECRET), code, values)
    reply = _pyrad(data).CreateReply()
    reply.code = code
    for name, value in values:
        reply.AddAttribute(name, value)
    assert ours == reply.ReplyPacket()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=20), max_size=3), st.booleans())
def test_accounting_responses_are_byte_for_byte_pyrads(proxy_states, with_ma):
    data = _request(rp.AccountingRequest, proxy_states, with_ma)
    ours = codec.Encoder(dictionary()).reply(codec.Request(data, SECRET), rp.AccountingResponse)
    assert ours == _pyrad(data).CreateReply().ReplyPacket()
