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


# RFC 5176 section 3.5: what a gateway's Error-Cause says (protocol names, as the
# gateways' own logs and manuals write them).
ERROR_CAUSES = {
    201: "Residual-Session-Context-Removed", 202: "Invalid-EAP-Packet",
    401: "Unsupported-Attribute", 402: "Missing-Attribute",
    403: "NAS-Identification-Mismatch", 404: "Invalid-Request",
    405: "Unsupported-Service", 406: "Unsupported-Extension",
    407: "Invalid-Attribute-Value", 501: "Administratively-Prohibited",
    502: "Request-Not-Routable", 503: "Session-Context-Not-Found",
    504: "Session-Context-Not-Removable", 505: "Other-Proxy-Processing-Error",
    506: "Resources-Unavailable", 507: "Request-Initiated",
    508: "Multiple-Session-Selection-Unsupported",
}


@register.filter
def coa_answer(job) -> str:
    """``{{ job|coa_answer }}``: the gateway's last answer in words ("Refused: Error-Cause
    404 Invalid-Request", "No answer", "Could not send: [Errno 111] …")."""
    raw = job.last_answer or ""
    token, _sep, detail = raw.partition(": ")
    words = {
        "ack": _("Acknowledged"), "nak": _("Refused"), "timeout": _("No answer"),
        "error": _("Could not send"), "session ended": _("The session had ended"),
        "credit added": _("Credit added"), "unsupported": _("Not supported by the gateway"),
    }.get(token)
    if words is None:
        return raw or "—"
    if detail:
        words = f"{words}: {detail}"
    if job.error_cause:
        name = ERROR_CAUSES.get(job.error_cause, "")
        words += f" · Error-Cause {job.error_cause}" + (f" {name}" if name else "")
    return words
