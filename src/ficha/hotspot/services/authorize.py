"""Access decisions: who is accepted, for how long and how much data, with which
attributes per gateway."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass, field

from django.contrib.auth.hashers import make_password
from django.db import connection
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ficha.accounts import services as accounts
from ficha.accounts.models import Customer, username_key
from ficha.core import clock, codes, rows, throttle
from ficha.core.db import pipeline, prepared
from ficha.core.money import Money
from ficha.core.services import currency as venue_currency
from ficha.core.services import venue_settings
from ficha.ledger import services as ledger
from ficha.ledger.models import Account
from ficha.recharges import services as recharges
from ficha.tariffs import pricing

from ..models import (
    HotspotAccount,
    HotspotSession,
    LoginTicket,
    Nas,
    Plan,
)
from . import mac_login
from .base import (
    MIKROTIK_MAX_TIMEOUT,
    MIN_INTERIM,
    THROTTLE_SCOPE,
    least,
)
from .plans import (
    pass_period,
    plan_for,
)
from .radius_class import _class_value

log = logging.getLogger("ficha.hotspot")


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


def _language(nas: Nas, customer: Customer | None = None) -> str:
    """The language of a reply: the customer's (the one they last used the portal in),
    else the NAS's, else the venue's. Only pass ``customer`` once the request proved to be
    theirs: a reply in their language must not tell a guesser the account exists."""
    if customer is not None and customer.language:
        return customer.language
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
    the customer's language once they proved who they are, else the NAS's or venue's)
    an Access-Request."""
    with translation.override(_language(nas)):
        return _authorize(nas, req, their_language=True)


def authorize_many(items: list[tuple[Nas, AuthRequest]]) -> list[Decision | Exception]:
    """:func:`authorize` for a batch the RADIUS door collected: one decision per item, in
    order, or the exception that item raised — one bad item never fails the others.

    The common login — a known account proving one of its login tickets — is decided
    for the whole batch at once (:func:`_authorize_batch`: on PostgreSQL one statement
    reads every account, balance and ticket, one statement uses the tickets); anything
    else (passwords, codes, MAC logins, a ticket a parallel request used first) takes
    :func:`authorize`, one by one, with the same rules."""
    out: list[Decision | Exception | None] = [None] * len(items)
    try:
        _authorize_batch(items, out)
    except Exception:  # noqa: BLE001 - the batch read failed: every item on its own
        log.exception("hotspot: batch authorization failed; one by one")
    for i, (nas, req) in enumerate(items):
        if out[i] is not None:
            continue
        try:
            out[i] = authorize(nas, req)
        except Exception as exc:  # noqa: BLE001 - handed back to the door, per item
            out[i] = exc
    return out


_BATCH_SQL: dict[str, str] = {}


def _batch_sql() -> str:
    """PostgreSQL: :func:`_login_sql` for many (username key, MAC) pairs at once, with
    each account's five newest usable tickets ("id:secret") as an array."""
    sql = _BATCH_SQL.get(connection.vendor)
    if sql is None:
        q = connection.ops.quote_name
        c, a, h, s, t = (q(m._meta.db_table) for m in (Customer, Account, HotspotAccount,
                                                        HotspotSession, LoginTicket))
        credit = f"{c}.{q('credit_account_id')}"
        sql = _BATCH_SQL[connection.vendor] = (
            f"SELECT {rows.columns(Customer)}, "
            f"{ledger.spendable_sql(credit)}, "
            f"(SELECT COUNT(DISTINCT o.{q('mac')}) FROM {s} o "
            f"WHERE o.{q('customer_id')} = {c}.{q('id')} AND o.{q('status')} = %s "
            f"AND NOT (o.{q('mac')} = r.m)), "
            f"{a}.{q('kind')}, {h}.{q('id')}, {h}.{q('plan_id')}, {h}.{q('first_login_at')}, "
            f"r.i, ARRAY(SELECT x.{q('id')}::text || ':' || x.{q('secret')} FROM {t} x "
            f"WHERE x.{q('customer_id')} = {c}.{q('id')} AND x.{q('used_at')} IS NULL "
            f"AND x.{q('expires_at')} > %s ORDER BY x.{q('created_at')} DESC LIMIT 5) "
            # each account LATERAL ... LIMIT 1 through the unique index: the plan the
            # connection keeps (generic_plans) never reads the customers whole
            f"FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS r(k, m, i) "
            f"CROSS JOIN LATERAL (SELECT * FROM {c} WHERE {c}.{q('username_key')} = r.k "
            f"LIMIT 1) AS {c} "
            f"INNER JOIN {a} ON {a}.{q('id')} = {c}.{q('credit_account_id')} "
            f"LEFT OUTER JOIN {h} ON {h}.{q('customer_id')} = {c}.{q('id')}")
    return sql


def _authorize_batch(items: list[tuple[Nas, AuthRequest]], out: list) -> None:
    """Decide, into ``out``, the items that prove a login ticket of a known account
    (PostgreSQL; elsewhere every item is left to :func:`authorize`)."""
    if connection.vendor != "postgresql" or len(items) < 2:
        return
    wanted: list[int] = []
    keys: list[str] = []
    macs: list[str] = []
    for i, (_nas, req) in enumerate(items):
        username = (req.username or "").strip()
        if not username or len(username) > 150 or (req.password is None and not req.is_chap):
            continue
        if len(username) >= 12 and mac_login.mac_of(username) is not None:
            continue  # perhaps a returning device: authorize() decides
        wanted.append(i)
        keys.append(username_key(username))
        macs.append(normalize_mac(req.mac) if req.mac else "")
    if not wanted:
        return
    now = clock.now()
    db_now = connection.ops.adapt_datetimefield_value(now)
    claimed: dict[int, tuple[int, Customer, str]] = {}  # ticket id -> (item, customer, mac)
    # One pipelined transaction on plans made once per connection (the statements find
    # each account and ticket through unique indexes): the read, then the tickets' use
    # travelling with COMMIT, its answer read once committed.
    with prepared.cursor() as using:
        with pipeline.atomic(generic_plans=True):
            found = rows.read(Customer, _batch_sql(),
                              [HotspotSession.Status.OPEN, db_now, keys, macs], extra=8)
            for customer, *extra in found:
                index, tickets = extra[6] - 1, extra[7]
                _customer_state(customer, extra[:6])
                i = wanted[index]
                nas, req = items[i]
                username = (req.username or "").strip()
                if not (customer.has_password or customer.pin
                        or not _looks_like_code(username)):
                    continue  # a code that is also an account name: authorize() decides
                for ticket in tickets or ():
                    pk, _sep, secret = ticket.partition(":")
                    if req.matches(secret):
                        if int(pk) not in claimed:  # one ticket proves one request
                            claimed[int(pk)] = (i, customer, macs[index])
                        break
            if claimed:
                _use_tickets(using, list(claimed), db_now)
        used = [row[0] for row in using.fetchall()] if claimed else []
    if not used:
        return
    by_language: dict[str, list[int]] = {}  # one translation.override per language
    for pk in used:
        i, customer, _mac = claimed[pk]
        by_language.setdefault(_language(items[i][0], customer), []).append(pk)
    for language, pks in by_language.items():
        with translation.override(language):
            for pk in pks:
                i, customer, mac = claimed[pk]
                try:
                    out[i] = _grant(items[i][0], customer, mac)
                except Exception as exc:  # noqa: BLE001 - this item only
                    out[i] = exc


def _use_tickets(cursor, pks: list[int], db_now) -> None:
    """Use these tickets (once: a parallel request loses); ``cursor`` then returns the ids
    this statement used."""
    t = connection.ops.quote_name(LoginTicket._meta.db_table)
    cursor.execute(f"UPDATE {t} SET used_at = %s WHERE id = ANY(%s) AND used_at IS NULL "
                   "RETURNING id", [db_now, pks])


def _looks_like_code(text: str) -> bool:
    digits = codes.normalize(text)
    return bool(digits) and len(digits) >= 6 and all(
        ch.isdigit() or ch in " -" for ch in text.strip())


def _authorize(nas: Nas, req: AuthRequest, *, their_language: bool = False) -> Decision:
    """The decision; ``their_language``: a refusal after the request proved to be the
    customer's speaks their language (else the active one: a portal page's)."""
    grant = _grant_in_their_language if their_language else _grant
    username = (req.username or "").strip()
    mac = normalize_mac(req.mac) if req.mac else ""
    if not username or len(username) > 150:
        return _reject("input", _("Enter your username and password, or a recharge code."))
    returning = mac_login.returning_customer(username, mac)  # a device known by its MAC
    if returning is not None:
        return grant(nas, returning, mac)
    customer = _find_customer(username, mac)
    if customer is not None and (customer.has_password or customer.pin
                                 or not _looks_like_code(username)):
        customer, reason = _check_customer(customer, username, req, mac)
        if customer is None:
            return _reject(reason, _("Wrong username or password.") if reason == "password"
                           else reason_text(reason))
    elif _looks_like_code(username):
        # A recharge code alone: the code is the secret (PAP or CHAP), or no password.
        code = codes.normalize(username)
        if customer is not None and _use_ticket(customer, req):
            # The captive portal already redeemed the code and gave the gateway a ticket.
            return grant(nas, customer, mac)
        if not (req.matches(username) or req.matches(code) or req.matches("")):
            return _reject("password", _("Wrong username or password."))
        # The NAS is always named (attempt log, alarm's sources); with a MAC its throttle
        # key is a loose one (Source.keys), so one guesser cannot lock the hotspot out.
        source = recharges.Source(mac=mac or None, door="hotspot",
                                  station=f"nas:{nas.name}"[:64])
        try:
            redemption = recharges.redeem_for_login(code, source=source)
        except recharges.RechargeError as exc:
            return _reject(f"code:{exc.reason}", exc.message)
        customer = redemption.customer
    else:
        # Same work and the same throttling as a password check: no oracle on usernames.
        _customer, reason = _check_customer(None, username, req, mac)
        return _reject(reason, reason_text(reason))
    return grant(nas, customer, mac)


_LOGIN_SQL: dict[str, str] = {}


def _login_sql() -> str:
    """The statement :func:`_find_customer` runs, written out once per database vendor."""
    sql = _LOGIN_SQL.get(connection.vendor)
    if sql is None:
        q = connection.ops.quote_name
        c, a, h, s = (q(m._meta.db_table) for m in (Customer, Account, HotspotAccount,
                                                     HotspotSession))
        credit = f"{c}.{q('credit_account_id')}"
        sql = _LOGIN_SQL[connection.vendor] = (
            f"SELECT {rows.columns(Customer)}, "
            f"{ledger.spendable_sql(credit)}, "
            f"(SELECT COUNT(DISTINCT o.{q('mac')}) FROM {s} o "
            f"WHERE o.{q('customer_id')} = {c}.{q('id')} AND o.{q('status')} = %s "
            f"AND NOT (o.{q('mac')} = %s)), "
            f"{a}.{q('kind')}, {h}.{q('id')}, {h}.{q('plan_id')}, {h}.{q('first_login_at')} "
            f"FROM {c} INNER JOIN {a} ON {a}.{q('id')} = {c}.{q('credit_account_id')} "
            f"LEFT OUTER JOIN {h} ON {h}.{q('customer_id')} = {c}.{q('id')} "
            f"WHERE {c}.{q('username_key')} = %s")
    return sql


def _find_customer(username: str, mac: str) -> Customer | None:
    """The customer, with what an accepted login reads — hotspot state, credit balance, the
    other devices online — in one written-out statement (it runs on every login)."""
    found = rows.read(Customer, _login_sql(),
                      [HotspotSession.Status.OPEN, mac, username_key(username)], extra=6)
    if not found:
        return None
    customer, *extra = found[0]
    return _customer_state(customer, extra)


def _customer_state(customer: Customer, extra) -> Customer:
    """Attach what the login statement read with the customer (spendable credit, other
    devices online, hotspot state)."""
    credit_sum, others, _kind, hotspot_id, plan_id, first_login = extra
    # a customer's credit account is a liability: spendable_sql's default sign
    customer.hotspot_balance = int(credit_sum or 0)
    customer.hotspot_others = int(others or 0)
    hotspot = None
    if hotspot_id is not None:
        convert = getattr(connection.ops, "convert_datetimefield_value", None)
        if convert is not None and first_login is not None:  # SQLite: text
            first_login = convert(first_login, None, connection)
        hotspot = HotspotAccount.from_db(
            connection.alias, ["id", "customer_id", "plan_id", "first_login_at"],
            [hotspot_id, customer.pk, plan_id, first_login])
    customer.hotspot_state = hotspot
    return customer


def _hotspot_of(customer: Customer) -> HotspotAccount | None:
    if hasattr(customer, "hotspot_state"):  # read with the customer by _find_customer
        return customer.hotspot_state
    return HotspotAccount.objects.filter(customer=customer).select_related("plan").first()


def reason_text(reason: str) -> str:
    if reason.startswith("throttled:"):
        seconds = int(reason.split(":", 1)[1])
        return ngettext("Too many attempts. Wait %(n)d second and try again.",
                        "Too many attempts. Wait %(n)d seconds and try again.", seconds
                        ) % {"n": seconds}
    if reason == "chap":
        return _("Log in on the Wi-Fi's login page, or with a recharge code: a password "
                 "sent this way cannot be checked.")
    return _("Wrong username or password.")


def _check_customer(customer: Customer | None, username: str, req: AuthRequest, mac: str
                    ) -> tuple[Customer | None, str]:
    """The customer if the request proves a login ticket (PAP or CHAP) or their password
    (PAP); password checks are throttled per MAC and per account name like the portal's
    login (unknown names too, so guessing names costs the same).

    A ticket is tried first: it is a one-time random secret the portal issued after its
    own (throttled) login, so a right one needs neither a throttle claim nor the password
    hash (which costs tens of milliseconds of CPU by design); a wrong one falls through
    to the throttled password check like any other guess."""
    if customer is not None and _use_ticket(customer, req):
        return customer, ""
    if customer is not None and _recently_verified(customer, req):
        return customer, ""  # this very password passed the hash moments ago
    if req.is_chap:
        # No password can be checked against CHAP (none is stored readable): not a
        # guess, so not counted (a gateway set to CHAP with its own login page would
        # otherwise lock its password customers out); the same answer for every name.
        return None, "chap"
    keys = [f"account:{username_key(username)}"[:128]]
    if mac:
        keys.insert(0, f"mac:{mac}")
    wait = throttle.claim(THROTTLE_SCOPE, keys)
    if wait:
        return None, f"throttled:{wait}"
    if customer is None:
        make_password(req.password or "")  # same work either way
        return None, "password"
    ok = not req.is_chap and req.password is not None and customer.check_password(
        req.password)
    if not ok:
        return None, "password"
    throttle.forgive(THROTTLE_SCOPE, keys)
    _remember_verified(customer, req)
    return customer, ""


# Verified passwords (PAP), remembered per process for VERIFIED_SECONDS so a gateway's
# re-authentication does not pay the Argon2 hash (tens of ms of CPU, by design) again.
# The key is (account, its current password hash, HMAC-SHA256 of the password under a
# random key that lives in this process's memory only): nothing stored can be turned
# back into the password, a changed password (new hash) never matches an old entry,
# only successes are remembered (a wrong guess always costs the throttled hash), and a
# disabled account is still refused by _grant.
VERIFIED_SECONDS = 60.0
_VERIFIED_KEY = secrets.token_bytes(32)
_verified: dict[tuple[int, str, bytes], float] = {}


def _verified_key(customer: Customer, req: AuthRequest) -> tuple[int, str, bytes] | None:
    if req.is_chap or req.password is None or not customer.password:
        return None
    digest = hmac.new(_VERIFIED_KEY, req.password.encode("utf-8", "surrogatepass"),
                      hashlib.sha256).digest()
    return (customer.pk, customer.password, digest)


def _recently_verified(customer: Customer, req: AuthRequest) -> bool:
    key = _verified_key(customer, req)
    at = _verified.get(key) if key is not None else None
    return at is not None and time.monotonic() - at < VERIFIED_SECONDS


def _remember_verified(customer: Customer, req: AuthRequest) -> None:
    key = _verified_key(customer, req)
    if key is None:
        return
    now = time.monotonic()
    if len(_verified) >= 10_000:
        for old in [k for k, at in list(_verified.items()) if now - at >= VERIFIED_SECONDS]:
            _verified.pop(old, None)
        if len(_verified) >= 10_000:
            _verified.clear()
    _verified[key] = now


def forget_verified() -> None:
    _verified.clear()


_TICKET_SQL: dict[str, tuple[str, str]] = {}


def _ticket_sql() -> tuple[str, str]:
    found = _TICKET_SQL.get(connection.vendor)
    if found is None:
        q = connection.ops.quote_name
        t = q(LoginTicket._meta.db_table)
        found = _TICKET_SQL[connection.vendor] = (
            f"SELECT {q('id')}, {q('secret')} FROM {t} WHERE {q('customer_id')} = %s "
            f"AND {q('used_at')} IS NULL AND {q('expires_at')} > %s "
            f"ORDER BY {q('created_at')} DESC LIMIT 5",
            f"UPDATE {t} SET {q('used_at')} = %s WHERE {q('id')} = %s "
            f"AND {q('used_at')} IS NULL")
    return found


def _use_ticket(customer: Customer, req: AuthRequest) -> bool:
    """Whether the request proves one of the customer's five newest unused, unexpired
    tickets; that ticket is then used (once: a parallel request loses the UPDATE)."""
    select, use = _ticket_sql()
    now = connection.ops.adapt_datetimefield_value(clock.now())
    with connection.cursor() as cursor:
        cursor.execute(select, [customer.pk, now])
        for pk, secret in cursor.fetchall():
            if req.matches(secret):
                cursor.execute(use, [now, pk])
                return cursor.rowcount == 1
    return False


def _grant_in_their_language(nas: Nas, customer: Customer, mac: str) -> Decision:
    """:func:`_grant`, a refusal in the customer's language (see :func:`_language`): for
    the RADIUS door, whose Reply-Message the gateway's page shows them."""
    language = _language(nas, customer)
    if language == translation.get_language():
        return _grant(nas, customer, mac)
    with translation.override(language):
        return _grant(nas, customer, mac)


def _grant(nas: Nas, customer: Customer, mac: str) -> Decision:
    if not customer.is_active:
        return _reject("disabled", _("This account is disabled; please ask at the counter."),
                       customer=customer)
    hotspot = _hotspot_of(customer)
    plan = plan_for(customer, hotspot, cached=True)
    if plan is None:
        return _reject("plan", _("Wi-Fi is not available for this account; please ask at "
                                 "the counter."), customer=customer)
    now = clock.now()
    balance = getattr(customer, "hotspot_balance", None)  # read by _find_customer
    if balance is None:
        balance = accounts.available(customer)
    period = pass_period(plan, hotspot, customer.pk, balance, now)
    if period.expired:
        return _reject("expired", _("Your pass has expired: enter a recharge code."),
                       customer=customer, plan=plan)
    valid_until = period.valid_until
    others = getattr(customer, "hotspot_others", None)  # read by _find_customer
    if others is None:
        others = (HotspotSession.objects.filter(customer=customer,
                                                status=HotspotSession.Status.OPEN)
                  .exclude(mac=mac).values("mac").distinct().count())
    if others >= plan.devices:
        return _reject("devices", ngettext(
            "This account is already online on %(n)d device; log out there first.",
            "This account is already online on %(n)d devices; log out there first.",
            plan.devices) % {"n": plan.devices}, customer=customer, plan=plan)
    tariff = plan.tariff_for(period.paid)
    seconds = pricing.seconds_for(tariff, balance)
    octets = pricing.octets_for(tariff, balance) if tariff.charges_data else None
    if seconds == 0 or octets == 0:
        if 0 < balance < tariff.minimum:  # some credit, but less than a session's minimum
            currency = venue_currency()
            return _reject("credit", _(
                "Your credit (%(credit)s) is less than the Wi-Fi's minimum charge "
                "(%(minimum)s): enter a recharge code.")
                % {"credit": Money(balance, currency).format(),
                   "minimum": Money(tariff.minimum, currency).format()},
                customer=customer, plan=plan)
        return _reject("credit", _("Your credit is used up: enter a recharge code."),
                       customer=customer, plan=plan)
    quota = least(plan.quota_bytes, octets)
    if valid_until is not None:
        seconds = least(seconds, int((valid_until - now).total_seconds()))
    if nas.vendor == Nas.Vendor.MIKROTIK:
        seconds = least(seconds, MIKROTIK_MAX_TIMEOUT)
    if plan.validity_seconds and (hotspot is None or hotspot.first_login_at is None
                                  or period.renew):
        # the period starts (again) at this login; a parallel login that started it
        # first wins (the conditional UPDATE)
        if hotspot is None:
            hotspot, _created = HotspotAccount.objects.get_or_create(customer=customer)
        HotspotAccount.objects.filter(
            pk=hotspot.pk, first_login_at=hotspot.first_login_at).update(first_login_at=now)
    attrs = vendor_attributes(nas.vendor, plan, seconds, quota, valid_until)
    attrs.append(("Class", _class_value(customer, plan, max(0, balance))))
    return Decision(True, attrs, "", "accepted", customer, plan, seconds, quota)


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
