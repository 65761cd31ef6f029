"""What the portal tells customers: waits, dates and refusals of a recharge code."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ficha.core.services import venue_settings


def too_many_attempts(seconds: int) -> str:
    """The locked-out message with the wait in seconds, minutes or hours (rounded up)."""
    seconds = max(1, int(seconds))
    if seconds < 120:
        return ngettext("Too many attempts. Wait %(n)d second and try again.",
                        "Too many attempts. Wait %(n)d seconds and try again.", seconds
                        ) % {"n": seconds}
    minutes = -(-seconds // 60)
    if minutes < 120:
        return ngettext("Too many attempts. Wait %(n)d minute and try again.",
                        "Too many attempts. Wait %(n)d minutes and try again.", minutes
                        ) % {"n": minutes}
    hours = -(-seconds // 3600)
    return ngettext("Too many attempts. Wait %(n)d hour and try again.",
                    "Too many attempts. Wait %(n)d hours and try again.", hours
                    ) % {"n": hours}


def venue_time(when: dt.datetime) -> dt.datetime:
    """``when`` in the venue's time zone."""
    try:
        tz = zoneinfo.ZoneInfo(venue_settings().time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz = dt.UTC
    return when.astimezone(tz)


def throttled_for(exc) -> int:
    """Seconds to wait when a redemption was refused for too many failed attempts, else 0."""
    if getattr(exc, "reason", "") == "throttled":
        return int(getattr(exc, "retry_after", 0) or 0)
    return 0


def redeem_error(exc) -> str:
    """The message a customer sees for a refused code (a ``RechargeError``).

    The recharges service words its refusals for customers already (unknown and unsold
    codes both "Invalid code.", an expiry in the venue's time zone and the active
    language, the wait when throttled, "check what you typed" for typos); the portal
    activates the customer's language before calling it. Only a locked-out source gets
    the portal's own wording, so that minutes and hours read the same as at login (a
    gateway held back by other phones' guesses keeps the service's words, which say so).
    """
    wait = throttled_for(exc)
    if wait and not getattr(exc, "shared", False):  # shared: the service's own words
        return too_many_attempts(wait)
    return str(exc) or _("This code cannot be used.")
