"""Who the server answers to, and what pages may run (Host check, Content-Security-Policy).

Host names: Ficha answers to localhost, this machine's own names and addresses, the public
address (``FICHA_PUBLIC_URL`` and the venue's *public address* setting, read live so a change
in the console needs no restart) and the names in ``FICHA_ALLOWED_HOSTS``. Any other
``Host`` — ``evil.example`` pointing at the shop's address — gets a 400: pages, printed QR
codes and password-reset links are never built on a name a stranger chose.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.utils.translation import gettext as _

from .middleware import refuse

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}
_ip_cache: dict[str, tuple[float, bool]] = {}
_IP_TTL = 60.0  # seconds: addresses that come and go (DHCP) are seen within a minute


def host_of(url: str) -> str:
    """The host name of a URL ('' if none), lower case, without port or brackets."""
    try:
        host = urlsplit(url.strip()).hostname or ""
    except ValueError:
        return ""
    return host.lower().rstrip(".")


def _is_own_address(ip: str) -> bool:
    """True when ``ip`` is one of this machine's addresses: binding to it succeeds only
    then (no packet is sent, no name is resolved)."""
    now = time.monotonic()
    cached = _ip_cache.get(ip)
    if cached and now - cached[0] < _IP_TTL:
        return cached[1]
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if addr.is_loopback:
        own = True
    elif addr.is_multicast or addr.is_unspecified:
        own = False
    else:
        family = socket.AF_INET6 if addr.version == 6 else socket.AF_INET
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as s:
                s.bind((ip, 0))
            own = True
        except OSError:
            own = False
    if len(_ip_cache) > 1000:  # a flood of made-up addresses does not grow memory
        _ip_cache.clear()
    _ip_cache[ip] = (now, own)
    return own


def static_hosts() -> list[str]:
    """Names accepted without looking anything up (Django host patterns: '.example.com'
    also accepts its subdomains, '*' accepts everything)."""
    names = set(_LOOPBACK_NAMES)
    hostname = socket.gethostname().lower().rstrip(".")
    if hostname:
        names |= {hostname, hostname.split(".")[0], f"{hostname.split('.')[0]}.local"}
    if settings.PUBLIC_URL:
        names.add(host_of(settings.PUBLIC_URL))
    names.update(h.lower() for h in settings.EXTRA_ALLOWED_HOSTS)
    # Django's own list minus its wildcard (the test client's 'testserver' lands there).
    names.update(h.lower() for h in settings.ALLOWED_HOSTS if h != "*")
    names.discard("")
    return sorted(names)


def venue_host() -> str:
    """The host of the public address the owner set in the console (live, cached 5 s)."""
    try:
        from .services import venue_settings

        return host_of(venue_settings().public_url or "")
    except Exception:  # no database yet (first start, migrations): nothing set
        return ""


def host_allowed(domain: str) -> bool:
    domain = domain.lower().rstrip(".")
    if not domain:
        return False
    patterns = static_hosts()
    if validate_host(domain, patterns):
        return True
    literal = domain[1:-1] if domain.startswith("[") and domain.endswith("]") else domain
    try:
        ipaddress.ip_address(literal)
    except ValueError:
        pass
    else:
        if _is_own_address(literal):
            return True
    vh = venue_host()
    return bool(vh) and validate_host(domain, [vh])


class HostMiddleware:
    """400 for a request whose Host is none of this shop's names (see the module doc)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        host = request.get_host()  # malformed names are refused by Django (400)
        domain, _port = split_domain_port(host)
        if not host_allowed(domain):
            message = _(
                "This server does not answer to the name “%(host)s”. Use its own address, "
                "or add the name to FICHA_ALLOWED_HOSTS or the public address in Settings."
            ) % {"host": domain[:100]}
            # the door's own format: the API's JSON error under /api/, a page elsewhere
            return refuse(request, 400, _("Unknown address"), message, "unknown_host")
        return self.get_response(request)


class ContentSecurityPolicyMiddleware:
    """Send ``settings.CONTENT_SECURITY_POLICY`` with every response that has no policy of
    its own: scripts and styles from this server's files only (no inline script, no inline
    event handler, no eval), nothing framed, forms posted only here."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        policy = settings.CONTENT_SECURITY_POLICY
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy
        return response
