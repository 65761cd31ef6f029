"""What a RADIUS packet says, read from its raw attributes (never trusting pyrad's decoding
of what a stranger sent), as the hotspot services take it: ``auth_request`` and
``acct_request``; ``Drop`` for a packet that gets no answer. The dictionary of attribute
names ships with Ficha (``dictionaries/``)."""

from __future__ import annotations

import ipaddress
import struct
from pathlib import Path

from pyrad.dictionary import Dictionary

from . import codec, services

DICTIONARY_PATH = Path(__file__).with_name("dictionaries") / "dictionary"

_dictionary: Dictionary | None = None


def dictionary() -> Dictionary:
    global _dictionary
    if _dictionary is None:
        _dictionary = Dictionary(str(DICTIONARY_PATH))
    return _dictionary


class Drop(Exception):
    """The packet is dropped without an answer; ``reason`` says why (counted per NAS)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# --- raw attribute access (never trust pyrad's decoding of what a stranger sent) -----------
def _raw(pkt: codec.Request, key: int) -> bytes | None:
    return pkt.first(key)


def _text(pkt, key, limit: int = 253) -> str:
    value = _raw(pkt, key)
    if value is None:
        return ""
    return value.decode("utf-8", "replace")[:limit]


def _int(pkt, key) -> int:
    value = _raw(pkt, key)
    if value is None:
        return 0
    if len(value) != 4:
        raise Drop(services.DROP_MALFORMED)
    return struct.unpack("!I", value)[0]


def _ipaddr(pkt, key) -> str | None:
    value = _raw(pkt, key)
    if value is None or len(value) != 4:
        return None
    return str(ipaddress.IPv4Address(value))


ACCT_STATUS = {1: services.START, 2: services.STOP, 3: services.INTERIM,
               7: services.ACCOUNTING_ON, 8: services.ACCOUNTING_OFF}


def auth_request(pkt) -> services.AuthRequest:
    """What an Access-Request asks, as the services take it."""
    username = _text(pkt, 1)
    password = None
    chap_id = chap_response = chap_challenge = None
    chap = _raw(pkt, 3)
    if chap is not None:
        if len(chap) != 17:
            raise Drop(services.DROP_MALFORMED)
        chap_id, chap_response = chap[0], chap[1:]
        chap_challenge = _raw(pkt, 60) or pkt.authenticator
    else:
        encrypted = _raw(pkt, 2)
        if encrypted is not None:
            if not encrypted or len(encrypted) % 16 or len(encrypted) > 128:
                raise Drop(services.DROP_MALFORMED)
            password = pkt.password(encrypted)
    return services.AuthRequest(
        username=username, password=password, chap_id=chap_id, chap_response=chap_response,
        chap_challenge=chap_challenge, mac=_text(pkt, 31, 64), called=_text(pkt, 30, 100))


def acct_request(pkt) -> services.AcctRequest:
    status = ACCT_STATUS.get(_int(pkt, 40))
    if status is None:
        raise Drop(services.DROP_MALFORMED)
    cause = _int(pkt, 49)
    cause_name = ""
    if cause:
        try:
            cause_name = dictionary().attributes["Acct-Terminate-Cause"].values.GetBackward(
                struct.pack("!I", cause))
        except Exception:
            cause_name = str(cause)
    return services.AcctRequest(
        status=status, session_id=_text(pkt, 44, 100), username=_text(pkt, 1, 150),
        mac=_text(pkt, 31, 64), called=_text(pkt, 30, 100), framed_ip=_ipaddr(pkt, 8),
        session_time=_int(pkt, 46), input_octets=_int(pkt, 42), input_gigawords=_int(pkt, 52),
        output_octets=_int(pkt, 43), output_gigawords=_int(pkt, 53),
        terminate_cause=cause_name, klass=_raw(pkt, 25))


def _encode_value(name: str, value):
    if name == "Reply-Message":
        data = str(value).encode("utf-8")[:253]
        return data.decode("utf-8", "ignore")
    if name == "Class" and isinstance(value, str):
        return value.encode("ascii")
    return value
