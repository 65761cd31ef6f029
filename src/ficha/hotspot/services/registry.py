"""The NAS registry: gateways Ficha answers, and the packets it dropped."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _

from ficha.core import audit, clock

from ..models import (
    Nas,
    UnknownSource,
    parse_network,
)
from .base import (
    HotspotError,
)

_HOST_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?")


def _without_port(host: str) -> str:
    """"10.0.0.1:2050" → "10.0.0.1"; "[fe80::1]:80" → "fe80::1"; others as they are."""
    if host.startswith("[") and "]" in host:
        return host[1:host.index("]")]
    name, sep, port = host.rpartition(":")
    return name if sep and port.isdigit() and name.count(":") == 0 else host


def _is_network(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


# --- NAS registry -------------------------------------------------------------------------
@dataclass(frozen=True)
class NasEntry:
    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    nas: Nas


def nas_table() -> list[NasEntry]:
    """Active NAS, the most specific network first (an address beats a /24 holding it).

    Two active NAS never have the same network (``_refuse_same_address``); should older
    data hold such a pair, the older NAS (lower id) wins, every time."""
    rows = []
    for nas in Nas.objects.filter(active=True):
        try:
            rows.append(NasEntry(parse_network(nas.address), nas))
        except Exception:
            continue
    rows.sort(key=lambda e: (-e.network.prefixlen, e.nas.pk))
    return rows


def find_nas(table: list[NasEntry], address: str) -> Nas | None:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if getattr(ip, "ipv4_mapped", None):
        ip = ip.ipv4_mapped
    for entry in table:
        if ip.version == entry.network.version and ip in entry.network:
            return entry.nas
    return None


_SECRETS = ("secret", "uam_secret", "fas_key")  # never written to the audit log
MIN_PORTAL_KEY = 12  # characters of a UAM secret or a FAS key, at least
WIDEST = {4: 8, 6: 32}  # the shortest prefix a NAS network may have (a /8, a /32)


def _clean_nas(fields: dict) -> dict:
    out = dict(fields)
    if "name" in out:
        out["name"] = str(out["name"]).strip()[:64]
        if not out["name"]:
            raise HotspotError(_("Give the NAS a name."))
    if "address" in out:
        try:
            out["address"] = str(parse_network(out["address"]))
        except Exception as exc:
            raise HotspotError(str(getattr(exc, "message", exc))) from None
        network = parse_network(out["address"])
        mapped = getattr(network.network_address, "ipv4_mapped", None)
        if mapped is not None and network.prefixlen >= 96:
            # "::ffff:192.0.2.1": packets come from the IPv4 address (the server reads
            # mapped senders as IPv4), so the NAS is stored as that
            network = ipaddress.ip_network(f"{mapped}/{network.prefixlen - 96}")
            out["address"] = str(network)
        if network.prefixlen < WIDEST[network.version]:
            # 0.0.0.0/0 would let any address on the Internet ask with this secret
            raise HotspotError(errors={"address": _(
                "This network is too wide: any address in it could send requests with this "
                "secret. Give the gateway's address or its network (for example "
                "192.168.88.0/24).")})
        if network.prefixlen == network.max_prefixlen:  # one address (an IPv6 /32 is not)
            out["address"] = str(network.network_address)
    if "secret" in out:
        secret = str(out["secret"])
        if not 8 <= len(secret) <= 128:
            raise HotspotError(_("The shared secret must have 8 to 128 characters."))
    if "vendor" in out and out["vendor"] not in Nas.Vendor.values:
        raise HotspotError(_("Unknown vendor profile."))
    for key in ("portal_hosts", "uam_secret", "fas_key"):
        if key in out:
            out[key] = str(out[key] or "").strip()
            if len(out[key]) > (255 if key == "portal_hosts" else 128):
                raise HotspotError(_("This value is too long."))
    for key in ("uam_secret", "fas_key"):
        # a phone sees values signed with them (CoovaChilli's md, openNDS's rhid): a short
        # one could be found by trying keys offline
        if out.get(key) and len(out[key]) < MIN_PORTAL_KEY:
            raise HotspotError(errors={key: _(
                "The UAM secret and the FAS key have %(n)d characters or more: phones see "
                "values signed with them, and a short one can be guessed.")
                % {"n": MIN_PORTAL_KEY}})
    if out.get("portal_hosts"):
        # "192.168.8.1:2050", as openNDS sends its gatewayaddress: the port is not the host's
        hosts = [_without_port(h) for h in out["portal_hosts"].replace(",", " ").split()]
        for host in hosts:
            if not (_is_network(host) or _HOST_RE.fullmatch(host)):
                raise HotspotError(_("“%(host)s” is not an address, a network or a host "
                                     "name.") % {"host": host[:64]})
        out["portal_hosts"] = ", ".join(hosts)
    if "language" in out:  # "" = the venue's language
        out["language"] = str(out["language"] or "").strip()
        if out["language"] and out["language"] not in dict(settings.LANGUAGES):
            raise HotspotError(errors={"language": _("Unsupported language.")})
    if "coa_port" in out and not 1 <= int(out["coa_port"]) <= 65535:
        raise HotspotError(_("A port is a number from 1 to 65535."))
    if "coa_address" in out:
        text = str(out["coa_address"] or "").strip()
        try:
            out["coa_address"] = str(ipaddress.ip_address(text)) if text else None
        except ValueError:
            raise HotspotError(_("The CoA/Disconnect address must be one IP address."
                                 )) from None
    return out


def _refuse_same_address(address: str, active: bool, nas: Nas | None = None) -> None:
    """Refuse an active NAS whose network is another active NAS's: RADIUS packets from
    there would go to one of them only, and the other's would fail as a wrong secret.

    Networks are compared, not texts: "127.0.0.1" is "127.0.0.1/32", "10.0.0.5/24" is
    "10.0.0.0/24". Overlapping networks of different sizes are allowed (a /24 and an
    address in it): the most specific one answers (``nas_table``). An inactive NAS
    answers nothing, so it may share an address (a gateway replaced by a new one);
    making it active again is refused while the other is active."""
    if not active:
        return
    try:
        network = parse_network(address)
    except ValidationError:
        return  # no network (e.g. a shell call without an address): nothing to clash with
    own = nas.pk if nas is not None else None
    for entry in nas_table():  # the active NAS as RADIUS matches them, older first
        if entry.network == network and entry.nas.pk != own:
            raise HotspotError(errors={"address": _(
                "The NAS “%(name)s” already has the address %(address)s: each active NAS "
                "needs its own address or network.") % {"name": entry.nas.name,
                                                        "address": entry.nas.address}})


def create_nas(actor: audit.Actor, **fields) -> Nas:
    fields = _clean_nas(fields)
    with transaction.atomic():
        if Nas.objects.filter(name=fields.get("name", "")).exists():
            raise HotspotError(_("A NAS with this name exists already."))
        _refuse_same_address(fields.get("address", ""), fields.get("active", True))
        nas = Nas.objects.create(**fields)
        audit.record(actor, "hotspot.nas.create", nas,
                     after={k: v for k, v in fields.items() if k not in _SECRETS},
                     summary=_("NAS %(name)s added") % {"name": nas.name})
    return nas


def update_nas(actor: audit.Actor, nas: Nas, **fields) -> Nas:
    fields = _clean_nas(fields)
    with transaction.atomic():
        if "name" in fields and Nas.objects.filter(name=fields["name"]).exclude(
                pk=nas.pk).exists():
            raise HotspotError(_("A NAS with this name exists already."))
        if "address" in fields or "active" in fields:
            _refuse_same_address(fields.get("address", nas.address),
                                 fields.get("active", nas.active), nas)
        nas.refresh_from_db(from_queryset=Nas.objects.select_for_update())
        before, after = audit.changes(nas, fields, hidden=_SECRETS)
        for key, value in fields.items():
            setattr(nas, key, value)
        nas.save(update_fields=list(fields))
        audit.record(actor, "hotspot.nas.update", nas, before=before, after=after,
                     summary=_("NAS %(name)s changed") % {"name": nas.name})
    return nas


# drop reasons, as counted by the RADIUS server
DROP_UNKNOWN = "unknown"
DROP_BAD_AUTHENTICATOR = "bad_authenticator"
DROP_MISSING_MA = "missing_authenticator"
DROP_MALFORMED = "malformed"
_DROP_FIELDS = {DROP_BAD_AUTHENTICATOR: "dropped_bad_authenticator",
                DROP_MISSING_MA: "dropped_missing_authenticator",
                DROP_MALFORMED: "dropped_malformed"}


def record_drops(per_nas: dict[int, dict[str, int]], unknown: dict[str, int],
                 seen: dict[int, dt.datetime] | None = None) -> int:
    """Add the dropped-packet counts the RADIUS server gathered in memory, and when each
    NAS last sent a packet it answered (``seen``). Returns the number of drops recorded."""
    total = 0
    now = clock.now()
    with transaction.atomic():
        for nas_id, at in (seen or {}).items():
            Nas.objects.filter(pk=nas_id).update(last_packet_at=at)
        for nas_id, reasons in per_nas.items():
            changes = {_DROP_FIELDS[r]: F(_DROP_FIELDS[r]) + n
                       for r, n in reasons.items() if r in _DROP_FIELDS and n}
            if changes:
                Nas.objects.filter(pk=nas_id).update(**changes)
                total += sum(reasons.values())
        for address, n in unknown.items():
            if not n:
                continue
            done = UnknownSource.objects.filter(address=address).update(
                dropped=F("dropped") + n, last_seen_at=now)
            if not done:
                UnknownSource.objects.create(address=address, dropped=n, first_seen_at=now,
                                             last_seen_at=now)
            total += n
    return total
