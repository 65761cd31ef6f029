"""Captive-portal glue: what each gateway sends the portal and what it wants back.

Pure functions (no database, no requests) so each can be checked against worked examples
(tests/test_hotspot_gateways.py). The portal's thin views (``ficha.portal.hotspot``) call
them; the NAS registry says which gateway addresses the portal may send a browser back to.

- **MikroTik** external login page: the router's ``login.html`` forwards its variables
  (``link-login-only``, ``chap-id``, ``chap-challenge``, ``mac``, ``ip``, ``link-orig``,
  ``error``); ``chap-id`` and ``chap-challenge`` arrive as octal-escaped JavaScript strings
  (``\\371\\015…``). The portal posts back to ``link-login-only``: ``username``,
  ``password`` = hex(MD5(chap-id ‖ secret ‖ chap-challenge)) with CHAP, the secret itself
  with PAP, ``dst``, ``popup``.
- **CoovaChilli** UAM: ``?res=notyet&uamip&uamport&challenge&mac&…&md`` where md is the
  upper-hex MD5 of the URL before ``&md=`` followed by the uamsecret. The browser goes to
  ``http://uamip:uamport/logon?username=U&response=hex(MD5(0x00 ‖ P ‖ K))`` with
  K = MD5(challenge ‖ uamsecret); chilli then sends RADIUS CHAP with CHAP-Challenge = K.
- **openNDS** FAS level 1: ``?fas=`` base64 of ``"k=v, k=v, …"`` with ``hid``; the portal
  authorises the client at ``http://gatewayaddress/opennds_auth/?tok=rhid&redir=…`` with
  rhid = sha256hex(hid ‖ faskey). Why level 1: see docs/hotspot.md.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from urllib.parse import quote, unquote, urlencode, urlsplit

MAX_URL = 2000
MIKROTIK = "mikrotik"
COOVACHILLI = "coovachilli"
OPENNDS = "opennds"


class GatewayError(ValueError):
    """Parameters from a gateway that cannot be used; the message is for people."""


# --- validation ---------------------------------------------------------------------------
def _printable(text: str) -> bool:
    return not any(ch.isspace() or unicodedata.category(ch)[0] == "C" for ch in text)


def clean_url(value: str | None, *, required: bool = False) -> str:
    """An absolute http(s) URL without credentials or control characters, else "" (or
    GatewayError when ``required``)."""
    value = (value or "").strip()
    ok = (bool(value) and len(value) <= MAX_URL and _printable(value)
          and not any(ch in value for ch in '\\"<>`{}|^\''))
    if ok:
        try:
            parts = urlsplit(value)
            ok = (parts.scheme in ("http", "https") and bool(parts.hostname)
                  and parts.username is None and parts.password is None)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            ok = False
    if ok:
        return value
    if required:
        raise GatewayError("bad_url")
    return ""


def url_host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower().rstrip(".")
    except ValueError:
        return ""


def origin(url: str) -> str:
    """scheme://host[:port] of a cleaned URL (for a Content-Security-Policy form-action)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def host_allowed(host: str, allowed: list[str]) -> bool:
    """Whether ``host`` (a name or an IP) is one of ``allowed`` (names, IPs or networks)."""
    host = (host or "").lower().rstrip(".").strip("[]")
    if not host:
        return False
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    for item in allowed:
        item = item.strip().lower().rstrip(".")
        if not item:
            continue
        if ip is not None:
            try:
                if ip in ipaddress.ip_network(item, strict=False):
                    return True
            except ValueError:
                pass
        elif item == host:
            return True
    return False


def allowed_hosts(portal_hosts: str, nas_address: str) -> list[str]:
    """The hosts a NAS's login URLs may name: its portal hosts, else its address."""
    items = [h.strip() for h in re.split(r"[,\s]+", portal_hosts or "") if h.strip()]
    return items or [nas_address]


_MAC_RE = re.compile(r"^[0-9A-Fa-f]{2}([:-]?[0-9A-Fa-f]{2}){5}$")


def clean_mac(value: str | None) -> str:
    """A MAC in upper case with colons ("AA:BB:CC:00:00:01"), else ""."""
    value = (value or "").strip()
    if not _MAC_RE.match(value):
        return ""
    digits = re.sub(r"[^0-9A-Fa-f]", "", value).upper()
    return ":".join(digits[i:i + 2] for i in range(0, 12, 2))


def clean_ip(value: str | None) -> str:
    try:
        return str(ipaddress.ip_address((value or "").strip()))
    except ValueError:
        return ""


def _short(value: str | None, limit: int = 64) -> str:
    value = (value or "").strip()
    return value[:limit] if _printable(value) else ""


def _message(value: str | None, limit: int = 200) -> str:
    """A gateway's message for the customer (shown escaped): no control characters."""
    value = " ".join((value or "").split())
    return value[:limit] if all(unicodedata.category(ch)[0] != "C" for ch in value) else ""


# --- what a gateway told us ---------------------------------------------------------------
@dataclass
class Gateway:
    """One captive-portal visit: which gateway family, where to hand the customer back."""

    vendor: str
    login_url: str = ""  # MikroTik link-login-only; Chilli http://uamip:uamport/logon
    logout_url: str = ""
    orig_url: str = ""  # where the customer wanted to go
    mac: str = ""
    ip: str = ""
    nas_hint: str = ""  # Chilli nasid / openNDS gatewayname
    chap_id: str = ""  # hex (MikroTik)
    challenge: str = ""  # hex (MikroTik chap-challenge, Chilli challenge)
    hid: str = ""  # openNDS
    error: str = ""  # the gateway's own message (MikroTik error, Chilli res=failed)
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Gateway | None:
        try:
            return cls(**data)
        except TypeError:
            return None

    @property
    def hosts(self) -> list[str]:
        """Hosts this visit would send the browser to (each must be allowed)."""
        return [url_host(u) for u in (self.login_url, self.logout_url) if u]


# --- MikroTik -----------------------------------------------------------------------------
_OCTAL = re.compile(r"\\([0-7]{1,3})|\\(.)|(.)", re.S)


def unescape_mikrotik(text: str) -> bytes:
    """RouterOS's octal-escaped JavaScript string ("\\371\\015ab") → raw bytes."""
    out = bytearray()
    for octal, escaped, plain in _OCTAL.findall(text or ""):
        if octal:
            value = int(octal, 8)
            if value > 0xFF:
                raise GatewayError("bad_chap")
            out.append(value)
        else:
            ch = escaped or plain
            if ord(ch) > 0xFF:
                raise GatewayError("bad_chap")
            out.append(ord(ch))
    return bytes(out)


def chap_password(chap_id: bytes, secret: str, challenge: bytes) -> str:
    """MikroTik http-chap: hex(MD5(chap-id ‖ secret ‖ chap-challenge))."""
    return hashlib.md5(chap_id + secret.encode() + challenge).hexdigest()


def parse_mikrotik(params) -> Gateway:
    """The variables a MikroTik login.html forwards (a QueryDict or a dict)."""
    login_url = clean_url(params.get("link-login-only"), required=True)
    chap_id = chap_challenge = b""
    if params.get("chap-id") or params.get("chap-challenge"):
        chap_id = unescape_mikrotik(params.get("chap-id", ""))
        chap_challenge = unescape_mikrotik(params.get("chap-challenge", ""))
        if len(chap_id) != 1 or not 1 <= len(chap_challenge) <= 64:
            raise GatewayError("bad_chap")
    return Gateway(
        vendor=MIKROTIK, login_url=login_url,
        logout_url=clean_url(params.get("link-logout")),
        orig_url=clean_url(params.get("link-orig")),
        mac=clean_mac(params.get("mac")), ip=clean_ip(params.get("ip")),
        nas_hint=_short(params.get("server-name")),
        chap_id=chap_id.hex(), challenge=chap_challenge.hex(),
        error=_message(params.get("error")))


def mikrotik_form(gw: Gateway, username: str, secret: str, dst: str = "") -> dict:
    """The fields to post to ``link-login-only``: CHAP when the router sent a challenge,
    else PAP (the secret itself; use PAP only over the hotspot's own LAN)."""
    if gw.chap_id:
        password = chap_password(bytes.fromhex(gw.chap_id), secret,
                                 bytes.fromhex(gw.challenge))
    else:
        password = secret
    fields = {"username": username, "password": password, "popup": "false"}
    if dst:
        fields["dst"] = dst
    return fields


# --- CoovaChilli --------------------------------------------------------------------------
def chilli_md(url_before_md: str, uamsecret: str) -> str:
    """The ``md`` chilli appends: UPPER-hex MD5(URL before "&md=" ‖ uamsecret)."""
    return hashlib.md5((url_before_md + uamsecret).encode()).hexdigest().upper()


def chilli_check_md(full_url: str, uamsecret: str) -> bool:
    """Whether the redirect URL's ``md`` is right (always False without one). Chilli
    signs the whole URL and puts ``md`` last: anything after it was not signed (a link
    with ``&userurl=…`` appended would otherwise pass, its added values read instead of
    the signed ones), so the URL must end with ``md``."""
    before, sep, md = full_url.rpartition("&md=")
    if not sep or not _HEX32.fullmatch(md):
        return False
    return hmac.compare_digest(chilli_md(before, uamsecret), md.upper())


def chilli_key(challenge_hex: str, uamsecret: str) -> bytes:
    """K = MD5(challenge ‖ uamsecret), or the challenge itself without a uamsecret."""
    challenge = bytes.fromhex(challenge_hex)
    if not uamsecret:
        return challenge
    return hashlib.md5(challenge + uamsecret.encode()).digest()


def chilli_response(secret: str, challenge_hex: str, uamsecret: str) -> str:
    """CHAP logon: hex(MD5(0x00 ‖ password ‖ K))."""
    return hashlib.md5(b"\x00" + secret.encode() + chilli_key(challenge_hex, uamsecret)
                       ).hexdigest()


def chilli_pap_password(secret: str, challenge_hex: str, uamsecret: str) -> str:
    """PAP logon: hex(password ⊕ K repeated), the password padded to 16 bytes with NULs."""
    key = chilli_key(challenge_hex, uamsecret)
    data = secret.encode()
    data += b"\x00" * ((-len(data) % 16) or (0 if data else 16))
    return bytes(b ^ key[i % len(key)] for i, b in enumerate(data)).hex()


_HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")


def parse_chilli(params) -> Gateway:
    """A CoovaChilli UAM redirect (its ``md`` is checked with :func:`chilli_check_md` once
    the NAS, hence the uamsecret, is known)."""
    uamip = clean_ip(params.get("uamip"))
    try:
        uamport = int(params.get("uamport") or "3990")
    except ValueError:
        uamport = 0
    if not uamip or not 1 <= uamport <= 65535:
        raise GatewayError("bad_url")
    challenge = (params.get("challenge") or "").strip()
    res = (params.get("res") or "").strip()
    if res not in ("notyet", "already", "success", "failed", "logoff", "popup1", "popup2",
                   "popup3", ""):
        raise GatewayError("bad_res")
    if res in ("notyet", "failed", "") and not _HEX32.match(challenge):
        raise GatewayError("bad_chap")
    host = f"[{uamip}]" if ":" in uamip else uamip
    base = f"http://{host}:{uamport}"
    return Gateway(
        vendor=COOVACHILLI, login_url=f"{base}/logon", logout_url=f"{base}/logoff",
        orig_url=clean_url(params.get("userurl")), mac=clean_mac(params.get("mac")),
        ip=clean_ip(params.get("ip")), nas_hint=_short(params.get("nasid")),
        challenge=challenge.lower() if _HEX32.match(challenge) else "",
        error=_message(params.get("reply")), extra={"res": res})


def chilli_logon_url(gw: Gateway, username: str, secret: str, uamsecret: str,
                     userurl: str = "") -> str:
    """Where to send the browser to log in at chilli (CHAP, computed here: the stock
    ChilliLibrary.js breaks with a uamsecret)."""
    query = {"username": username,
             "response": chilli_response(secret, gw.challenge, uamsecret)}
    if userurl:
        query["userurl"] = userurl
    return f"{gw.login_url}?{urlencode(query, quote_via=quote)}"


# --- openNDS ------------------------------------------------------------------------------
_FAS_KEYS = ("hid", "clientip", "clientmac", "gatewayname", "gatewayaddress", "originurl",
             "gatewayurl", "clientif", "client_type", "cpi_query", "version", "tok")


def fas_decode(fas: str) -> dict[str, str]:
    """openNDS FAS level 1: base64 of "hid=…, clientip=…, …" → a dict."""
    # openNDS puts standard base64 in the query unescaped: a "+" arrives as a space
    text = (fas or "").strip().replace(" ", "+")
    if not text or len(text) > 4 * MAX_URL:
        raise GatewayError("bad_fas")
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=False)
        decoded = raw.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise GatewayError("bad_fas") from None
    out: dict[str, str] = {}
    for item in decoded.split(", "):
        key, sep, value = item.partition("=")
        key = key.strip()
        if sep and key in _FAS_KEYS and key not in out:
            out[key] = value.strip()
    if not re.fullmatch(r"[0-9a-f]{64}", out.get("hid", "")):
        raise GatewayError("bad_fas")
    return out


def fas_rhid(hid: str, faskey: str) -> str:
    """What openNDS expects back: sha256hex(hid ‖ faskey)."""
    return hashlib.sha256((hid + faskey).encode()).hexdigest()


_HOSTPORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253})(:[0-9]{1,5})?")


def parse_opennds(params) -> Gateway:
    fields = fas_decode(params.get("fas", ""))
    address = (fields.get("gatewayaddress") or "").strip()
    if not _HOSTPORT.fullmatch(address):
        raise GatewayError("bad_url")
    gateway_url = clean_url(f"http://{address}/", required=True)
    if not gateway_url:
        raise GatewayError("bad_url")
    base = gateway_url.rstrip("/")
    return Gateway(
        vendor=OPENNDS, login_url=f"{base}/opennds_auth/",
        logout_url=f"{base}/opennds_deny/",
        # openNDS URL-encodes the page the phone asked for inside the FAS string
        orig_url=clean_url(unquote(fields.get("originurl") or "")),
        mac=clean_mac(fields.get("clientmac")),
        ip=clean_ip(fields.get("clientip")), nas_hint=_short(fields.get("gatewayname")),
        hid=fields["hid"])


def opennds_auth_url(gw: Gateway, faskey: str, redir: str = "", custom: str = "") -> str:
    """openNDS's auth link; ``custom`` reaches its BinAuth script (per-client limits)."""
    query = {"tok": fas_rhid(gw.hid, faskey)}
    if redir:
        query["redir"] = redir
    if custom:
        query["custom"] = custom
    return f"{gw.login_url}?{urlencode(query, quote_via=quote)}"


# --- dispatch -----------------------------------------------------------------------------
def parse(vendor: str, params) -> Gateway:
    """What the gateway of ``vendor`` put in its redirect; GatewayError(reason) if unusable."""
    if vendor == MIKROTIK:
        return parse_mikrotik(params)
    if vendor == COOVACHILLI:
        return parse_chilli(params)
    if vendor == OPENNDS:
        return parse_opennds(params)
    raise GatewayError("vendor")
