"""Constants and the error every hotspot service raises."""

from __future__ import annotations

from django.core import signing

MIKROTIK_MAX_TIMEOUT = 21474720  # RouterOS refuses a longer Session-Timeout
MIN_INTERIM = 60  # RFC 2869: Acct-Interim-Interval not below 60 s
THROTTLE_SCOPE = "hotspot_login"
TICKET_SECONDS = 120
CLASS_PREFIX = "ficha1:"
_class_signer = signing.Signer(salt="ficha.hotspot.class")


def least(*limits):
    """The tightest of the limits given (None: no limit; None if none is given)."""
    present = [v for v in limits if v is not None]
    return min(present) if present else None


class HotspotError(ValueError):
    """A hotspot setting that cannot be saved; the message is for people.

    ``errors`` ({field: message}) says which field is wrong, so a form shows the message
    on that field; the message is then all of them.
    """

    def __init__(self, message: str = "", *, errors: dict[str, str] | None = None):
        self.errors = dict(errors or {})
        super().__init__(message or " ".join(str(m) for m in self.errors.values()))
