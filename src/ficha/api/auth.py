"""Who is calling the API, and may they do this?

Two ways in:

* ``Authorization: Bearer fch_…`` — an API token (``ficha.accounts.tokens``); the
  request acts as the token's own staff user. No CSRF (no cookies involved).
* the console's session cookie — a logged-in staff member; unsafe methods need the
  CSRF token (``X-CSRFToken`` header) exactly like a console form.

When an ``Authorization`` header is present, only the token counts.

Every operation declares the capability it needs::

    @router.post("/things", auth=require("sell_recharges"))

``require`` answers 401 without valid credentials and 403 without the capability.
"""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext as _
from ninja.errors import HttpError
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from ficha.accounts import tokens
from ficha.core import audit, roles
from ficha.core.middleware import client_ip

SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}
_UNSET = object()


def _ip(request) -> str | None:
    ip = getattr(request, "client_ip", _UNSET)
    return client_ip(request) if ip is _UNSET else ip


def identify(request):
    """The staff user behind this request, or None. Cached on the request.

    Used by the auth classes below and by the idempotency layer (which must know the
    principal before the operation runs).
    """
    cached = getattr(request, "_ficha_principal", _UNSET)
    if cached is not _UNSET:
        return cached
    user = None
    request._ficha_via = None
    request._ficha_csrf_failed = False
    header = request.headers.get("Authorization")
    if header is not None:
        request._ficha_via = "token"
        scheme, _sep, value = header.strip().partition(" ")
        if scheme.lower() == "bearer":
            user = tokens.authenticate_token(value.strip(), ip=_ip(request))
        if user is not None:
            request.user = user
    else:
        session_user = getattr(request, "user", None)
        if (session_user is not None and session_user.is_authenticated
                and session_user.is_active):
            request._ficha_via = "session"
            if request.method not in SAFE_METHODS:
                request.body  # noqa: B018 - cache it before the CSRF check reads a form
            if request.method not in SAFE_METHODS and check_csrf(request) is not None:
                request._ficha_csrf_failed = True
            else:
                user = session_user
    request._ficha_principal = user
    return user


def _authorize(user, capability: str):
    if roles.can(user, capability):
        return user
    label = roles.CAPABILITIES[capability][0]
    raise HttpError(403, _("Your role may not do this: %(what)s.") % {"what": label})


class ApiTokenAuth(HttpBearer):
    """``Authorization: Bearer <token>``; see ``ficha token create``."""

    def __init__(self, capability: str) -> None:
        roles.perm(capability)  # unknown capability: fail at import time
        self.capability = capability
        super().__init__()

    def __call__(self, request):
        if request.headers.get("Authorization") is None:
            return None
        user = identify(request)
        if user is None:
            return None
        return _authorize(user, self.capability)

    def authenticate(self, request, token):  # pragma: no cover - __call__ does the work
        return None


class StaffSessionAuth(APIKeyCookie):
    """The console's login session (CSRF token required on unsafe methods)."""

    param_name = settings.SESSION_COOKIE_NAME

    def __init__(self, capability: str) -> None:
        roles.perm(capability)
        self.capability = capability
        super().__init__(csrf=True)

    def __call__(self, request):
        if request.headers.get("Authorization") is not None:
            return None
        user = identify(request)
        if user is None:
            if getattr(request, "_ficha_csrf_failed", False):
                raise HttpError(
                    403, _("CSRF check failed: send the X-CSRFToken header with the "
                           "console's CSRF token.")
                )
            return None
        return _authorize(user, self.capability)

    def authenticate(self, request, key):  # pragma: no cover - __call__ does the work
        return None


def require(capability: str) -> list:
    """The ``auth=`` value for an operation that needs ``capability`` (see roles.py)."""
    return [ApiTokenAuth(capability), StaffSessionAuth(capability)]


def capability_of(operation) -> str | None:
    """The capability an operation requires (None: it declared no ``require``)."""
    for callback in getattr(operation, "auth_callbacks", None) or []:
        cap = getattr(callback, "capability", None)
        if cap:
            return cap
    return None


def actor(request) -> audit.Actor:
    """The audit actor for the authenticated request."""
    return audit.Actor(user=request.auth, ip=_ip(request), source="api")
