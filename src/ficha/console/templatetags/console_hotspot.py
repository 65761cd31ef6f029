"""Template helpers of the hotspot pages: what a plan allows, in one line."""

from __future__ import annotations

from django import template
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ficha.tariffs.engine import duration_text

register = template.Library()


def _bytes(octets: int) -> str:
    for unit, size in (("GB", 10**9), ("MB", 10**6)):
        if octets >= size:
            value = octets / size
            text = f"{value:.1f}".rstrip("0").rstrip(".")
            return f"{text} {unit}"
    return f"{octets} B"


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
