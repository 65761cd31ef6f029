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
    "staff_idle_minutes", "staff_session_hours",
]
# What customers and printers see: the public address, dates, the ticket printer.
EDITABLE += ["public_url", "date_format", "printer_host", "printer_port", "ticket_width"]


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
        for name, low, high in (("staff_idle_minutes", 1, 24 * 60),
                                ("staff_session_hours", 1, 24 * 31)):
            if changes.get(name) is not None:  # left empty: unchanged
                n = int(changes[name])
                if not low <= n <= high:
                    raise SettingsError(_("%(name)s must be between %(low)d and %(high)d.")
                                        % {"name": VenueSettings._meta.get_field(name)
                                           .verbose_name, "low": low, "high": high})
                setattr(obj, name, n)
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
        _apply_output_settings(obj, changes)
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


# --- what customers and printers see ----------------------------------------------------
TICKET_WIDTHS = (58, 80)


def _apply_output_settings(obj: VenueSettings, changes: dict) -> None:
    """The public address, the date format and the ticket printer (checked, then set)."""
    from . import dates, public_url

    if "public_url" in changes:
        try:
            obj.public_url = public_url.clean(str(changes["public_url"] or ""))
        except public_url.PublicURLError as exc:
            raise SettingsError(str(exc))
    if "date_format" in changes:
        if changes["date_format"] not in dates.FORMATS:
            raise SettingsError(_("Unknown date format."))
        obj.date_format = changes["date_format"]
    if "printer_host" in changes:
        obj.printer_host = clean_printer_host(changes["printer_host"])
    if "printer_port" in changes:
        obj.printer_port = clean_printer_port(changes["printer_port"])
    if "ticket_width" in changes:
        try:
            width = int(changes["ticket_width"])
        except (TypeError, ValueError):
            width = 0
        if width not in TICKET_WIDTHS:
            raise SettingsError(_("Tickets are 58 mm or 80 mm wide."))
        obj.ticket_width = width


def clean_printer_host(value) -> str:
    """A ticket printer's IP address or host name ("" for none), checked."""
    import ipaddress

    host = str(value or "").strip().lower()
    if not host:
        return ""
    try:
        return ipaddress.ip_address(host.strip("[]")).compressed
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    if len(host) > 253 or not all(
        label and len(label) <= 63 and label.isascii() and label.replace("-", "").isalnum()
        and not label.startswith("-") for label in labels
    ):
        raise SettingsError(_(
            "The printer address is an IP address or a host name, e.g. 192.168.1.50 "
            "(no http://, no port)."
        ))
    return host.rstrip(".")


def clean_printer_port(value) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        port = 0
    if not 1 <= port <= 65535:
        raise SettingsError(_("The printer port is a number from 1 to 65535 (usually 9100)."))
    return port
