"""What the captive portal asks of the hotspot: which registered gateway sent a customer,
how much time and data they have left, and a recharge while connected."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from ficha.accounts import services as accounts
from ficha.accounts.models import Customer
from ficha.core import clock
from ficha.recharges import services as recharges
from ficha.tariffs import pricing

from .. import gateways
from ..models import HotspotAccount, HotspotSession, Nas, Plan
from . import coa
from .authorize import normalize_mac
from .base import least
from .plans import pass_period, plan_for

log = logging.getLogger(__name__)


def portal_nas(gw: gateways.Gateway) -> Nas | None:
    """The active NAS of the gateway's vendor whose login-page addresses allow every
    address the visit would send the browser to; None if no registered gateway does
    (then the portal sends the browser nowhere). A name the gateway gave (server-name,
    nasid, gatewayname) picks among several matches."""
    matches = []
    for nas in Nas.objects.filter(active=True, vendor=gw.vendor):
        allowed = gateways.allowed_hosts(nas.portal_hosts, nas.address)
        if gw.hosts and all(gateways.host_allowed(h, allowed) for h in gw.hosts):
            matches.append(nas)
    if len(matches) > 1 and gw.nas_hint:
        named = [n for n in matches if n.name == gw.nas_hint]
        if named:
            return named[0]
    return matches[0] if matches else None


@dataclass(frozen=True)
class Status:
    """A customer's Wi-Fi at a glance: None for time or data means "no limit"."""

    balance: int
    plan: Plan | None
    session: HotspotSession | None
    remaining_seconds: int | None
    remaining_bytes: int | None
    valid_until: dt.datetime | None
    # A gateway that takes no CoA (openNDS) ends the session here, whatever credit is
    # added meanwhile: that credit is for the next login.
    granted_until: dt.datetime | None = None

    @property
    def online(self) -> bool:
        return self.session is not None

    @property
    def used_up(self) -> bool:
        return self.plan is None or self.remaining_seconds == 0 or self.remaining_bytes == 0


def this_device(open_sessions: list[HotspotSession], mac: str) -> HotspotSession | None:
    """The open session of the device with ``mac``: the one with that MAC, else one the
    gateway reported no MAC for; never another device's (a phone the router refused is
    not online because the account is, elsewhere). Without a MAC, the newest."""
    wanted = gateways.clean_mac(mac).lower() if mac else ""
    if not wanted:
        return open_sessions[0] if open_sessions else None
    return (next((s for s in open_sessions if s.mac.lower() == wanted), None)
            or next((s for s in open_sessions if not s.mac), None))


def status(customer: Customer, mac: str = "") -> Status:
    """Time and data left for ``customer``. Online: the live session's limits as the
    gateway is told them (``coa.limits``: the credit the session already spent counted
    back in, from the session's start) minus what it used; ``mac`` picks this device's
    session when several are open. Offline: what the credit buys now, capped by the
    plan's validity and quota, as an Access-Accept would say."""
    balance = accounts.available(customer)  # less what live calls hold
    hotspot = HotspotAccount.objects.filter(customer=customer).select_related("plan").first()
    plan = plan_for(customer, hotspot)
    open_sessions = list(HotspotSession.objects.filter(
        customer=customer, status=HotspotSession.Status.OPEN).order_by("-started_at"))
    session = this_device(open_sessions, mac)
    if plan is None:
        return Status(balance, None, session, 0, 0, None)
    now = clock.now()
    valid_until = plan.valid_until(hotspot.first_login_at if hotspot is not None else None)
    if session is not None:
        # What the gateway was (or will be, by CoA) told, from the session's start.
        lim = coa.limits(session, now, balance)
        if lim.ended:
            return Status(balance, plan, session, 0, 0, valid_until)
        elapsed = coa._elapsed(session, now)
        seconds = None if lim.timeout is None else max(0, lim.timeout - elapsed)
        data = None if lim.quota is None else max(0, lim.quota - session.octets)
        if session.granted_until is not None:
            left = max(0, int((session.granted_until - now).total_seconds()))
            seconds = left if seconds is None else min(seconds, left)
        return Status(balance, plan, session, seconds, data, valid_until,
                      session.granted_until)
    # Not online: what the credit buys now, as an Access-Accept would say (a pass whose
    # period is over starts a new one at the next login if the credit pays for it).
    period = pass_period(plan, hotspot, customer.pk, balance, now)
    if period.expired:
        return Status(balance, plan, session, 0, 0, period.valid_until)
    money = max(0, balance)
    tariff = plan.tariff_for(period.paid)
    seconds = pricing.seconds_for(tariff, money)
    data = pricing.octets_for(tariff, money) if tariff.charges_data else None
    data = least(plan.quota_bytes, data)
    valid_until = None if period.renew else valid_until  # a new period starts at login
    if period.valid_until is not None:
        seconds = least(seconds, max(0, int((period.valid_until - now).total_seconds())))
    return Status(balance, plan, session, seconds, data, valid_until)


def redeem_connected(code: str, *, customer: Customer, nas: Nas | None, mac: str = "",
                     ip: str | None = None, actor=None):
    """Redeem a code for a customer on the Wi-Fi (door ``hotspot``, the source naming the
    device's MAC and the NAS), then tell the hotspot the credit changed so a live session
    gets its new Session-Timeout by CoA. Returns the Redemption; RechargeError as
    ``recharges.redeem`` raises it."""
    source = recharges.Source(ip=ip or None, mac=normalize_mac(mac) if mac else None,
                              station=f"nas:{nas.name}"[:64] if nas is not None else None,
                              account=customer.username, door="hotspot")
    redemption = recharges.redeem(code, customer=customer, source=source, actor=actor)
    notify_credit_changed(customer)
    return redemption


def notify_credit_changed(customer: Customer) -> None:
    """Call ``credit_changed`` (CoA for live sessions) when the hotspot has it; a failure
    there never undoes a redemption (the next Access-Request or interim sees the credit)."""
    from ficha.hotspot import services as hotspot

    changed = getattr(hotspot, "credit_changed", None)
    if changed is None:
        return
    try:
        changed(customer)
    except Exception:  # the credit is booked; the CoA is a courtesy to the live session
        log.exception("credit_changed failed for customer %s", customer.pk)
