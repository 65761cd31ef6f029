"""Which language the portal speaks to a customer.

1. The customer's choice: the language buttons at the foot of every page post to
   Django's ``set_language``, which stores it in the ``django_language`` cookie (a plain
   form: no JavaScript needed). A link may choose too: ``?lang=fr`` (CoovaChilli passes
   its ``lang`` that way) is used for the page and kept in the same cookie.
2. Else the phone's or browser's languages (``Accept-Language``), in the order of
   preference it gives, the first one Ficha speaks ("fr-SN" → French).
3. Else the venue's default language (Settings).
"""

from __future__ import annotations

from django.conf import settings
from django.utils import translation

from ficha.core.services import venue_settings

_MAX_HEADER = 500  # longer Accept-Language headers are ignored (as Django does)
_MAX_TAGS = 20


def supported(tag: str) -> str | None:
    """The supported language for a language tag ("pt-BR" → "pt"), else None."""
    tag = (tag or "").strip()
    if not tag or tag == "*" or len(tag) > 35:
        return None
    try:
        return translation.get_supported_language_variant(tag.lower())
    except LookupError:
        return None


def from_accept_language(header: str) -> str | None:
    """The most preferred supported language in an ``Accept-Language`` header."""
    if not header or len(header) > _MAX_HEADER:
        return None
    ranked = []
    for position, item in enumerate(header.split(",")[:_MAX_TAGS]):
        tag, _, params = item.partition(";")
        quality = 1.0
        params = params.strip()
        if params:
            name, _, value = params.partition("=")
            if name.strip().lower() != "q":
                continue
            try:
                quality = float(value)
            except ValueError:
                continue
            if not 0 < quality <= 1:  # q=0 means "not this one"; NaN fails both tests
                continue
        ranked.append((-quality, position, tag))
    for _quality, _position, tag in sorted(ranked):
        language = supported(tag)
        if language:
            return language
    return None


def from_link(request) -> str | None:
    """A supported language the page's link asks for (``?lang=``), else None."""
    return supported(request.GET.get("lang", "")[:35]) if request.method == "GET" else None


def preferred_language(request) -> str:
    """The portal's language for this request (see the module docstring)."""
    linked = from_link(request)
    if linked:
        return linked
    chosen = supported(request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, ""))
    if chosen:
        return chosen
    browser = from_accept_language(request.META.get("HTTP_ACCEPT_LANGUAGE", ""))
    if browser:
        return browser
    language = venue_settings().language
    return language if language in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE
