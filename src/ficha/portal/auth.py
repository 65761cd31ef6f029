"""The customer's portal session, kept apart from staff authentication.

A logged-in customer is ``request.session[CUSTOMER_KEY]`` (their id) plus a token
derived from their password and PIN hashes: when staff change the credentials, every
other portal session of that customer ends. Staff logins (``request.user``) are never
touched, so an operator testing the portal in their own browser stays logged in to the
console.
"""

from __future__ import annotations

from django.utils.crypto import constant_time_compare, salted_hmac

from ficha.accounts.models import Customer

CUSTOMER_KEY = "portal_customer_id"
TOKEN_KEY = "portal_customer_token"


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
    request.customer = customer


def refresh(request, customer: Customer) -> None:
    """The customer changed their own credentials in this session: keep it valid."""
    request.session[TOKEN_KEY] = _token(customer)
    request.customer = customer


def logout(request) -> None:
    request.session.pop(CUSTOMER_KEY, None)
    request.session.pop(TOKEN_KEY, None)
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
        if customer is None or not customer.is_active or not constant_time_compare(
            token, _token(customer)
        ):
            request.session.pop(CUSTOMER_KEY, None)
            request.session.pop(TOKEN_KEY, None)
            customer = None
    request.customer = customer
    return customer
