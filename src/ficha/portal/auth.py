"""The customer's portal session, kept apart from staff authentication.

A logged-in customer is ``request.session[CUSTOMER_KEY]`` (their id) plus a token
derived from their password and PIN hashes: when staff change the credentials, every
other portal session of that customer ends. Staff logins (``request.user``) are never
touched, so an operator testing the portal in their own browser stays logged in to the
console.
"""

from __future__ import annotations

import time

from django.utils.crypto import constant_time_compare, salted_hmac

from ficha.accounts.models import Customer

CUSTOMER_KEY = "portal_customer_id"
TOKEN_KEY = "portal_customer_token"
SEEN_KEY = "portal_customer_seen"
WIFI_GATEWAY_KEY = "hotspot_gateway"  # the Wi-Fi gateway this browser came through


def on_wifi(request) -> bool:
    """Whether this browser came through a Wi-Fi gateway's login page."""
    return WIFI_GATEWAY_KEY in request.session
# Café PCs are shared: a portal session ends after this long without a page view, and
# its cookie when the browser closes.
IDLE_SECONDS = 3600
_SEEN_EVERY = 60  # refresh the last-seen stamp at most once a minute (one session write)


def _token(customer: Customer) -> str:
    return salted_hmac(
        "ficha.portal.session", f"{customer.pk}:{customer.password}:{customer.pin}",
        algorithm="sha256",
    ).hexdigest()[:32]


def login(request, customer: Customer) -> None:
    """Start a portal session for ``customer`` under a fresh session key."""
    if request.session.get(CUSTOMER_KEY) not in (None, customer.pk):
        # Another customer was logged in here: keep none of their session.
        logout(request)
    request.session.cycle_key()  # no session fixation
    request.session[CUSTOMER_KEY] = customer.pk
    request.session[TOKEN_KEY] = _token(customer)
    request.session[SEEN_KEY] = int(time.time())
    request.session.set_expiry(0)
    request.customer = customer


def refresh(request, customer: Customer) -> None:
    """The customer changed their own credentials in this session: keep it valid."""
    request.session[TOKEN_KEY] = _token(customer)
    request.customer = customer


def logout(request) -> None:
    for key in (CUSTOMER_KEY, TOKEN_KEY, SEEN_KEY):
        request.session.pop(key, None)
    request.session.cycle_key()
    request.customer = None


def current(request) -> Customer | None:
    """The logged-in, active customer of this request, or None."""
    if hasattr(request, "customer"):
        return request.customer
    customer = None
    pk = request.session.get(CUSTOMER_KEY)
    if pk is not None:
        customer = Customer.objects.select_related("credit_account").filter(pk=pk).first()
        token = request.session.get(TOKEN_KEY) or ""
        now = int(time.time())
        seen = request.session.get(SEEN_KEY) or 0
        if (customer is None or not customer.is_active
                or not constant_time_compare(token, _token(customer))
                or now - seen > IDLE_SECONDS):
            for key in (CUSTOMER_KEY, TOKEN_KEY, SEEN_KEY):
                request.session.pop(key, None)
            customer = None
        elif now - seen > _SEEN_EVERY:
            request.session[SEEN_KEY] = now
    request.customer = customer
    return customer
