"""Who may try a password or PIN, and how often: the login lock-out model.

See docs/security.md ("Logins"). In short:

* A browser or station that has logged into an account before carries a signed entry for
  it (``ficha.accounts.devices``). Its attempts are throttled by that entry alone
  (``device:…`` key): failures from anywhere else never lock it out.
* Every other client is throttled by its address (``ip:…``, long lock-outs) and by the
  account's budget for unknown clients (``login:<name>``): a short back-off and a hard
  daily cap (``FICHA_LOGIN_DAILY_CAP``, 30). Past the cap the account refuses unknown
  clients for the rest of the day; its known browsers still log in.
* A customer's PIN is short, so it has its own, smaller budget: after ``FICHA_PIN_CAP``
  (10) wrong PIN-shaped guesses from unknown clients within a day, the PIN stops working
  from unknown clients until staff unlock it at the counter (audited). Passwords keep
  the account's budget.
* When an account's unknown-client failures reach ``ALERT_AT`` an alert names it.

Doors call :func:`customer_login` (portal) or :func:`claim` / :func:`settle` around their
own credential check (console), then :func:`ficha.accounts.devices.remember` on success.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils.translation import gettext as _

from ficha.core import alerts, audit, clock, throttle

from . import devices
from .models import Customer, username_key

PORTAL = "portal_login"
STAFF = "staff_login"
PIN_SCOPE = "pin_guess"  # a plain counter: its policy never locks (see throttle.POLICIES)

PIN_CAP = 10
ALERT_AT = 10
MAX_SECRET = 256  # longer "passwords" are not hashed at all (no CPU for strangers)

throttle.POLICIES.setdefault(
    PIN_SCOPE, throttle.Policy(free=10**9, hard_limit=10**9, window_seconds=24 * 3600))


def pin_cap() -> int:
    return int(getattr(settings, "FICHA_PIN_CAP", PIN_CAP))


def pin_shaped(secret: str) -> bool:
    return 4 <= len(secret) <= 8 and secret.isascii() and secret.isdigit()


@dataclass
class Attempt:
    """One claimed login attempt (counted as a failure until :func:`settle` says ok)."""

    scope: str
    name_key: str
    keys: list[str]
    known: bool  # this browser has logged into the account before
    ip: str | None = None
    wait: int = 0  # > 0: refused without checking anything; wait this many seconds


def login_key(name: str) -> str:
    return f"{throttle.LOGIN_KEY_PREFIX}{username_key(name)}"[:128]


def claim(scope: str, name: str, *, ip: str | None, device_tag: str | None,
          gateway: str | None = None) -> Attempt:
    """Claim an attempt to log into the account typed as ``name``.

    ``device_tag``: this browser's entry for that account (``devices.known_tag``), or None.
    ``gateway``: the hotspot gateway every phone reaches Ficha through, when the address
    is the gateway's (its key is throttled loosely instead of the shared address's, which
    would let one guesser lock every customer of the hotspot out).
    """
    if device_tag:
        keys = [f"device:{device_tag}"]
    elif gateway:
        keys = [f"{throttle.GATEWAY_KEY_PREFIX}{gateway}", login_key(name)]
    else:
        keys = [f"ip:{ip or 'unknown'}", login_key(name)]
    attempt = Attempt(scope, username_key(name), keys, bool(device_tag), ip)
    attempt.wait = throttle.claim(scope, keys)
    return attempt


def settle(attempt: Attempt, *, ok: bool, account_label: str = "",
           customer: Customer | None = None, secret: str = "") -> None:
    """After the credential check: forgive a success; for a failure from an unknown
    client, count a PIN-shaped guess against ``customer``'s PIN and raise the alert."""
    if attempt.wait:
        return
    if ok:
        throttle.forgive(attempt.scope, attempt.keys)
        return
    if attempt.known:
        return
    if customer is not None and customer.pin and not customer.pin_locked and pin_shaped(secret):
        _count_pin_guess(customer)
    if account_label:
        n = throttle.failures(attempt.scope, login_key(attempt.name_key))
        if n >= ALERT_AT:
            _account_alert(attempt, account_label, n)


def refused(attempt: Attempt, account_label: str) -> None:
    """An attempt from an unknown client refused by the throttle (never evaluated) still
    tells of an attack: the alert names the account once its failures and refusals reach
    ``ALERT_AT`` (and again at each further multiple, so a flood costs no write each)."""
    if attempt.known or not account_label:
        return
    key = login_key(attempt.name_key)
    n = (throttle.failures(attempt.scope, key) + throttle.refused_total(attempt.scope, key)
         + 1)
    if n % ALERT_AT == 0 and not alerts.is_open(_alert_key(attempt)):
        _account_alert(attempt, account_label, n, refused=True)


def _alert_key(attempt: Attempt) -> str:
    return f"account:{attempt.scope}:{attempt.name_key}"[:255]


def _count_pin_guess(customer: Customer) -> None:
    key = f"pin:{customer.pk}"
    throttle.claim(PIN_SCOPE, [key])
    if throttle.failures(PIN_SCOPE, key) < pin_cap():
        return
    with transaction.atomic():
        locked = Customer.objects.filter(pk=customer.pk, pin_locked_at__isnull=True).update(
            pin_locked_at=clock.now())
        if locked:
            customer.pin_locked_at = clock.now()
            audit.record(audit.Actor(source="system", label="logins"), "customer.pin_lock",
                         customer, after={"pin_locked": True},
                         summary=_("PIN of %(name)s locked after wrong guesses")
                         % {"name": customer.username})
    if locked:
        with alerts.in_venue_language():
            message = _(
                "The PIN of customer %(name)s was locked after %(n)d wrong guesses from "
                "browsers it never logged in from. It works again when staff unlock it on "
                "the customer's page; the password still works."
            ) % {"name": customer.username, "n": pin_cap()}
        alerts.raise_alert(alerts.ACCOUNT, message, source=f"customer:{customer.username}",
                           data={"customer": customer.pk, "pin_locked": True},
                           dedupe_key=f"pin:{customer.pk}")


def _account_alert(attempt: Attempt, label: str, n: int, refused: bool = False) -> None:
    cap = throttle.login_daily_cap()
    with alerts.in_venue_language():
        if refused:
            message = _(
                "%(account)s: %(n)d attempts to log in from browsers that never logged "
                "into it (last from %(ip)s), most refused by the throttle. Someone may be "
                "guessing its password."
            )
        elif n >= cap:
            message = _(
                "%(account)s: %(n)d wrong passwords today from browsers that never logged "
                "into it (last from %(ip)s). It now refuses such browsers until tomorrow; "
                "browsers it logged in from before still work."
            )
        else:
            message = _(
                "%(account)s: %(n)d wrong passwords from browsers that never logged into it "
                "(last from %(ip)s). Someone may be guessing its password."
            )
        message = message % {"account": label, "n": n, "ip": attempt.ip or "?"}
    alerts.raise_alert(alerts.ACCOUNT, message, source=label,
                       data={"scope": attempt.scope, "failures": n, "cap": cap,
                             "last_ip": attempt.ip},
                       dedupe_key=_alert_key(attempt))


@dataclass
class CustomerLogin:
    """What a portal login attempt came to."""

    customer: Customer | None = None  # logged in
    wait: int = 0  # refused unevaluated: wait this many seconds
    disabled: bool = False  # the right secret, but the account is disabled
    pin_locked: bool = False  # a PIN-shaped secret for an account whose PIN is locked here
    attempt: Attempt | None = field(default=None, repr=False)


def customer_login(username: str, secret: str, *, ip: str | None,
                   device_entries_of=None, gateway: str | None = None) -> CustomerLogin:
    """Check a customer's password or PIN under the lock-out model above.

    ``device_entries_of(customer) -> tag or None`` says whether this browser knows the
    customer (the portal passes ``devices.known_tag`` bound to the request); ``gateway``
    as in :func:`claim`.
    """
    customer = Customer.objects.select_related("credit_account").filter(
        username_key=username_key(username)).first()
    tag = device_entries_of(customer) if customer is not None and device_entries_of else None
    attempt = claim(PORTAL, username, ip=ip, device_tag=tag, gateway=gateway)
    if attempt.wait:
        if customer is not None:
            refused(attempt, _("Customer %(name)s") % {"name": customer.username})
        return CustomerLogin(wait=attempt.wait, attempt=attempt)
    plausible = 0 < len(secret) <= MAX_SECRET and "\x00" not in secret
    ok = False
    if customer is None:
        if plausible:
            make_password(secret)  # same work either way: no timing oracle on usernames
    elif plausible:
        pin_usable = attempt.known or not customer.pin_locked
        ok = customer.check_password(secret) or (pin_usable and customer.check_pin(secret))
    if ok and not customer.is_active:
        settle(attempt, ok=True)  # knowing the secret is not a failed guess
        return CustomerLogin(disabled=True, attempt=attempt)
    settle(attempt, ok=ok, customer=customer, secret=secret,
           account_label=_("Customer %(name)s") % {"name": customer.username}
           if customer is not None else "")
    return CustomerLogin(
        customer=customer if ok else None, attempt=attempt,
        pin_locked=(not ok and customer is not None and customer.pin_locked
                    and not attempt.known and pin_shaped(secret)))


def customer_device_tag(request, customer: Customer) -> str | None:
    return devices.known_tag(request, devices.CUSTOMER, customer.pk, customer.device_key)


def remember_customer(request, response, customer: Customer) -> None:
    devices.remember(request, response, devices.CUSTOMER, customer.pk, customer.device_key)


def locked_for_strangers(customer: Customer) -> bool:
    """Has the account's daily budget for unknown browsers run out?"""
    key = login_key(customer.username)
    return (throttle.failures(PORTAL, key) >= throttle.login_daily_cap()
            and throttle.retry_after(PORTAL, [key]) > 0)


def unlock_pin(actor: audit.Actor, customer: Customer) -> Customer:
    """Staff at the counter: the PIN works again everywhere, the unknown-client budget of
    the account is restored (audited)."""
    with transaction.atomic():
        customer = Customer.objects.select_for_update().get(pk=customer.pk)
        was = customer.pin_locked_at
        customer.pin_locked_at = None
        customer.save(update_fields=["pin_locked_at"])
        throttle.reset(PIN_SCOPE, f"pin:{customer.pk}")
        throttle.reset(PORTAL, login_key(customer.username))
        audit.record(actor, "customer.pin_unlock", customer,
                     before={"pin_locked_at": was.isoformat() if was else None},
                     after={"pin_locked_at": None},
                     summary=_("Login of %(name)s unlocked") % {"name": customer.username})
    return customer
