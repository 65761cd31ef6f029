"""Constants and the error every hotspot service raises."""

from __future__ import annotations

from django.core import signing

MIKROTIK_MAX_TIMEOUT = 21474720  # RouterOS refuses a longer Session-Timeout
MIN_INTERIM = 60  # RFC 2869: Acct-Interim-Interval not below 60 s
THROTTLE_SCOPE = "hotspot_login"
TICKET_SECONDS = 120
CLASS_PREFIX = "ficha1:"
_class_signer = signing.Signer(salt="ficha.hotspot.class")


class HotspotError(ValueError):
    """A hotspot setting that cannot be saved; the message is for people."""
