"""Template helpers for the console: money, roles, navigation, the user's shift."""

from __future__ import annotations

from django import template
from django.conf import settings
from django.urls import NoReverseMatch, get_script_prefix, reverse
from django.utils import translation
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst
from django.utils.translation import get_language_info

from ficha.core import roles
from ficha.core.money import Money
from ficha.core.services import currency
from ficha.ledger import services as ledger
from ficha.reports import labels

from .. import nav

register = template.Library()


@register.filter
def money(minor, cur: str | None = None) -> str:
    """``{{ amount|money }}``: minor units shown in the venue (or given) currency."""
    if minor is None or minor == "":
        return ""
    try:
        return Money(int(minor), cur or currency()).format()
    except (TypeError, ValueError):
        return ""


@register.filter
def signed_money(minor, cur: str | None = None) -> str:
    """Like ``money`` with an explicit + for positive amounts."""
    text = money(minor, cur)
    if text and minor and int(minor) > 0:
        return "+" + text
    return text


@register.filter
def sign_class(minor) -> str:
    try:
        value = int(minor or 0)
    except (TypeError, ValueError):
        return ""
    return "pos" if value > 0 else "neg" if value < 0 else "zero"


@register.filter
def can(user, capability: str) -> bool:
    """``{% if user|can:"deposit" %}``"""
    return roles.can(user, capability)


@register.filter
def role_label(user_or_role) -> str:
    role = user_or_role if isinstance(user_or_role, str) else roles.role_of(user_or_role)
    return str(roles.ROLE_LABELS.get(role, "")) if role else ""


@register.filter
def kind_label(kind: str) -> str:
    return labels.kind_label(kind or "")


@register.filter
def source_label(source: str) -> str:
    return labels.source_label(source or "")


_NAV_URLS: dict[tuple[str, str], str] = {}  # (script prefix, URL name) -> path
_LANGUAGE_OPTIONS: dict[tuple[str, tuple], str] = {}  # (active, LANGUAGES) -> <option>s


@register.simple_tag
def language_options():
    """``{% language_options %}``: the language menu's ``<option>`` elements, each
    language named in itself, the active one selected (built once per language)."""
    active = translation.get_language() or settings.LANGUAGE_CODE
    key = (active, tuple(code for code, _name in settings.LANGUAGES))
    html = _LANGUAGE_OPTIONS.get(key)
    if html is None:
        infos = [get_language_info(code) for code in key[1]]
        html = _LANGUAGE_OPTIONS[key] = format_html_join(
            "", '<option value="{}"{} lang="{}">{}</option>',
            ((i["code"], " selected" if i["code"] == active else "", i["code"],
              capfirst(i["name_local"])) for i in infos))
    return html


@register.simple_tag(takes_context=True)
def nav_items(context):
    """``{% nav_items as items %}``: [(url, label, active)] the user may use."""
    request = context.get("request")
    user = context.get("user")
    current = ""
    if request is not None and getattr(request, "resolver_match", None):
        current = request.resolver_match.url_name or ""
    # a view that has already counted a badge's number (the dashboard, open alerts)
    # leaves it on the request: {url_name: count}
    known = getattr(request, "_console_badges", None) or {}
    out = []
    prefix = get_script_prefix()
    for item, active in nav.items_for(user, current):
        url = _NAV_URLS.get((prefix, item.url_name))
        if url is None:
            try:
                url = _NAV_URLS[(prefix, item.url_name)] = reverse(item.url_name)
            except NoReverseMatch:
                continue
        label = item.label
        count = 0
        if item.badge is not None:
            count = known[item.url_name] if item.url_name in known else item.badge(user)
        if count:
            label = format_html('{} <span class="nav-badge">{}</span>', label, count)
        out.append((url, label, active))
    return out


@register.simple_tag(takes_context=True)
def user_shift(context):
    """``{% user_shift as shift %}``: the user's open shift, or None (once per request)."""
    request = context.get("request")
    if request is None:
        return None
    if not hasattr(request, "_console_shift"):
        request._console_shift = ledger.current_shift(request.user)
    return request._console_shift


@register.filter
def get_item(mapping, key):
    try:
        return mapping.get(key)
    except AttributeError:
        return None
