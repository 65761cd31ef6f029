"""The customer portal: log in, see the credit, redeem recharge codes.

Plain server-rendered HTML that works with JavaScript disabled (captive-portal
browsers), on a phone screen. Every form posts back with a CSRF token; successful
posts redirect (post/redirect/get) so a reload never redeems twice.

Pages speak the language the customer picked with the language buttons (Django's
``set_language`` cookie), else the phone's (``Accept-Language``) when Ficha speaks it,
else the venue's default language (see ``language.py``).

Low credit: right after a password login, a customer whose balance is below
:data:`LOW_CREDIT_MAJOR_UNITS` major units of the venue currency (1 XOF, 1.00 EUR,
1.000 KWD; for a currency without decimals that means "0 or less") is shown
"Your credit is used up — enter a recharge code" before continuing.
"""

from __future__ import annotations

import unicodedata
from functools import wraps
from urllib.parse import parse_qs, urlencode, urlsplit

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from ficha.accounts import logins
from ficha.accounts import services as accounts
from ficha.core import audit, codes, throttle
from ficha.core.money import Money, exponent
from ficha.core.services import currency
from ficha.recharges import services as recharges
from ficha.recharges.models import Recharge
from ficha.reports import labels as kinds

from . import auth, language, texts

# A balance below this many major units of the venue currency counts as "used up" at
# login (see the module docstring). Tariffs may later replace it with "less than the
# cheapest minute".
LOW_CREDIT_MAJOR_UNITS = 1

# Longest text we look at in a code field (codes have at most 16 digits).
_MAX_CODE_INPUT = 64
_MAX_PASSWORD = 256


def low_credit_threshold() -> int:
    """The low-credit threshold in minor units of the venue currency."""
    return LOW_CREDIT_MAJOR_UNITS * 10 ** exponent(currency())


def is_low(balance: int) -> bool:
    return balance < low_credit_threshold()


def money(minor: int) -> str:
    return Money(minor, currency()).format()


# --- helpers -----------------------------------------------------------------------------
def _language(request) -> str:
    """The customer's chosen language, else the browser's, else the venue's (language.py)."""
    return language.preferred_language(request)


def _linked_language(request) -> str | None:
    return language.from_link(request)


def portal_page(view):
    """Never cached (balances, shared PCs), in the portal's language."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        language = _language(request)
        with translation.override(language):
            request.LANGUAGE_CODE = translation.get_language()
            auth.current(request)
            response = view(request, *args, **kwargs)
            customer = getattr(request, "customer", None)  # logged in, or now logged in
            if customer is not None:  # login, redeem, language switch: remember it
                accounts.remember_language(customer, request.LANGUAGE_CODE)
        response.headers["Content-Language"] = request.LANGUAGE_CODE
        linked = _linked_language(request)
        if linked and request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME) != linked:
            # kept as the language buttons keep it: the next pages speak it too
            response.set_cookie(
                settings.LANGUAGE_COOKIE_NAME, linked, max_age=settings.LANGUAGE_COOKIE_AGE,
                path=settings.LANGUAGE_COOKIE_PATH, domain=settings.LANGUAGE_COOKIE_DOMAIN,
                secure=settings.LANGUAGE_COOKIE_SECURE,
                httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
                samesite=settings.LANGUAGE_COOKIE_SAMESITE)
        return response

    return never_cache(wrapper)


def _ip(request) -> str | None:
    return getattr(request, "client_ip", None)


def _actor(request, customer) -> audit.Actor:
    return audit.Actor(source="portal", ip=_ip(request), label=f"customer {customer.username}")


def _safe_next(request, value: str | None) -> str:
    """``value`` if it is a local URL of this site, else ""."""
    value = (value or "").strip()
    if not value or len(value) > 2000 or "\\" in value or not _printable(value):
        return ""
    if not value.startswith("/") or value.startswith("//"):
        return ""
    if not url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return ""
    return value


def _printable(text: str) -> bool:
    """No control characters or inner whitespace (they break headers and databases)."""
    return not any(ch.isspace() or unicodedata.category(ch)[0] == "C" for ch in text)


def _next_of(request) -> str:
    return _safe_next(request, request.POST.get("next") or request.GET.get("next"))


def _with_next(url: str, next_url: str) -> str:
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


def _code_in(next_url: str) -> str:
    """The recharge code carried by a ``/recharge?code=`` URL, else ""."""
    if not next_url:
        return ""
    parts = urlsplit(next_url)
    if parts.path.rstrip("/") != reverse("portal:recharge").rstrip("/"):
        return ""
    code, _err = clean_code((parse_qs(parts.query).get("code") or [""])[0])
    return code


def clean_code(text: str | None) -> tuple[str, str | None]:
    """What a person typed ("1234 5678", "1234-5678") → (digits, error message or None),
    read by ``codes.parse`` like at every other door."""
    try:
        return codes.parse(text), None
    except codes.CodeError as exc:
        return "", (_("Enter a recharge code.") if exc.reason == "empty" else str(exc))


def _shown_code(text: str | None) -> str:
    """A code as typed, for refilling a form: grouped when it is only digits."""
    raw = (text or "").strip()[:_MAX_CODE_INPUT]
    code, err = clean_code(raw)
    return codes.group(code) if err is None else raw


def _redeem(request, customer, text: str) -> tuple[object | None, str | None]:
    """Redeem ``text`` for the logged-in ``customer``: (Redemption, None) or (None, error)."""
    code, error = clean_code(text)
    if error:
        return None, error
    source = recharges.Source(ip=_ip(request), account=customer.username, door="portal")
    try:
        redemption = recharges.redeem(code, customer=customer, source=source,
                                      actor=_actor(request, customer))
    except recharges.RechargeError as exc:
        return None, texts.redeem_error(exc)
    messages.success(request, _success_text(redemption))
    return redemption, None


def _success_text(redemption) -> str:
    if redemption.amount == 0:
        # A code-named account logging in again with its code: nothing new credited.
        return _("Welcome back. Your balance is %(balance)s.") % {
            "balance": money(redemption.balance)}
    return _("%(amount)s added to your credit. Your balance is now %(balance)s.") % {
        "amount": money(redemption.amount), "balance": money(redemption.balance),
    }


def _kind_label(kind: str, amount: int) -> str:
    if "redeem" in kind or kind.startswith("recharge"):
        return _("Recharge code")
    if kind.endswith(".reversal"):
        return _("Correction")
    labels = {
        "deposit": _("Deposit at the counter"),
        "refund": _("Refund"),
        "adjustment": _("Adjustment"),
    }
    if kind in labels:
        return labels[kind]
    if kind in kinds.KINDS:  # what was spent on: café time, Wi-Fi, a phone call, ...
        return kinds.kind_label(kind)
    return _("Credit") if amount >= 0 else _("Spent")


def _page(request, template: str, context: dict, status: int = 200):
    customer = request.customer
    base = {"customer": customer, "next": context.get("next", ""),
            "on_wifi": auth.on_wifi(request)}
    if customer is not None:
        bal = accounts.balance(customer)
        free = accounts.available(customer)  # less what live calls hold
        base.update(
            balance=bal,
            balance_text=money(bal),
            available_text=money(free) if free != bal else "",
            balance_low=is_low(free),
            code_account=customer.origin == customer.Origin.CODE and not customer.has_password,
            username_shown=_shown_name(customer.username),
        )
    base.update(context)
    return render(request, template, base, status=status)


def _shown_name(username: str) -> str:
    """A code account's username grouped as on the card ("0520 9252")."""
    return codes.group(username) if username.isdigit() else username


def _login_required(request):
    target = _with_next(reverse("portal:login"), request.get_full_path())
    return HttpResponseRedirect(target)


# --- pages -------------------------------------------------------------------------------
@portal_page
@require_http_methods(["GET", "HEAD", "POST"])
def home(request):
    customer = request.customer
    if customer is None:
        return redirect("portal:login")
    error = None
    typed = ""
    if request.method == "POST":
        typed = request.POST.get("code", "")
        redemption, error = _redeem(request, customer, typed)
        if redemption is not None:
            return redirect("portal:home")
    return _page(request, "portal/home.html", {
        "code_error": error, "code_value": _shown_code(typed) if error else "",
        "movements": _movements(customer),
    })


def _movements(customer) -> list[dict]:
    """The customer's recent history, with the code of each redeemed recharge."""
    rows = accounts.history(customer, limit=10)
    ids = [int(m.reference.split(":", 1)[1]) for m in rows
           if m.reference.startswith("recharge:") and m.reference[9:].isdigit()]
    code_of = dict(Recharge.objects.filter(pk__in=ids).values_list("pk", "code")) if ids else {}
    out = []
    for m in rows:
        code = ""
        if m.reference.startswith("recharge:") and m.reference[9:].isdigit():
            code = code_of.get(int(m.reference[9:]), "")
        out.append({
            "at": texts.venue_time(m.at),
            "label": _kind_label(m.kind, m.amount),
            "code": codes.group(code) if code else "",
            "amount": m.amount,
            "amount_text": ("+" if m.amount > 0 else "") + money(m.amount),
        })
    return out


@portal_page
@require_http_methods(["GET", "HEAD", "POST"])
def login(request):
    next_url = _next_of(request)
    if request.method != "POST":
        if request.customer is not None:
            return HttpResponseRedirect(next_url or reverse("portal:home"))
        return _login_page(request, next_url)
    if request.POST.get("action") == "code":
        return _login_with_code(request, next_url)
    return _login_with_password(request, next_url)


def _login_page(request, next_url: str, **context):
    pending = _code_in(next_url)
    return _page(request, "portal/login.html", {
        "next": next_url,
        "pending_code": codes.group(pending) if pending else "",
        **context,
    })


def _login_with_password(request, next_url: str):
    # Usernames never contain spaces: "0520 9252" (a code account, as printed) is 05209252.
    username = "".join((request.POST.get("username") or "").split())[:150]
    if not _printable(username):  # a NUL would not even reach PostgreSQL
        username = "".join(ch for ch in username if _printable(ch))
    password = request.POST.get("password") or ""
    if not username or not password:
        return _login_page(request, next_url, username=username,
                           login_error=_("Enter your username and your password or PIN."))
    # Browsers this customer logged in from before are never locked out by strangers'
    # failures (see ficha.accounts.logins and docs/security.md).
    result = logins.customer_login(
        username, password, ip=_ip(request),
        device_entries_of=lambda c: logins.customer_device_tag(request, c))
    if result.wait:
        return _login_page(request, next_url, username=username,
                           login_error=texts.too_many_attempts(result.wait))
    if result.disabled:
        # Only someone who knows the password learns that the account is disabled.
        return _login_page(request, next_url, username=username, login_error=_(
            "This account is disabled; please ask at the counter."))
    customer = result.customer
    if customer is None:
        error = _("Wrong username or password.")
        if result.pin_locked:
            error = _("Wrong username or password. PINs stop working on new devices after "
                      "many wrong guesses: use your password, or ask at the counter.")
        return _login_page(request, next_url, username=username, login_error=error)
    auth.login(request, customer)
    accounts.touch(customer)
    if is_low(accounts.balance(customer)) and not _code_in(next_url):
        response = HttpResponseRedirect(_with_next(reverse("portal:topup"), next_url))
    else:
        response = HttpResponseRedirect(next_url or reverse("portal:home"))
    logins.remember_customer(request, response, customer)
    return response


def _login_with_code(request, next_url: str):
    typed = request.POST.get("code", "")
    code, error = clean_code(typed)
    if error is None:
        source = recharges.Source(ip=_ip(request), door="portal_login")
        try:
            redemption = recharges.redeem_for_login(code, source=source)
        except recharges.RechargeError as exc:
            error = texts.redeem_error(exc)
    if error is not None:
        return _login_page(request, next_url, code_error=error, code_value=_shown_code(typed))
    auth.login(request, redemption.customer)
    accounts.touch(redemption.customer)
    messages.success(request, _success_text(redemption))
    if _code_in(next_url) == code:
        next_url = ""  # that code is now used: do not offer it again
    if is_low(redemption.balance) and not _code_in(next_url):
        # Back with the code of an account whose credit is spent.
        response = HttpResponseRedirect(_with_next(reverse("portal:topup"), next_url))
    else:
        response = HttpResponseRedirect(next_url or reverse("portal:home"))
    logins.remember_customer(request, response, redemption.customer)
    return response


@portal_page
@require_http_methods(["GET", "HEAD", "POST"])
def logout(request):
    if request.method == "POST":
        if request.customer is not None:
            auth.logout(request)
            messages.info(request, _("You are logged out."))
        return redirect("portal:login")
    return redirect("portal:home" if request.customer is not None else "portal:login")


@portal_page
@require_http_methods(["GET", "HEAD", "POST"])
def recharge(request):
    """The page printed QR codes open: ``/recharge?code=12345678``."""
    customer = request.customer
    if request.method == "POST":
        typed = request.POST.get("code", "")
        if customer is None:
            # Logged out meanwhile: log in first, the code comes along.
            code, _err = clean_code(typed)
            back = reverse("portal:recharge") + (f"?{urlencode({'code': code})}" if code else "")
            return HttpResponseRedirect(_with_next(reverse("portal:login"), back))
        redemption, error = _redeem(request, customer, typed)
        if redemption is not None:
            return redirect("portal:home")
        return _page(request, "portal/recharge.html", {
            "code_value": _shown_code(typed), "code_error": error,
        })
    typed = request.GET.get("code", "")
    code, _err = clean_code(typed)
    context = {"code_value": _shown_code(typed)}
    if customer is None:
        here = reverse("portal:recharge") + (f"?{urlencode({'code': code})}" if code else "")
        context["login_url"] = _with_next(reverse("portal:login"), here)
        context["next"] = ""
    return _page(request, "portal/recharge.html", context)


@portal_page
@require_http_methods(["GET", "HEAD", "POST"])
def topup(request):
    """The low-credit prompt shown right after login: enter a recharge code, or go on."""
    customer = request.customer
    next_url = _next_of(request)
    if customer is None:
        return _login_required(request)
    error = None
    typed = ""
    if request.method == "POST":
        typed = request.POST.get("code", "")
        redemption, error = _redeem(request, customer, typed)
        if redemption is not None:
            return HttpResponseRedirect(next_url or reverse("portal:home"))
    elif not is_low(accounts.balance(customer)):
        return HttpResponseRedirect(next_url or reverse("portal:home"))
    return _page(request, "portal/topup.html", {
        "next": next_url, "code_error": error,
        "code_value": _shown_code(typed) if error else "",
        "continue_url": next_url or reverse("portal:home"),
    })


@portal_page
@require_http_methods(["GET", "HEAD", "POST"])
def set_password(request):
    """Set a password (accounts opened with a code) or change it (current one required)."""
    customer = request.customer
    if customer is None:
        return _login_required(request)
    errors: dict[str, str] = {}
    needs_current = customer.has_password or bool(customer.pin)
    if request.method == "POST":
        current_pw = request.POST.get("current") or ""
        new = request.POST.get("password") or ""
        again = request.POST.get("password2") or ""
        keys = [f"ip:{_ip(request)}" if _ip(request) else None,
                f"user:{customer.username.lower()}"]
        if needs_current:
            wait = throttle.claim("portal_login", keys)
            if wait:
                errors["current"] = texts.too_many_attempts(wait)
            elif len(current_pw) > _MAX_PASSWORD or not (
                customer.check_password(current_pw) or customer.check_pin(current_pw)
            ):
                errors["current"] = _("Your current password or PIN is wrong.")
            else:
                throttle.forgive("portal_login", keys)
        if not errors:
            if not new:
                errors["password"] = _("Choose a password.")
            elif len(new) > _MAX_PASSWORD:
                errors["password"] = _("This password is too long.")
            elif new.strip().lower() == customer.username.lower():
                errors["password"] = _("Choose a password different from your username.")
            elif new != again:
                errors["password2"] = _("The two passwords are different.")
        if not errors:
            try:
                updated = accounts.set_customer_password(
                    _actor(request, customer), customer, password=new)
            except accounts.AccountError as exc:
                errors["password"] = str(exc)
            else:
                auth.refresh(request, updated)
                messages.success(request, _(
                    "Your password is set. Next time, log in with your username "
                    "%(username)s and this password."
                ) % {"username": _shown_name(updated.username)})
                return redirect("portal:home")
    return _page(request, "portal/set_password.html", {
        "errors": errors, "needs_current": needs_current,
    })
