"""Words for codes stored in the database (transaction kinds, revenue streams), for the
console, the portal and reports alike."""

from __future__ import annotations

from decimal import Decimal

from django.utils.translation import gettext_lazy as _

from ficha.core.money import format_quantity
from ficha.tariffs.engine import duration_text

KINDS = {
    "deposit": _("Deposit"),
    "refund": _("Refund"),
    "adjustment": _("Adjustment"),
    "shift.open": _("Opening float"),
    "shift.close": _("Cash to safe"),
    "shift.variance": _("Drawer variance"),
    "recharge.sale": _("Recharge sale"),
    "recharge.redeem": _("Recharge redeemed"),
    "recharge.unsell": _("Recharge sale undone"),
    "recharge.void": _("Recharge voided"),
    "recharge.breakage": _("Expired recharges"),
    "callshop.checkout": _("Booth payment"),
    "callshop.call": _("Phone call"),
    "callshop.cdr": _("Phone call (PBX record)"),
    "cafe.usage": _("Café time"),
    "cafe.usage.refund": _("Café time refunded"),
    "cafe.checkout": _("Café payment"),
    "package": _("Time package"),
    "hotspot.usage": _("Wi-Fi usage"),
}

STREAMS = {
    "cafe": _("Café time"),
    "hotspot": _("Hotspot"),
    "calls": _("Calls"),
    "products": _("Products"),
    "breakage": _("Expired recharges (breakage)"),
}


# Who wrote a transaction when no staff member did (``Transaction.source``).
SOURCES = {
    "portal": _("customer portal"),
    "station": _("café PC"),
    "hotspot": _("Wi-Fi gateway"),
    "pbx": _("phone exchange"),
    "cdr": _("call records import"),
    "api": _("API"),
    "cli": _("command line"),
    "worker": _("Ficha (automatic)"),
    "system": _("Ficha (automatic)"),
}


def source_label(source: str) -> str:
    return str(SOURCES.get(source, source))


def kind_label(kind: str) -> str:
    if kind in KINDS:
        return str(KINDS[kind])
    if kind.endswith(".reversal"):
        base = kind[: -len(".reversal")]
        return _("Reversal: %(what)s") % {"what": kind_label(base)}
    return kind


def time_left(seconds) -> str:
    """Time left in whole minutes, never rounded up ("1 h 9 min", "0 min"): what the
    portal tells a customer and the console shows staff."""
    minutes = max(0, int(seconds or 0)) // 60
    return duration_text(minutes * 60) if minutes else str(_("%(n)d min") % {"n": 0})


def data_left(octets) -> str:
    """Data left rounded down to a tenth of its unit, as the language writes numbers
    ("1.2 GB", "487.9 MB", "0.9 MB", "950 bytes"): what the portal and the console both
    show."""
    octets = max(0, int(octets or 0))
    # from a tenth of a megabyte on in MB ("0.9 MB", not "999,999 bytes")
    for unit, size, least in ((_("%(n)s GB"), 10**9, 10**9), (_("%(n)s MB"), 10**6, 10**5)):
        if octets >= least:
            return str(unit % {"n": format_quantity(Decimal(octets * 10 // size) / 10)})
    return str(_("%(n)s bytes") % {"n": format_quantity(octets)})
