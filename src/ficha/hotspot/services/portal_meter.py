"""Metering for gateways that report no usage (openNDS): the captive portal opens a Ficha
session when it authorises the client, and the worker meters it by wall clock.

openNDS asks no RADIUS server and sends no accounting, so Ficha plays the gateway's part:

* :func:`open_portal_session` — at FAS authorisation the portal records an accounting
  *Start* through :func:`~ficha.hotspot.services.accounting.account` (the same rule as a
  RADIUS gateway's Start) and remembers the end it gave the router (``granted_until``:
  now + the Session-Timeout the credit buys, sent to openNDS's BinAuth in the signed
  ``custom`` string, :func:`binauth_custom`).
* :func:`meter_portal_sessions` (worker job ``hotspot.meter_portal_sessions``) — every
  interim interval, an *Interim-Update* whose session time is the wall-clock time since
  the start, through ``account()``: the debit is the same cumulative charge as for any
  gateway (one rounding per session, never more than the balance). At ``granted_until``
  a *Stop* with exactly the granted time closes the session: the router ends it then.
* :func:`end_portal_session` — the status page's "log out" (or a new login from the same
  device) stops it at the time used.

Data is not metered (openNDS reports none): a plan's data quota is handed to the router
as BinAuth quotas, a price per MB is not charged on openNDS (docs/hotspot.md).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets

from ficha.accounts.models import Customer
from ficha.core import clock

from ..models import HotspotSession, Nas
from .accounting import INTERIM, START, STOP, AcctRequest, AcctResult, account
from .authorize import AuthRequest, Decision, _authorize, normalize_mac
from .radius_class import _class_value
from .registry import find_nas, nas_table

# Gateways whose sessions the portal opens and the worker meters.
METERED_VENDORS = frozenset({Nas.Vendor.OPENNDS})
SESSION_PREFIX = "nds-"
CUSTOM_PREFIX = "ficha1"


def binauth_custom(hid: str, faskey: str, seconds: int | None, *, up_kbps: int = 0,
                   down_kbps: int = 0, quota_bytes: int | None = None) -> str:
    """The ``custom`` string for openNDS's BinAuth: ``ficha1.<seconds>.<up>.<down>.
    <quota kB>.<sig>`` where sig = sha256hex(hid ‖ "." ‖ the fields ‖ "." ‖ faskey).

    Signed like openNDS's own rhid (sha256 of hid and faskey), so the phone, which sees
    the link, cannot lengthen its session: BinAuth computes hid = sha256(token) itself and
    refuses a string whose signature does not match. 0 means "no limit" to openNDS."""
    quota_kb = 0 if quota_bytes is None else max(1, quota_bytes // 1000)
    fields = f"{max(0, seconds or 0)}.{up_kbps or 0}.{down_kbps or 0}.{quota_kb}"
    sig = hashlib.sha256(f"{hid}.{fields}.{faskey}".encode()).hexdigest()
    return f"{CUSTOM_PREFIX}.{fields}.{sig}"


def _request(session: HotspotSession, status: str, seconds: int, cause: str = ""
             ) -> AcctRequest:
    return AcctRequest(status=status, session_id=session.acct_session_id,
                       username=session.username, mac=session.mac,
                       framed_ip=session.framed_ip, session_time=seconds,
                       terminate_cause=cause)


def _seconds(session: HotspotSession, until: dt.datetime) -> int:
    return max(0, int((until - session.started_at).total_seconds()))


def end_portal_session(session: HotspotSession, cause: str = "User-Request",
                       now: dt.datetime | None = None) -> AcctResult | None:
    """Stop a portal-opened session at the time used (never past its grant): the
    accounting Stop a RADIUS gateway would send. None if it is not open."""
    if session.status != HotspotSession.Status.OPEN or session.granted_until is None:
        return None
    now = now or clock.now()
    end = min(now, session.granted_until)
    if end >= session.granted_until and cause == "User-Request":
        cause = "Session-Timeout"
    return account(session.nas, _request(session, STOP, _seconds(session, end), cause))


def portal_login(nas: Nas, customer: Customer, password: str, *, hid: str, mac: str = "",
                 ip: str = "") -> tuple[Decision, HotspotSession | None]:
    """The portal authorises ``customer`` (proved by ``password``, a login ticket) at a
    gateway without RADIUS: the same decision as an Access-Request (credit, plan,
    validity, devices) and, when accepted, the session the worker meters.

    A phone sent to the FAS page is not online at the router: a session of the same
    device still open here (a re-login, e.g. after a recharge) is stopped first at the
    time it used, so the new grant counts on the credit that is really left."""
    mac = normalize_mac(mac) if mac else ""
    now = clock.now()
    if mac:
        for old in HotspotSession.objects.filter(
                nas=nas, customer=customer, mac=mac, status=HotspotSession.Status.OPEN,
                granted_until__isnull=False).select_related("nas"):
            end_portal_session(old, "User-Request", now)
    # ``_authorize``, not ``authorize``: the refusal is shown on the portal's page, in the
    # phone's language (the request's), not the NAS's.
    decision = _authorize(nas, AuthRequest(username=customer.username, password=password,
                                           mac=mac))
    if not decision.accept:
        return decision, None
    return decision, open_portal_session(nas, customer, decision, hid=hid, mac=mac, ip=ip)


def open_portal_session(nas: Nas, customer: Customer, decision: Decision, *, hid: str,
                        mac: str = "", ip: str = "") -> HotspotSession:
    """Open the Ficha session for a client the portal authorises at a gateway without
    accounting (after ``authorize`` accepted it): an accounting Start."""
    mac = normalize_mac(mac) if mac else ""
    now = clock.now()
    session_id = f"{SESSION_PREFIX}{(hid or secrets.token_hex(16))[:24]}"
    if HotspotSession.objects.filter(
            nas=nas, session_key=f"{session_id}/{customer.username}"[:200]).exists():
        session_id = f"{SESSION_PREFIX}{secrets.token_hex(12)}"  # a token seen before
    result = account(nas, AcctRequest(
        status=START, session_id=session_id, username=customer.username, mac=mac,
        framed_ip=ip or None, klass=_class_value(customer, decision.plan)))
    session = result.session
    timeout = decision.session_timeout
    # No time limit (a free plan): metered until log-out, a re-login or the stale job.
    granted = now + dt.timedelta(seconds=timeout if timeout is not None else 10 ** 8)
    HotspotSession.objects.filter(pk=session.pk).update(granted_until=granted,
                                                        updated_at=now)
    session.granted_until = granted
    return session


# A gateway that confirms logins (Nas.confirms_logins_since) has this long to confirm one; a
# session it never confirms (the phone never reached the router's auth link) is stopped
# at no charge.
CONFIRM_WAIT = dt.timedelta(minutes=2)
NOT_CONFIRMED = "Gateway-Never-Let-On"


def meter_portal_sessions(now: dt.datetime | None = None, limit: int = 5000) -> int:
    """Worker job: an Interim-Update by wall clock for each open portal-opened session
    whose interim interval has passed, and a Stop for each whose grant has ended. At a
    gateway that confirms logins, a session waits for its confirmation (no record), and
    one not confirmed within CONFIRM_WAIT is stopped at 0 s. Returns how many records it
    wrote."""
    now = now or clock.now()
    done = 0
    sessions = (HotspotSession.objects.filter(
        status=HotspotSession.Status.OPEN, granted_until__isnull=False,
        nas__vendor__in=METERED_VENDORS).select_related("nas", "plan")
        .order_by("pk")[:limit])
    for session in sessions:
        since = session.nas.confirms_logins_since
        if (since is not None and session.started_at >= since
                and session.gateway_confirmed_at is None):
            if now - session.started_at < CONFIRM_WAIT:
                continue
            result = account(session.nas, _request(session, STOP, 0, NOT_CONFIRMED))
        elif now >= session.granted_until:
            result = end_portal_session(session, "Session-Timeout", now)
        else:
            interval = session.plan.interim_interval if session.plan else 300
            if (now - session.updated_at).total_seconds() < max(60, interval):
                continue
            result = account(session.nas,
                             _request(session, INTERIM, _seconds(session, now)))
        if result is not None and result.record is not None:
            done += 1
    return done


def log_out(customer: Customer, mac: str = "") -> int:
    """The status page's "log out": stop the customer's portal-opened sessions on this
    device (``mac``; every device when the portal does not know it). Returns how many."""
    sessions = HotspotSession.objects.filter(
        customer=customer, status=HotspotSession.Status.OPEN,
        granted_until__isnull=False).select_related("nas")
    if mac:
        sessions = sessions.filter(mac=normalize_mac(mac))
    return sum(1 for s in sessions if end_portal_session(s) is not None)


# openNDS BinAuth methods that end a client's session, and the RFC 2866 cause for each.
ENDED_CAUSES = {
    "client_deauth": "User-Request", "idle_deauth": "Idle-Timeout",
    "timeout_deauth": "Session-Timeout", "downquota_deauth": "Session-Timeout",
    "upquota_deauth": "Session-Timeout", "ndsctl_deauth": "Admin-Reset",
    "shutdown_deauth": "NAS-Reboot",
}


# openNDS BinAuth's method when it lets a client on (the script reports it).
AUTH_CLIENT = "auth_client"


def gateway_authorised(address: str | None, hid: str, signature: str) -> bool:
    """openNDS's BinAuth says it let a client on (``auth_client``, signed as an end
    report with counters 0): the portal session of that ``hid`` is confirmed, and the
    NAS is known to confirm its logins from now on. False when there is nothing to
    confirm (unknown sender or session, bad signature)."""
    session = _reported_session(address, hid)
    if session is None:
        return False
    want = ended_signature(hid, AUTH_CLIENT, 0, 0, session.nas.fas_key)
    if not hmac.compare_digest(want.encode(), (signature or "").encode()):
        return False
    now = clock.now()
    HotspotSession.objects.filter(pk=session.pk, gateway_confirmed_at__isnull=True).update(
        gateway_confirmed_at=now)
    if session.nas.confirms_logins_since is None:  # from the sessions opened from now on
        Nas.objects.filter(pk=session.nas_id, confirms_logins_since__isnull=True).update(
            confirms_logins_since=now)
    return True



def _reported_session(address: str | None, hid: str) -> HotspotSession | None:
    """The open portal-opened session of ``hid`` at the openNDS NAS at ``address``."""
    nas = find_nas(nas_table(), address) if address else None
    if nas is None or not re.fullmatch(r"[0-9a-f]{64}", hid or ""):
        return None
    session = (HotspotSession.objects.filter(
        nas_id=nas.pk, nas__vendor=Nas.Vendor.OPENNDS, granted_until__isnull=False,
        acct_session_id=f"{SESSION_PREFIX}{hid[:24]}", status=HotspotSession.Status.OPEN)
        .select_related("nas").first())
    return session if session is not None and session.nas.fas_key else None


def ended_signature(hid: str, method: str, incoming: int, outgoing: int,
                    faskey: str) -> str:
    """What the BinAuth script signs when it reports a session's end."""
    return hashlib.sha256(f"{hid}.{method}.{incoming}.{outgoing}.{faskey}".encode()
                          ).hexdigest()


def gateway_ended(address: str | None, hid: str, method: str, incoming: int,
                  outgoing: int, signature: str) -> AcctResult | None:
    """openNDS's BinAuth says a client's session ended (deauth, idle, timeout, quota,
    shutdown): the accounting Stop it never sends, at Ficha's clock (never past the
    grant), with the client's byte counters (so a price per MB is charged).

    ``address`` is the sender's; the session is found by ``hid`` among the open
    portal-opened sessions of the openNDS NAS at that address, and the report must be
    signed with that NAS's FAS key. Returns the Stop's result; None when the report is
    not one to act on (unknown method or session, already stopped, bad signature)."""
    cause = ENDED_CAUSES.get(method)
    if cause is None or incoming < 0 or outgoing < 0:
        return None
    session = _reported_session(address, hid)
    if session is None:
        return None
    want = ended_signature(hid, method, incoming, outgoing, session.nas.fas_key)
    if not hmac.compare_digest(want.encode(), (signature or "").encode()):
        return None
    end = min(clock.now(), session.granted_until)
    return account(session.nas, AcctRequest(
        status=STOP, session_id=session.acct_session_id, username=session.username,
        mac=session.mac, framed_ip=session.framed_ip, session_time=_seconds(session, end),
        input_octets=incoming, output_octets=outgoing, terminate_cause=cause))
