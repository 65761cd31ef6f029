"""Template helpers of the hotspot pages: what a plan allows, in one line."""

from __future__ import annotations

from decimal import Decimal

from django import template
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ficha.core.money import format_quantity
from ficha.hotspot import coa_sender
from ficha.reports import labels
from ficha.tariffs.engine import duration_text

register = template.Library()


def _bytes(octets: int) -> str:
    """"5 GB", "1.5 GB", "500 MB" (one decimal at most), in the language's words."""
    for unit, size in ((_("%(n)s GB"), 10**9), (_("%(n)s MB"), 10**6)):
        if octets >= size:
            tenths = (octets * 10 + size // 2) // size
            return unit % {"n": format_quantity(Decimal(tenths) / 10)}
    return _("%(n)s bytes") % {"n": format_quantity(octets)}


@register.filter
def seconds_text(seconds) -> str:
    """``{{ record.session_time|seconds_text }}``: "16 min 40 s", as charge lines say it."""
    return duration_text(int(seconds or 0))


@register.filter
def minutes_left(seconds) -> str:
    """``{{ row.remaining|minutes_left }}``: the time left in whole minutes, never
    rounded up ("1 h 39 min"), in the words the portal tells the customer."""
    return labels.time_left(seconds)


@register.filter
def megabytes_left(octets) -> str:
    """``{{ row.remaining_octets|megabytes_left }}``: the data left rounded down, in the
    words the portal shows ("487.9 MB", "1.2 GB")."""
    return labels.data_left(octets)


@register.filter
def plan_limits(plan) -> str:
    """``{{ plan|plan_limits }}``: "billed per 5 min · pass of 24 h · 5 GB · 2 devices ·
    MAC login" — the settings the plans table has no column for."""
    parts = [_("billed per %(time)s") % {"time": duration_text(plan.increment_seconds)}]
    if plan.validity_seconds:
        parts.append(_("pass of %(time)s") % {"time": duration_text(plan.validity_seconds)})
    if plan.quota_bytes:
        parts.append(_("%(size)s of data") % {"size": _bytes(plan.quota_bytes)})
    if plan.idle_timeout:
        parts.append(_("idle %(time)s") % {"time": duration_text(plan.idle_timeout)})
    parts.append(ngettext("%(n)d device", "%(n)d devices", plan.devices)
                 % {"n": plan.devices})
    if plan.mac_login:
        parts.append(_("MAC login"))
    return " · ".join(parts)


@register.filter
def coa_answer(job) -> str:
    """``{{ job|coa_answer }}``: the gateway's last answer in words ("Refused: Error-Cause
    404 Invalid-Request", "No answer", "Could not send: [Errno 111] …")."""
    raw = job.last_answer or ""
    token, _sep, detail = raw.partition(": ")
    words = {
        coa_sender.ACK: _("Acknowledged"), coa_sender.NAK: _("Refused"),
        coa_sender.TIMEOUT: _("No answer"), coa_sender.ERROR: _("Could not send"),
        "session ended": _("The session had ended"), "credit added": _("Credit added"),
        "unsupported": _("Not supported by the gateway"),
    }.get(token)
    if words is None:
        return raw or "—"
    if detail:
        words = f"{words}: {detail}"
    if job.error_cause:
        name = coa_sender.ERROR_CAUSES.get(job.error_cause, "")
        words += f" · Error-Cause {job.error_cause}" + (f" {name}" if name else "")
    return words
