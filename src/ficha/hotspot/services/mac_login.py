"""MAC login: a returning device is accepted on the account it used before, when that
account's plan allows it (``Plan.mac_login``).

The gateway asks with the device's MAC as User-Name (MikroTik "login-by=mac",
CoovaChilli "macauth", pfSense "MAC authentication") and as Calling-Station-Id. A MAC is
no secret — anyone on the network can copy one — so this is off unless a plan turns it
on, and the device's MAC must be the Calling-Station-Id when the gateway sends one.
"""

from __future__ import annotations

from ficha.accounts.models import Customer

from ..models import HotspotAccount, HotspotSession
from .plans import plan_for

_HEX = frozenset("0123456789abcdefABCDEF")


def mac_of(username: str) -> str | None:
    """The MAC a User-Name spells (aa:bb:cc:dd:ee:ff, AA-BB-…, aabb.ccdd.eeff,
    aabbccddeeff), normalised; None if it spells none."""
    text = username.strip()
    if not 12 <= len(text) <= 17:
        return None
    digits = "".join(ch for ch in text if ch not in ":-.")
    if len(digits) != 12 or not all(ch in _HEX for ch in digits):
        return None
    return ":".join(digits[i:i + 2] for i in range(0, 12, 2)).lower()  # as normalize_mac


def returning_customer(username: str, calling_mac: str) -> Customer | None:
    """The account whose device this is, if its plan lets the device in by MAC
    (``calling_mac``: the normalised Calling-Station-Id, or "")."""
    if len(username) < 12:
        return None  # the common case, decided without work
    mac = mac_of(username)
    if mac is None or (calling_mac and calling_mac != mac):
        return None
    last = (HotspotSession.objects.filter(mac=mac, customer__isnull=False)
            .order_by("-started_at").values_list("customer_id", flat=True).first())
    if last is None:
        return None
    customer = Customer.objects.filter(pk=last).first()
    if customer is None:
        return None
    hotspot = HotspotAccount.objects.filter(customer=customer).select_related("plan").first()
    plan = plan_for(customer, hotspot)
    if plan is None or not plan.mac_login:
        return None
    return customer
