"""Browsers and stations that an account has logged in from ("known devices").

After a successful login the door sets one signed, HttpOnly cookie listing the accounts
this browser has logged into. Each entry is an HMAC of the account and its per-account
key (``Customer.device_key``, ``StaffProfile.session_key``), so it cannot be forged nor
moved to another account, and changing that key forgets every browser at once. A known
browser is throttled only by its own failures (see ``ficha.accounts.logins``): strangers
guessing the account's password elsewhere never lock it out.
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.utils.crypto import constant_time_compare, salted_hmac

COOKIE = "ficha_device"
SALT = "ficha.accounts.device"
MAX_AGE = 400 * 24 * 3600  # the longest a browser keeps a cookie
MAX_ENTRIES = 8  # accounts remembered per browser (a shared counter PC has a few)

CUSTOMER = "c"
STAFF = "s"


def tag(kind: str, pk: int, key: str) -> str:
    """This account's entry: ``kind:pk:hmac``."""
    mac = salted_hmac(SALT, f"{kind}:{pk}:{key}", algorithm="sha256").hexdigest()[:24]
    return f"{kind}:{pk}:{mac}"


def _entries(request) -> list[str]:
    raw = request.COOKIES.get(COOKIE)
    if not raw:
        return []
    try:
        value = signing.loads(raw, salt=SALT, max_age=MAX_AGE)
    except (signing.BadSignature, ValueError):
        return []
    if not isinstance(value, list):
        return []
    return [str(v) for v in value[:MAX_ENTRIES]]


def known_tag(request, kind: str, pk: int, key: str) -> str | None:
    """This account's entry if this browser has logged into the account before, else
    None (the entry doubles as the browser's own throttle key)."""
    want = tag(kind, pk, key)
    for entry in _entries(request):
        if constant_time_compare(entry, want):
            return want
    return None


def remember(request, response, kind: str, pk: int, key: str) -> None:
    """After a successful login: this browser now knows the account."""
    want = tag(kind, pk, key)
    prefix = f"{kind}:{pk}:"
    entries = [e for e in _entries(request) if not e.startswith(prefix)] + [want]
    response.set_cookie(
        COOKIE, signing.dumps(entries[-MAX_ENTRIES:], salt=SALT, compress=True),
        max_age=MAX_AGE, httponly=True, samesite="Lax",
        secure=bool(getattr(settings, "SESSION_COOKIE_SECURE", False)),
        path="/",
    )
