"""Every hotspot decision as a plain function: who is accepted, for how long and how much
data, with which attributes per gateway, and what an accounting record debits.

Nothing here knows about UDP: ``ficha radiusd`` (and later FreeRADIUS' rlm_rest endpoints)
decode a packet into an :class:`AuthRequest` or :class:`AcctRequest`, call
:func:`authorize` or :func:`account`, and encode what they return.

Money: the price of time and data comes from ``ficha.tariffs``; usage is charged
cumulatively per session (``charge(total usage)``, rounded once) and the difference to
what the ledger already took is debited — never more than the customer's balance, so a
balance never goes below zero through hotspot use; what could not be taken stays visible
as the session's unpaid amount and is taken as soon as credit is there again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass, field

from django.contrib.auth.hashers import make_password
from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ficha.accounts import services as accounts
from ficha.accounts.models import Customer, username_key
from ficha.core import audit, clock, codes, throttle
from ficha.core.services import venue_settings
from ficha.ledger import services as ledger
from ficha.ledger.models import Account
from ficha.recharges import services as recharges
from ficha.tariffs import pricing

from .models import (
    AccountingRecord,
    HotspotAccount,
    HotspotSession,
    LoginTicket,
    Nas,
    Plan,
    UnknownSource,
    parse_network,
)

MIKROTIK_MAX_TIMEOUT = 21474720  # RouterOS refuses a longer Session-Timeout
MIN_INTERIM = 60  # RFC 2869: Acct-Interim-Interval not below 60 s
THROTTLE_SCOPE = "hotspot_login"
TICKET_SECONDS = 120
CLASS_PREFIX = "ficha1:"
_class_signer = signing.Signer(salt="ficha.hotspot.class")


class HotspotError(ValueError):
    """A hotspot setting that cannot be saved; the message is for people."""


# --- NAS registry -------------------------------------------------------------------------
@dataclass(frozen=True)
class NasEntry:
    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    nas: Nas


def nas_table() -> list[NasEntry]:
    """Active NAS, the most specific network first (an address beats a /24 holding it)."""
    rows = []
    for nas in Nas.objects.filter(active=True):
        try:
            rows.append(NasEntry(parse_network(nas.address), nas))
        except Exception:
            continue
    rows.sort(key=lambda e: -e.network.prefixlen)
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
        if out["address"].endswith(("/32", "/128")):
            out["address"] = out["address"].rsplit("/", 1)[0]
    if "secret" in out:
        secret = str(out["secret"])
        if not 8 <= len(secret) <= 128:
            raise HotspotError(_("The shared secret must have 8 to 128 characters."))
    if "vendor" in out and out["vendor"] not in Nas.Vendor.values:
        raise HotspotError(_("Unknown vendor profile."))
    if "coa_port" in out and not 1 <= int(out["coa_port"]) <= 65535:
        raise HotspotError(_("A port is a number from 1 to 65535."))
    return out


def create_nas(actor: audit.Actor, **fields) -> Nas:
    fields = _clean_nas(fields)
    if Nas.objects.filter(name=fields.get("name", "")).exists():
        raise HotspotError(_("A NAS with this name exists already."))
    nas = Nas.objects.create(**fields)
    audit.record(actor, "hotspot.nas.create", nas,
                 after={k: v for k, v in fields.items() if k != "secret"},
                 summary=_("NAS %(name)s added") % {"name": nas.name})
    return nas


def update_nas(actor: audit.Actor, nas: Nas, **fields) -> Nas:
    fields = _clean_nas(fields)
    if "name" in fields and Nas.objects.filter(name=fields["name"]).exclude(
            pk=nas.pk).exists():
        raise HotspotError(_("A NAS with this name exists already."))
    for key, value in fields.items():
        setattr(nas, key, value)
    nas.save(update_fields=list(fields))
    audit.record(actor, "hotspot.nas.update", nas,
                 after={k: v for k, v in fields.items() if k != "secret"},
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


# --- plans --------------------------------------------------------------------------------
_PLAN_INTS = ("price_per_hour", "price_per_mb", "minimum_charge", "increment_seconds",
              "interim_interval", "devices")
_PLAN_OPTIONAL = ("rate_up_kbps", "rate_down_kbps", "quota_bytes", "idle_timeout",
                  "validity_seconds")


def _clean_plan(fields: dict) -> dict:
    out = dict(fields)
    if "name" in out:
        out["name"] = str(out["name"]).strip()[:64]
        if not out["name"]:
            raise HotspotError(_("Give the plan a name."))
    for key in _PLAN_INTS + _PLAN_OPTIONAL:
        if key in out:
            value = out[key]
            if value is None and key in _PLAN_OPTIONAL:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise HotspotError(_("%(field)s must be a whole number, zero or more.")
                                   % {"field": Plan._meta.get_field(key).verbose_name})
    if out.get("interim_interval") is not None and out["interim_interval"] < MIN_INTERIM:
        raise HotspotError(_("The interim interval must be at least %(n)d seconds.")
                           % {"n": MIN_INTERIM})
    if "devices" in out and out["devices"] < 1:
        raise HotspotError(_("Allow at least one device."))
    try:
        pricing.Tariff(price_per_hour=out.get("price_per_hour", 0),
                       price_per_mb=out.get("price_per_mb", 0),
                       minimum=out.get("minimum_charge", 0),
                       increment=out.get("increment_seconds", 60))
    except pricing.TariffError as exc:
        raise HotspotError(str(exc)) from None
    return out


def create_plan(actor: audit.Actor, **fields) -> Plan:
    fields = _clean_plan(fields)
    if Plan.objects.filter(name=fields.get("name", "")).exists():
        raise HotspotError(_("A plan with this name exists already."))
    with transaction.atomic():
        if fields.get("is_default"):
            Plan.objects.filter(is_default=True).update(is_default=False)
        plan = Plan.objects.create(**fields)
    audit.record(actor, "hotspot.plan.create", plan, after=fields,
                 summary=_("Hotspot plan %(name)s added") % {"name": plan.name})
    return plan


def update_plan(actor: audit.Actor, plan: Plan, **fields) -> Plan:
    merged = {f: getattr(plan, f) for f in _PLAN_INTS}
    merged.update(fields)
    cleaned = _clean_plan(merged)
    fields = {k: cleaned[k] for k in fields}
    if "name" in fields and Plan.objects.filter(name=fields["name"]).exclude(
            pk=plan.pk).exists():
        raise HotspotError(_("A plan with this name exists already."))
    with transaction.atomic():
        if fields.get("is_default"):
            Plan.objects.filter(is_default=True).exclude(pk=plan.pk).update(is_default=False)
        for key, value in fields.items():
            setattr(plan, key, value)
        plan.save(update_fields=list(fields))
    audit.record(actor, "hotspot.plan.update", plan, after=fields,
                 summary=_("Hotspot plan %(name)s changed") % {"name": plan.name})
    return plan


def set_customer_plan(actor: audit.Actor, customer: Customer, plan: Plan | None):
    """Give one account its own plan (None: back to its price group's)."""
    HotspotAccount.objects.update_or_create(customer=customer, defaults={"plan": plan})
    audit.record(actor, "hotspot.customer_plan", customer,
                 after={"plan": plan.pk if plan else None},
                 summary=_("Hotspot plan of %(name)s set to %(plan)s")
                 % {"name": customer.username, "plan": plan.name if plan else "—"})


def plan_for(customer: Customer, hotspot: HotspotAccount | None = None) -> Plan | None:
    """The account's own plan, else its price group's, else the default plan."""
    if hotspot is not None and hotspot.plan_id:
        return hotspot.plan
    group = customer.custom_group if customer.price_group == "custom" else customer.price_group
    plans = list(Plan.objects.filter(price_group__in=[group, ""]).order_by("-is_default", "pk"))
    for plan in plans:
        if plan.price_group and plan.price_group == group:
            return plan
    for plan in plans:
        if plan.is_default:
            return plan
    return Plan.objects.filter(is_default=True).first()


# --- login tickets (CHAP without stored passwords) -----------------------------------------
def issue_ticket(customer: Customer) -> LoginTicket:
    """A one-time secret the captive portal gives the gateway (as the password) after it
    authenticated the customer itself; valid for :data:`TICKET_SECONDS`, once."""
    now = clock.now()
    return LoginTicket.objects.create(
        customer=customer, secret=secrets.token_hex(8), created_at=now,
        expires_at=now + dt.timedelta(seconds=TICKET_SECONDS))


# --- authorization -------------------------------------------------------------------------
@dataclass(frozen=True)
class AuthRequest:
    username: str
    password: str | None = None  # PAP, decrypted
    chap_id: int | None = None
    chap_response: bytes | None = None  # 16 bytes
    chap_challenge: bytes | None = None
    mac: str = ""  # Calling-Station-Id
    called: str = ""  # Called-Station-Id

    @property
    def is_chap(self) -> bool:
        return self.chap_response is not None

    def matches(self, secret: str) -> bool:
        """Whether this request proves knowledge of ``secret`` (PAP or CHAP-MD5)."""
        if self.is_chap:
            if self.chap_id is None or self.chap_challenge is None:
                return False
            digest = hashlib.md5(bytes([self.chap_id & 0xFF]) + secret.encode()
                                 + self.chap_challenge).digest()
            return hmac.compare_digest(digest, self.chap_response or b"")
        if self.password is None:
            return False
        return hmac.compare_digest(self.password.encode(), secret.encode())


@dataclass
class Decision:
    accept: bool
    attributes: list[tuple[str, object]] = field(default_factory=list)
    message: str = ""  # Reply-Message
    reason: str = ""  # accepted / credit / password / code:<reason> / ...
    customer: Customer | None = None
    plan: Plan | None = None
    session_timeout: int | None = None
    quota: int | None = None


def normalize_mac(mac: str) -> str:
    hexdigits = "".join(ch for ch in str(mac) if ch in "0123456789abcdefABCDEF")
    if len(hexdigits) != 12:
        return str(mac).strip()[:32].lower()
    return ":".join(hexdigits[i:i + 2] for i in range(0, 12, 2)).lower()


def _language(nas: Nas) -> str:
    if nas.language:
        return nas.language
    try:
        return venue_settings().language or "en"
    except Exception:
        return translation.get_language() or "en"


def _reject(reason: str, message: str, **kw) -> Decision:
    return Decision(False, [("Reply-Message", message)], message, reason, **kw)


def authorize(nas: Nas, req: AuthRequest) -> Decision:
    """Accept (with attributes for ``nas``'s vendor) or reject (with a Reply-Message in
    the NAS's or venue's language) an Access-Request."""
    with translation.override(_language(nas)):
        return _authorize(nas, req)


def _looks_like_code(text: str) -> bool:
    digits = codes.normalize(text)
    return bool(digits) and len(digits) >= 6 and all(
        ch.isdigit() or ch in " -" for ch in text.strip())


def _authorize(nas: Nas, req: AuthRequest) -> Decision:
    username = (req.username or "").strip()
    mac = normalize_mac(req.mac) if req.mac else ""
    if not username or len(username) > 150:
        return _reject("input", _("Enter your username and password, or a recharge code."))
    customer = accounts.find_customer(username)
    if customer is not None and (customer.has_password or customer.pin
                                 or not _looks_like_code(username)):
        customer, reason = _check_customer(customer, username, req, mac)
        if customer is None:
            return _reject(reason, _("Wrong username or password.") if reason == "password"
                           else reason_text(reason))
    elif _looks_like_code(username):
        # A recharge code alone: the code is the secret (PAP or CHAP), or no password.
        code = codes.normalize(username)
        if not (req.matches(username) or req.matches(code) or req.matches("")):
            return _reject("password", _("Wrong username or password."))
        source = recharges.Source(mac=mac or None, door="hotspot",
                                  station=None if mac else f"nas:{nas.name}"[:64])
        try:
            redemption = recharges.redeem_for_login(code, source=source)
        except recharges.RechargeError as exc:
            return _reject(f"code:{exc.reason}", exc.message)
        customer = redemption.customer
    else:
        # Same work and the same throttling as a password check: no oracle on usernames.
        _customer, reason = _check_customer(None, username, req, mac)
        return _reject(reason, reason_text(reason))
    return _grant(nas, customer, mac)


def reason_text(reason: str) -> str:
    if reason.startswith("throttled:"):
        seconds = int(reason.split(":", 1)[1])
        return ngettext("Too many attempts. Wait %(n)d second and try again.",
                        "Too many attempts. Wait %(n)d seconds and try again.", seconds
                        ) % {"n": seconds}
    return _("Wrong username or password.")


def _check_customer(customer: Customer | None, username: str, req: AuthRequest, mac: str
                    ) -> tuple[Customer | None, str]:
    """The customer if the request proves their password (PAP) or a login ticket (PAP or
    CHAP); throttled per MAC and per account name like the portal's login (unknown names
    too, so guessing names costs the same)."""
    keys = [f"account:{username_key(username)}"[:128]]
    if mac:
        keys.insert(0, f"mac:{mac}")
    wait = throttle.claim(THROTTLE_SCOPE, keys)
    if wait:
        return None, f"throttled:{wait}"
    if customer is None:
        make_password(req.password or "")  # same work either way
        return None, "password"
    if not req.is_chap and req.password is not None and customer.check_password(req.password):
        ok = True
    else:
        ok = _use_ticket(customer, req)
    if not ok:
        return None, "password"
    throttle.forgive(THROTTLE_SCOPE, keys)
    return customer, ""


def _use_ticket(customer: Customer, req: AuthRequest) -> bool:
    now = clock.now()
    tickets = LoginTicket.objects.filter(customer=customer, used_at__isnull=True,
                                         expires_at__gt=now).order_by("-created_at")[:5]
    for ticket in tickets:
        if req.matches(ticket.secret):
            return LoginTicket.objects.filter(pk=ticket.pk, used_at__isnull=True).update(
                used_at=now) == 1
    return False


def _class_value(customer: Customer, plan: Plan) -> str:
    return CLASS_PREFIX + _class_signer.sign(f"{customer.pk}.{plan.pk}")


def parse_class(value) -> tuple[int, int] | None:
    """(customer id, plan id) from a Class we issued, or None (forged or foreign)."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str) or not value.startswith(CLASS_PREFIX):
        return None
    try:
        customer_id, plan_id = _class_signer.unsign(value[len(CLASS_PREFIX):]).split(".")
        return int(customer_id), int(plan_id)
    except (signing.BadSignature, ValueError):
        return None


def _grant(nas: Nas, customer: Customer, mac: str) -> Decision:
    if not customer.is_active:
        return _reject("disabled", _("This account is disabled; please ask at the counter."),
                       customer=customer)
    hotspot = HotspotAccount.objects.filter(customer=customer).select_related("plan").first()
    plan = plan_for(customer, hotspot)
    if plan is None:
        return _reject("plan", _("Wi-Fi is not available for this account; please ask at "
                                 "the counter."), customer=customer)
    now = clock.now()
    valid_until = None
    if plan.validity_seconds:
        first = hotspot.first_login_at if hotspot is not None else None
        valid_until = (first or now) + dt.timedelta(seconds=plan.validity_seconds)
        if valid_until <= now:
            return _reject("expired", _("Your pass has expired: enter a recharge code."),
                           customer=customer, plan=plan)
    others = (HotspotSession.objects.filter(customer=customer,
                                            status=HotspotSession.Status.OPEN)
              .exclude(mac=mac).values("mac").distinct().count())
    if others >= plan.devices:
        return _reject("devices", ngettext(
            "This account is already online on %(n)d device; log out there first.",
            "This account is already online on %(n)d devices; log out there first.",
            plan.devices) % {"n": plan.devices}, customer=customer, plan=plan)
    balance = accounts.balance(customer)
    tariff = plan.tariff
    seconds = pricing.seconds_for(tariff, balance)
    octets = pricing.octets_for(tariff, balance) if tariff.charges_data else None
    if seconds == 0 or octets == 0:
        return _reject("credit", _("Your credit is used up: enter a recharge code."),
                       customer=customer, plan=plan)
    quota = _least(plan.quota_bytes, octets)
    if valid_until is not None:
        seconds = _least(seconds, int((valid_until - now).total_seconds()))
    if nas.vendor == Nas.Vendor.MIKROTIK:
        seconds = _least(seconds, MIKROTIK_MAX_TIMEOUT)
    if plan.validity_seconds and (hotspot is None or hotspot.first_login_at is None):
        if hotspot is None:
            hotspot, _created = HotspotAccount.objects.get_or_create(customer=customer)
        HotspotAccount.objects.filter(pk=hotspot.pk, first_login_at__isnull=True).update(
            first_login_at=now)
    attrs = vendor_attributes(nas.vendor, plan, seconds, quota, valid_until)
    attrs.append(("Class", _class_value(customer, plan)))
    return Decision(True, attrs, "", "accepted", customer, plan, seconds, quota)


def _least(*values):
    present = [v for v in values if v is not None]
    return min(present) if present else None


def vendor_attributes(vendor: str, plan: Plan, seconds: int | None, quota: int | None,
                      valid_until: dt.datetime | None) -> list[tuple[str, object]]:
    """The reply attributes one gateway family understands (names from our dictionaries)."""
    attrs: list[tuple[str, object]] = []
    if seconds is not None:
        attrs.append(("Session-Timeout", seconds))
    if plan.idle_timeout:
        attrs.append(("Idle-Timeout", plan.idle_timeout))
    attrs.append(("Acct-Interim-Interval", max(MIN_INTERIM, plan.interim_interval)))
    up = plan.rate_up_kbps or 0
    down = plan.rate_down_kbps or 0
    if vendor == Nas.Vendor.MIKROTIK:
        if up or down:
            # "rx/tx" from the router's side: rx is what the client uploads.
            attrs.append(("Mikrotik-Rate-Limit", f"{up}k/{down}k"))
        if quota is not None:
            attrs.append(("Mikrotik-Total-Limit", quota & 0xFFFFFFFF))
            if quota >> 32:
                attrs.append(("Mikrotik-Total-Limit-Gigawords", quota >> 32))
        return attrs
    if up:
        attrs.append(("WISPr-Bandwidth-Max-Up", up * 1000))
    if down:
        attrs.append(("WISPr-Bandwidth-Max-Down", down * 1000))
    if vendor == Nas.Vendor.COOVACHILLI and quota is not None:
        attrs.append(("ChilliSpot-Max-Total-Octets", quota & 0xFFFFFFFF))
        if quota >> 32:
            attrs.append(("ChilliSpot-Max-Total-Gigawords", quota >> 32))
    if valid_until is not None and vendor in (Nas.Vendor.COOVACHILLI, Nas.Vendor.GENERIC):
        attrs.append(("WISPr-Session-Terminate-Time",
                      valid_until.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")))
    return attrs


# --- accounting ----------------------------------------------------------------------------
START, INTERIM, STOP, ACCOUNTING_ON, ACCOUNTING_OFF = "start", "interim", "stop", "on", "off"


@dataclass(frozen=True)
class AcctRequest:
    status: str  # start / interim / stop / on / off
    session_id: str = ""
    unique_id: str = ""
    username: str = ""
    mac: str = ""
    called: str = ""
    framed_ip: str | None = None
    session_time: int = 0
    input_octets: int = 0
    input_gigawords: int = 0
    output_octets: int = 0
    output_gigawords: int = 0
    terminate_cause: str = ""
    klass: bytes | str | None = None  # the Class we gave in the Access-Accept


@dataclass
class AcctResult:
    session: HotspotSession | None
    record: AccountingRecord | None
    debit: int = 0
    duplicate: bool = False
    closed: int = 0  # sessions closed by Accounting-On/Off


class AccountingError(ValueError):
    pass


def _counter(octets: int, gigawords: int) -> int:
    return (max(0, int(gigawords)) << 32) + max(0, int(octets))


def account(nas: Nas, req: AcctRequest) -> AcctResult:
    """Record one Accounting-Request and debit the usage it adds, exactly once.

    Counters are cumulative, so the session keeps the highest seen; a retransmitted or
    duplicated record (same session, kind and counters) is recognised by a unique
    constraint and changes nothing; an older record arriving late adds nothing.
    """
    if req.status in (ACCOUNTING_ON, ACCOUNTING_OFF):
        return AcctResult(None, None, closed=_close_nas_sessions(nas, req.status))
    if req.status not in (START, INTERIM, STOP):
        raise AccountingError(f"unknown Acct-Status-Type {req.status!r}")
    if not req.session_id:
        raise AccountingError("no Acct-Session-Id")
    key = (req.unique_id or f"{req.session_id}/{req.username}")[:200]
    inp = _counter(req.input_octets, req.input_gigawords)
    out = _counter(req.output_octets, req.output_gigawords)
    if nas.vendor == Nas.Vendor.COOVACHILLI:  # chilli counts from its own side
        inp, out = out, inp
    seconds = max(0, int(req.session_time))
    now = clock.now()
    with transaction.atomic():
        session = _session_for_update(nas, key, req, now)
        try:
            with transaction.atomic():
                record = AccountingRecord.objects.create(
                    session=session, kind=req.status, received_at=now, session_time=seconds,
                    input_octets=inp, output_octets=out,
                    terminate_cause=str(req.terminate_cause)[:40])
        except IntegrityError:
            return AcctResult(session, None, 0, duplicate=True)
        session.session_time = max(session.session_time, seconds)
        session.input_octets = max(session.input_octets, inp)
        session.output_octets = max(session.output_octets, out)
        session.updated_at = now
        fields = ["session_time", "input_octets", "output_octets", "updated_at"]
        if req.status == STOP and session.status == HotspotSession.Status.OPEN:
            session.status = HotspotSession.Status.CLOSED
            session.stopped_at = now
            session.terminate_cause = str(req.terminate_cause)[:40]
            fields += ["status", "stopped_at", "terminate_cause"]
        if req.framed_ip and not session.framed_ip:
            session.framed_ip = req.framed_ip
            fields.append("framed_ip")
        debit = 0
        if session.customer_id is not None and session.plan_id is not None:
            tariff = session.plan.tariff
            session.charged = max(session.charged, pricing.charge(
                tariff, session.session_time, session.input_octets + session.output_octets))
            fields.append("charged")
            debit = _debit(session, record)
            if debit:
                fields.append("debited")
        session.save(update_fields=fields)
    return AcctResult(session, record, debit)


def _session_for_update(nas: Nas, key: str, req: AcctRequest, now) -> HotspotSession:
    qs = HotspotSession.objects.select_for_update(of=("self",)).select_related("plan")
    session = qs.filter(nas=nas, session_key=key).first()
    if session is not None:
        return session
    customer, plan = _owner(req)
    try:
        with transaction.atomic():
            return HotspotSession.objects.create(
                nas=nas, session_key=key, acct_session_id=req.session_id[:100],
                username=req.username[:150], customer=customer, plan=plan,
                mac=normalize_mac(req.mac) if req.mac else "", called_station=req.called[:100],
                framed_ip=_ip_or_none(req.framed_ip), started_at=now, updated_at=now)
    except IntegrityError:  # a parallel record created it
        return qs.get(nas=nas, session_key=key)


def _ip_or_none(text) -> str | None:
    try:
        return str(ipaddress.ip_address(str(text))) if text else None
    except ValueError:
        return None


def _owner(req: AcctRequest) -> tuple[Customer | None, Plan | None]:
    """Whose usage this is: from the Class of our Access-Accept, else the User-Name."""
    ids = parse_class(req.klass) if req.klass else None
    if ids is not None:
        customer = Customer.objects.filter(pk=ids[0]).first()
        plan = Plan.objects.filter(pk=ids[1]).first()
        if customer is not None:
            if plan is None:
                plan = plan_for(customer, HotspotAccount.objects.filter(
                    customer=customer).first())
            return customer, plan
    customer = accounts.find_customer(req.username) if req.username else None
    if customer is None and req.username and _looks_like_code(req.username):
        customer = accounts.find_customer(codes.normalize(req.username))
    if customer is None:
        return None, None
    return customer, plan_for(customer, HotspotAccount.objects.filter(
        customer=customer).first())


def _debit(session: HotspotSession, record: AccountingRecord) -> int:
    """Take what the session owes, as far as the balance goes (customer row locked)."""
    owed = session.charged - session.debited
    if owed <= 0:
        return 0
    customer = Customer.objects.only("pk", "credit_account_id", "username").get(
        pk=session.customer_id)
    # the lock every balance change takes (accounts.adjust does the same)
    Account.objects.select_for_update().filter(pk=customer.credit_account_id).first()
    available = accounts.balance(customer)
    debit = min(owed, max(0, available))
    if debit <= 0:
        return 0
    tx = ledger.post(
        "hotspot.usage",
        [(customer.credit_account_id, debit), (ledger.REVENUE_HOTSPOT, -debit)],
        actor=audit.Actor(source="hotspot", label=f"customer {customer.username}"),
        reference=f"hotspot:{session.pk}", memo=f"Wi-Fi {session.acct_session_id}"[:255])
    session.debited += debit
    AccountingRecord.objects.filter(pk=record.pk).update(debit=debit, transaction=tx)
    record.debit, record.transaction = debit, tx
    return debit


def _close_nas_sessions(nas: Nas, why: str) -> int:
    """Accounting-On/Off: the NAS (re)started, none of its sessions survive."""
    return HotspotSession.objects.filter(nas=nas, status=HotspotSession.Status.OPEN).update(
        status=HotspotSession.Status.STALE, stopped_at=clock.now(),
        terminate_cause=f"NAS-Accounting-{why.title()}")


def close_stale_sessions() -> int:
    """Worker job: close open sessions that sent nothing for three interim intervals (at
    least 10 minutes): their NAS forgot them or the Stop was lost. The usage up to their
    last record is already debited."""
    now = clock.now()
    done = 0
    candidates = (HotspotSession.objects.filter(
        status=HotspotSession.Status.OPEN, updated_at__lt=now - dt.timedelta(minutes=10))
        .select_related("plan").only("pk", "updated_at", "plan__interim_interval"))
    for session in candidates[:1000]:
        interval = session.plan.interim_interval if session.plan else 300
        if session.updated_at > now - dt.timedelta(seconds=max(600, 3 * interval)):
            continue
        done += HotspotSession.objects.filter(
            pk=session.pk, status=HotspotSession.Status.OPEN,
            updated_at=session.updated_at,
        ).update(status=HotspotSession.Status.STALE, stopped_at=now,
                 terminate_cause="Stale")
    return done


# --- what the console shows ---------------------------------------------------------------
@dataclass
class Overview:
    nas: list[Nas]
    unknown: list[UnknownSource]
    plans: list[Plan]
    sessions: list[HotspotSession]


def overview(session_limit: int = 200) -> Overview:
    """Gateways (with their drop counters), unknown senders, plans and open sessions."""
    return Overview(
        nas=list(Nas.objects.all()),
        unknown=list(UnknownSource.objects.all()[:20]),
        plans=list(Plan.objects.all()),
        sessions=open_sessions(session_limit),
    )


def open_sessions(limit: int = 200) -> list[HotspotSession]:
    return list(HotspotSession.objects.filter(status=HotspotSession.Status.OPEN)
                .select_related("nas", "customer", "plan").order_by("-started_at")[:limit])
