"""Core use cases: the venue's settings."""

from __future__ import annotations

import time
import zoneinfo

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from . import audit, codes
from .models import VenueSettings
from .money import MAX_MINOR, MoneyError, check_currency

_cache: tuple[float, VenueSettings] | None = None
_TTL = 5.0  # seconds; other processes (worker, RADIUS) see a change within this


class SettingsError(ValueError):
    pass


def venue_settings() -> VenueSettings:
    """The venue's settings (created from the FICHA_* defaults on first use)."""
    global _cache
    if _cache is not None and time.monotonic() - _cache[0] < _TTL:
        return _cache[1]
    obj = VenueSettings.objects.filter(pk=1).first()
    if obj is None:
        obj, _created = VenueSettings.objects.get_or_create(
            pk=1,
            defaults={
                "venue_name": settings.VENUE_NAME,
                "currency": settings.CURRENCY,
                "time_zone": settings.TIME_ZONE,
                "language": settings.LANGUAGE_CODE,
            },
        )
    _cache = (time.monotonic(), obj)
    return obj


def clear_cache() -> None:
    global _cache
    _cache = None


def currency() -> str:
    return venue_settings().currency


# Amounts above these settings (minor units, 0 = no limit) need a second look at the counter.
LIMITS = ("max_deposit", "max_face_value", "max_shift_variance")

EDITABLE = [
    "venue_name", "currency", "time_zone", "language",
    "code_length", "code_check_digit", "breakage_enabled",
    *LIMITS,
]


def over_limit(name: str, minor: int) -> int:
    """The limit ``name`` (one of LIMITS) when ``minor`` is beyond it, else 0.

    A variance counts both ways: 5,000 short is as far off as 5,000 over.
    """
    limit = int(getattr(venue_settings(), name) or 0)
    return limit if limit and abs(minor) > limit else 0


def check_time_zone(name) -> str:
    """``name`` if it is an IANA time zone, else SettingsError."""
    try:
        zoneinfo.ZoneInfo(str(name))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise SettingsError(_("Unknown time zone."))
    return str(name)


def update_settings(actor: audit.Actor, *, currency_locked: bool, **changes) -> VenueSettings:
    """Change venue settings. ``currency_locked``: money exists, so the currency is fixed."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise SettingsError(_("Unknown setting: %(name)s") % {"name": ", ".join(sorted(unknown))})
    pk = venue_settings().pk  # created outside: a refusal below must not roll it back
    with transaction.atomic():
        obj = VenueSettings.objects.select_for_update().get(pk=pk)
        before = audit.snapshot(obj, EDITABLE)
        if "venue_name" in changes:
            name = str(changes["venue_name"]).strip()
            if not name:
                raise SettingsError(_("The venue needs a name."))
            obj.venue_name = name
        if "currency" in changes and changes["currency"] != obj.currency:
            if currency_locked:
                raise SettingsError(
                    _("The currency cannot change once money has been recorded.")
                )
            try:
                obj.currency = check_currency(str(changes["currency"]).upper())
            except MoneyError as exc:
                raise SettingsError(str(exc))
        if "time_zone" in changes:
            obj.time_zone = check_time_zone(changes["time_zone"])
        if "language" in changes:
            if changes["language"] not in dict(settings.LANGUAGES):
                raise SettingsError(_("Unsupported language."))
            obj.language = changes["language"]
        if "code_length" in changes:
            n = int(changes["code_length"])
            if not codes.MIN_LENGTH <= n <= codes.MAX_LENGTH:
                raise SettingsError(
                    _("Codes have %(min)d to %(max)d digits.")
                    % {"min": codes.MIN_LENGTH, "max": codes.MAX_LENGTH}
                )
            obj.code_length = n
        if "code_check_digit" in changes:
            obj.code_check_digit = bool(changes["code_check_digit"])
        if "breakage_enabled" in changes:
            obj.breakage_enabled = bool(changes["breakage_enabled"])
        for name in LIMITS:
            if name in changes:
                value = changes[name] or 0
                if isinstance(value, bool) or not isinstance(value, int) or not (
                        0 <= value <= MAX_MINOR):
                    raise SettingsError(_("A limit is an amount of zero (no limit) or more."))
                setattr(obj, name, value)
        obj.save()
        after = audit.snapshot(obj, EDITABLE)
        if after != before:
            audit.record(actor, "settings.update", obj, before=before, after=after,
                         summary=_("Settings changed"))
    clear_cache()
    return obj


def unlock_source(actor: audit.Actor, scope: str, key: str) -> bool:
    """Lift the lock-out of one throttled source (an operator's decision), audited.

    Returns False (and records nothing) when there is no such source in that scope.
    """
    from . import throttle
    from .models import Throttle

    with transaction.atomic():
        row = Throttle.objects.select_for_update().filter(scope=scope, key=key).first()
        if row is None:
            return False
        before = {"scope": scope, "key": key, "failures": row.failures,
                  "locked_until": row.locked_until.isoformat() if row.locked_until else None}
        throttle.reset(scope, key)
        audit.record(actor, "throttle.unlock", row, before=before,
                     after={"scope": scope, "key": key, "failures": 0, "locked_until": None},
                     summary=_("Unlocked %(key)s (%(scope)s)") % {"key": key, "scope": scope})
    return True
