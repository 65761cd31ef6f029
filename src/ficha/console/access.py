"""Who may open a console page: login, role capability, and the venue's time and language.

Every console view is wrapped in :func:`capability_required` (or :func:`public` for the
login page). Tests walk the URL conf and fail on any view that is neither.
"""

from __future__ import annotations

import contextlib
import zoneinfo
from collections.abc import Callable, Iterator
from functools import wraps

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse
from django.shortcuts import render, resolve_url
from django.utils import timezone, translation
from django.utils.cache import add_never_cache_headers

from ficha.core import audit, roles
from ficha.core.services import venue_settings

SOURCE = "console"


def actor(request) -> audit.Actor:
    """The person acting through this request, for services and the audit log."""
    return audit.Actor(user=request.user, ip=getattr(request, "client_ip", None), source=SOURCE)


@contextlib.contextmanager
def venue_context(request) -> Iterator[None]:
    """Show times in the venue's zone; without a chosen language, speak the venue's."""
    venue = venue_settings()
    try:
        tz = zoneinfo.ZoneInfo(venue.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz = None
    chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
    lang = None
    if not chosen and venue.language in dict(settings.LANGUAGES):
        lang = venue.language
    if tz is not None:
        timezone.activate(tz)
    try:
        if lang:
            with translation.override(lang):
                request.LANGUAGE_CODE = lang
                yield
        else:
            yield
    finally:
        if tz is not None:
            timezone.deactivate()


def forbidden(request) -> HttpResponse:
    return render(request, "console/403.html", status=403)


def _to_login(request) -> HttpResponse:
    if getattr(request, "htmx", False):
        # a fragment request after the session ended: send the whole page to the login
        return HttpResponse(status=204, headers={"HX-Redirect": resolve_url(settings.LOGIN_URL)})
    return redirect_to_login(request.get_full_path())


def capability_required(*capabilities: str) -> Callable:
    """Login required, and every named capability (see ficha.core.roles); else a 403 page."""
    for cap in capabilities:
        roles.perm(cap)  # unknown capability: fail at import, not at request time

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            user = request.user
            if not user.is_authenticated:
                return _to_login(request)
            with venue_context(request):
                if not all(roles.can(user, cap) for cap in capabilities):
                    response = forbidden(request)
                else:
                    response = view(request, *args, **kwargs)
            # customer data must not come back from the browser's cache after logout
            # on a shared counter PC
            add_never_cache_headers(response)
            return response

        wrapped.capabilities = capabilities
        return wrapped

    return decorator


def public(view: Callable) -> Callable:
    """A page anyone may open (the login page); still in the venue's time and language."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        with venue_context(request):
            return view(request, *args, **kwargs)

    wrapped.capabilities = ()
    wrapped.public = True
    return wrapped
