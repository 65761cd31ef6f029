"""Template helpers for printing: the warning about the address in printed QR codes."""

from __future__ import annotations

from django import template

from ficha.core import codes, public_url, roles

register = template.Library()


@register.inclusion_tag("console/printing/_address_warning.html", takes_context=True)
def public_address_warning(context) -> dict:
    """``{% public_address_warning %}``: a warning while printed QR codes point to an
    address phones cannot open (loopback) or to a guessed one (no public address set)."""
    request = context.get("request")
    address = public_url.public_address(request)
    user = getattr(request, "user", None)
    return {
        "address": address,
        "show": address.needs_attention,
        "can_fix": user is not None and roles.can(user, "manage_settings"),
    }


@register.filter
def codegroup(code: str) -> str:
    """``{{ code|codegroup }}``: "12345678" → "1234 5678", as on printed cards."""
    return codes.group(str(code or ""))
