"""Where customers reach the portal: the one rule that decides the public base URL.

Printed cards carry it in their QR codes (``{base}/recharge?code=…``), so it must be an
address a customer's phone can open. In order of preference:

1. the address the owner typed in the console's Settings (``VenueSettings.public_url``);
2. ``FICHA_PUBLIC_URL``;
3. the address of the page being viewed (the request's host), else the address the web
   server listens on (``FICHA_HTTP_ADDR``): a guess, which the console warns about.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _

SETTINGS = "settings"
ENVIRONMENT = "environment"
REQUEST = "request"
LISTEN = "listen"

_MAX_LENGTH = 200  # VenueSettings.public_url


class PublicURLError(ValueError):
    pass


@dataclass(frozen=True)
class PublicAddress:
    url: str  # e.g. "http://10.0.0.1:8000", no trailing slash
    source: str  # SETTINGS, ENVIRONMENT, REQUEST or LISTEN

    @property
    def configured(self) -> bool:
        """Set on purpose (Settings or FICHA_PUBLIC_URL), not guessed."""
        return self.source in (SETTINGS, ENVIRONMENT)

    @property
    def loopback(self) -> bool:
        """Only this computer can open it (127.0.0.1, localhost, ::1, 0.0.0.0)."""
        return is_loopback(self.url)

    @property
    def needs_attention(self) -> bool:
        """Phones may not reach printed QR codes: a loopback or a guessed address."""
        return self.loopback or not self.configured


def is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    if not host or host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_unspecified


def clean(value: str) -> str:
    """A public address as typed by the owner, checked and normalised; "" clears it.

    Accepted: ``http://`` or ``https://``, a host name or IP address, an optional port,
    nothing after it but an optional "/". Returns e.g. ``"http://10.0.0.1:8000"``.
    """
    text = (value or "").strip()
    if not text:
        return ""
    if len(text) > _MAX_LENGTH:
        raise PublicURLError(_("The public address is too long."))
    if any(ch.isspace() or ord(ch) < 32 for ch in text):
        raise PublicURLError(_("The public address cannot contain spaces."))
    example = {"example": "http://192.168.1.10:8000"}
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise PublicURLError(_("This is not a web address, e.g. %(example)s.") % example)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise PublicURLError(
            _("The public address starts with http:// or https://, e.g. %(example)s.") % example
        )
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise PublicURLError(_("The public address cannot contain a user name or password."))
    if parts.path not in ("", "/") or parts.query or parts.fragment or text.endswith(("?", "#")):
        raise PublicURLError(_(
            "Only the scheme, the host and the port: no path after it (printed cards add "
            "/recharge themselves), e.g. %(example)s."
        ) % example)
    host = parts.hostname.lower()
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        labels = host.rstrip(".").split(".")
        if not all(label and len(label) <= 63 and label.replace("-", "").isalnum()
                   and label.isascii() and not label.startswith("-") for label in labels):
            raise PublicURLError(_("“%(host)s” is not a valid host name.") % {"host": host})
        netloc = host
    else:
        netloc = f"[{ip.compressed}]" if ip.version == 6 else ip.compressed
    if port is not None:
        netloc = f"{netloc}:{port}"
    return f"{parts.scheme.lower()}://{netloc}"


def public_address(request=None) -> PublicAddress:
    """The portal's public base URL and where it came from (see the module docstring)."""
    from .services import venue_settings

    chosen = venue_settings().public_url
    if chosen:
        return PublicAddress(chosen.rstrip("/"), SETTINGS)
    if settings.PUBLIC_URL:
        return PublicAddress(settings.PUBLIC_URL.rstrip("/"), ENVIRONMENT)
    if request is not None:
        return PublicAddress(request.build_absolute_uri("/").rstrip("/"), REQUEST)
    host = settings.HTTP_ADDR
    if host.startswith("0.0.0.0:"):
        host = "127.0.0.1:" + host.split(":", 1)[1]
    return PublicAddress(f"http://{host}", LISTEN)


def public_url(request=None) -> str:
    """The portal's public base URL, e.g. ``"http://10.0.0.1:8000"`` (no trailing slash)."""
    return public_address(request).url
