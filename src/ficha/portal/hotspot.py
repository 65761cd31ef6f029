"""The captive portal: the pages a Wi-Fi gateway sends a customer's phone to.

Thin doors over ``ficha.hotspot.gateways`` (what each gateway sends and wants back) and
``ficha.hotspot.services`` (which NAS, time left, recharge while connected):

- ``/hotspot/mikrotik``, ``/hotspot/chilli``, ``/hotspot/opennds``: the gateway's login
  redirect lands here. The customer logs in (username + password, or a recharge code
  alone); the portal then gives the gateway a one-time login ticket: a form posted back
  to the MikroTik (sent by a script file when JavaScript runs, else by a button), or a
  link to chilli's ``/logon`` or openNDS's ``/opennds_auth/`` (followed by a
  ``<meta refresh>``, so without JavaScript too).
- ``/hotspot/status``: time and data left, the charge so far line by line, a recharge
  form, log out.

The browser is only ever sent to an address the NAS registry allows for that gateway
(its *login page addresses*, else its RADIUS address): anything else is a 400 with a
message, never a redirect.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from ficha.accounts import logins
from ficha.accounts import services as accounts
from ficha.core.services import currency as venue_currency
from ficha.hotspot import gateways
from ficha.hotspot import services as hotspot
from ficha.hotspot.models import Nas
from ficha.recharges import services as recharges
from ficha.reports import labels
from ficha.tariffs import engine

from . import auth, texts
from .views import (
    _page,
    _printable,
    _shown_code,
    _success_text,
    clean_code,
    portal_page,
)

log = logging.getLogger(__name__)

SESSION_KEY = auth.WIFI_GATEWAY_KEY
LOGGED_OUT_KEY = "hotspot_logged_out"  # logged out of the Wi-Fi on this browser
VENDORS = {"mikrotik": gateways.MIKROTIK, "chilli": gateways.COOVACHILLI,
           "opennds": gateways.OPENNDS}


def _error_text(reason: str) -> str:
    return {
        "bad_chap": _("The Wi-Fi login link is incomplete. Open any web page to get a "
                      "fresh one."),
        "bad_md": _("This Wi-Fi login link was not signed by the Wi-Fi gateway. Open any "
                    "web page to get a fresh one."),
        "unknown": _("This Wi-Fi gateway is not registered here. Please ask at the "
                     "counter."),
        "expired": _("Your Wi-Fi login has expired. Open any web page to get a fresh "
                     "one."),
    }.get(reason, _("The Wi-Fi gateway sent a login link Ficha cannot use. Open any web "
                    "page to get a fresh one."))


def _refuse(request, reason: str, status: int = 400):
    return _page(request, "portal/hotspot/problem.html",
                 {"problem": _error_text(reason)}, status=status)


def _gateway(request) -> tuple[gateways.Gateway | None, Nas | None]:
    """The gateway visit kept in the session (checked again against the registry)."""
    data = request.session.get(SESSION_KEY)
    gw = gateways.Gateway.from_dict(data) if isinstance(data, dict) else None
    if gw is None:
        return None, None
    nas = hotspot.portal_nas(gw)
    return (gw, nas) if nas is not None else (None, None)


def _throttle_ip(request) -> str | None:
    """The phone's address for throttling, unless it is a NAS's (a gateway that NATs
    every phone to one address: then the MAC and, loosely, the gateway throttle, or one
    guesser would lock the whole hotspot out)."""
    ip = getattr(request, "client_ip", None)
    if ip and hotspot.find_nas(hotspot.nas_table(), ip) is not None:
        return None
    return ip


def _status_url(request) -> str:
    return request.build_absolute_uri(reverse("portal:hotspot_status"))


# --- the gateway's redirect lands here ----------------------------------------------------
@portal_page
@require_http_methods(["GET", "HEAD", "POST"])
def gateway_login(request, vendor: str):
    kind = VENDORS.get(vendor)
    if kind is None:
        return _refuse(request, "vendor", 404)
    if request.method == "POST":
        gw, nas = _gateway(request)
        if gw is None or gw.vendor != kind or (
                kind == gateways.COOVACHILLI and not gw.challenge):
            return _refuse(request, "expired")
        return _login_post(request, gw, nas)
    try:
        gw = gateways.parse(kind, request.GET)
    except gateways.GatewayError as exc:
        return _refuse(request, str(exc))
    nas = hotspot.portal_nas(gw)
    if nas is None:
        log.warning("captive portal: no %s NAS allows %s", kind, ", ".join(gw.hosts))
        return _refuse(request, "unknown")
    if kind == gateways.COOVACHILLI and nas.uam_secret and not gateways.chilli_check_md(
            request.build_absolute_uri(), nas.uam_secret):
        return _refuse(request, "bad_md")
    request.session[SESSION_KEY] = gw.as_dict()
    request.session.pop(LOGGED_OUT_KEY, None)
    res = gw.extra.get("res", "")
    if res in ("success", "already"):
        return HttpResponseRedirect(reverse("portal:hotspot_status"))
    if res == "logoff" or (res not in ("notyet", "failed", "") and not gw.challenge):
        return _disconnected(request)
    error = ""
    if res == "failed" or gw.error:
        error = gw.error or _("The Wi-Fi gateway refused the login.")
    return _login_page(request, gw, login_error=error)


def _disconnected(request):
    """Off the Wi-Fi: the way back on is the gateway's own redirect to its login page."""
    return _page(request, "portal/hotspot/problem.html", {
        "problem": _("You are disconnected from the Wi-Fi. Open any web page to log "
                     "in again."), "title": _("Disconnected")})


def _login_page(request, gw: gateways.Gateway, status: int = 200, **context):
    return _page(request, "portal/hotspot/login.html", {
        "action": request.path, "gateway": gw, **context}, status=status)


def _login_post(request, gw: gateways.Gateway, nas: Nas):
    action = request.POST.get("action")
    ip = _throttle_ip(request)
    wait = 0  # seconds to wait after too many failed attempts
    if action == "connect" and request.customer is not None:
        customer = request.customer
    elif action == "code":
        typed = request.POST.get("code", "")
        code, error = clean_code(typed)
        customer = None
        if error is None:
            source = recharges.Source(ip=ip, mac=hotspot.normalize_mac(gw.mac) or None,
                                      door="hotspot",
                                      station=f"nas:{nas.name}"[:64])
            try:
                redemption = recharges.redeem_for_login(code, source=source)
            except recharges.RechargeError as exc:
                error, wait = texts.redeem_error(exc), texts.throttled_for(exc)
            else:
                customer = redemption.customer
                messages.success(request, _success_text(redemption))
        if customer is None:
            return _held_back(_login_page(request, gw, 400, code_error=error,
                                          code_value=_shown_code(typed)), wait)
    else:
        username = "".join((request.POST.get("username") or "").split())[:150]
        username = "".join(ch for ch in username if _printable(ch))
        password = request.POST.get("password") or ""
        if not username or not password:
            return _login_page(request, gw, 400, username=username, login_error=_(
                "Enter your username and your password or PIN."))
        # As at the portal's own login: per address and account, and browsers this
        # customer logged in from before are never locked out by strangers' failures.
        # From the gateway's own address (it NATs every phone), the gateway's loose key
        # stands for the address.
        result = logins.customer_login(
            username, password, ip=ip, gateway=None if ip else f"nas:{nas.name}"[:64],
            device_entries_of=lambda c: logins.customer_device_tag(request, c))
        if result.wait:
            error, wait = texts.too_many_attempts(result.wait), result.wait
        elif result.disabled:
            error = _("This account is disabled; please ask at the counter.")
        elif result.customer is None:
            error = _("Wrong username or password.")
        else:
            error = ""
        if error:
            return _held_back(_login_page(request, gw, 400, username=username,
                                          login_error=error), wait)
        customer = result.customer
    if request.customer is None or request.customer.pk != customer.pk:
        auth.login(request, customer)
    accounts.touch(customer)
    state = hotspot.status(customer, gw.mac)
    if state.used_up:
        # The gateway would refuse it: ask for a code first, on the status page.
        messages.warning(request, _("Your credit is used up: enter a recharge code."))
        return HttpResponseRedirect(reverse("portal:hotspot_status"))
    return _handoff(request, gw, nas, customer)


def _handoff(request, gw: gateways.Gateway, nas: Nas, customer):
    """Give the gateway a one-time ticket for ``customer``: the page that sends it."""
    ticket = hotspot.issue_ticket(customer)
    context = {"gateway": gw, "title": _("Connecting to the Wi-Fi…")}
    form_origin = ""
    if gw.vendor == gateways.MIKROTIK:
        context["post_url"] = gw.login_url
        context["fields"] = sorted(gateways.mikrotik_form(
            gw, customer.username, ticket.secret, dst=_status_url(request)).items())
        form_origin = gateways.origin(gw.login_url)
    elif gw.vendor == gateways.COOVACHILLI:
        context["go_url"] = gateways.chilli_logon_url(
            gw, customer.username, ticket.secret, nas.uam_secret, userurl=gw.orig_url)
    else:
        # openNDS asks no RADIUS server: Ficha decides here, with the ticket, exactly as
        # it would answer an Access-Request (credit, plan, validity, devices). It reports
        # no usage either: Ficha opens the session and meters it by wall clock, and the
        # router gets the same limits through BinAuth (signed ``custom``).
        decision, _session = hotspot.portal_login(nas, customer, ticket.secret,
                                                  hid=gw.hid, mac=gw.mac, ip=gw.ip)
        if not decision.accept:
            return _login_page(request, gw, 403, login_error=decision.message)
        plan = decision.plan
        custom = hotspot.binauth_custom(
            gw.hid, nas.fas_key, decision.session_timeout, up_kbps=plan.rate_up_kbps or 0,
            down_kbps=plan.rate_down_kbps or 0, quota_bytes=decision.quota)
        context["go_url"] = gateways.opennds_auth_url(gw, nas.fas_key,
                                                      redir=_status_url(request),
                                                      custom=custom)
    response = _page(request, "portal/hotspot/handoff.html", context)
    if form_origin:
        _allow_form_to(response, form_origin)
    return response


def _allow_form_to(response, form_origin: str) -> None:
    """This page's form posts to the gateway: its origin joins ``form-action``."""
    policy = settings.CONTENT_SECURITY_POLICY
    if not policy:
        return
    parts = [p.strip() for p in policy.split(";") if p.strip()]
    for i, part in enumerate(parts):
        if part.split()[0] == "form-action":
            parts[i] = f"{part} {form_origin}"
            break
    else:
        parts.append(f"form-action 'self' {form_origin}")
    response["Content-Security-Policy"] = "; ".join(parts)


# --- connected: status, recharge, log out -------------------------------------------------
def _status_page(request, status: int = 200, **context):
    customer = request.customer
    gw, nas = _gateway(request)
    state = hotspot.status(customer, gw.mac if gw else "")
    currency = venue_currency()
    breakdown = hotspot.charge_so_far(state.session, currency) if state.session else None
    return _page(request, "portal/hotspot/status.html", {
        "state": state, "gateway": gw, "breakdown": breakdown,
        "charge_rows": hotspot.charge_rows(breakdown, currency),
        "charge_total": engine.format_minor(breakdown.total, currency) if breakdown else "",
        "remaining_time": _duration(state.remaining_seconds),
        "remaining_data": labels.data_left(state.remaining_bytes),
        "valid_until": texts.venue_time(state.valid_until) if state.valid_until else None,
        "connect_url": reverse("portal:hotspot_login", args=[_slug(gw.vendor)]) if gw else "",
        **context}, status=status)


def _slug(vendor: str) -> str:
    return next(k for k, v in VENDORS.items() if v == vendor)


@portal_page
@require_http_methods(["GET", "HEAD", "POST"])
def status(request):
    if request.customer is None:
        if request.session.get(LOGGED_OUT_KEY):  # back from the gateway's log-out page
            return _disconnected(request)
        return HttpResponseRedirect(
            reverse("portal:login") + "?next=" + reverse("portal:hotspot_status"))
    if request.method != "POST":
        return _status_page(request)
    gw, nas = _gateway(request)
    typed = request.POST.get("code", "")
    code, error = clean_code(typed)
    wait = 0
    if error is None:
        try:
            redemption = hotspot.redeem_connected(
                code, customer=request.customer, nas=nas, mac=gw.mac if gw else "",
                ip=_throttle_ip(request))
        except recharges.RechargeError as exc:
            error, wait = texts.redeem_error(exc), texts.throttled_for(exc)
        else:
            messages.success(request, _success_text(redemption))
            return HttpResponseRedirect(reverse("portal:hotspot_status"))
    return _held_back(_status_page(request, 400, code_error=error,
                                   code_value=_shown_code(typed)), wait)


def _held_back(response, wait: int):
    """A refusal because of too many failed attempts: 429 with Retry-After (the page says
    the wait in words), like the API; other refusals keep their status."""
    if wait:
        response.status_code = 429
        response["Retry-After"] = str(max(1, int(wait)))
    return response


@portal_page
@require_http_methods(["GET", "HEAD", "POST"])
def logout(request):
    """End the portal session, then send the browser to the gateway's log-out address
    (a POST: a link followed or typed lands on the status page and its log-out button)."""
    if request.method != "POST":
        return HttpResponseRedirect(reverse("portal:hotspot_status"))
    gw, _nas = _gateway(request)
    if request.customer is not None:
        # Sessions Ficha meters itself (openNDS) end here; RADIUS gateways send a Stop.
        hotspot.log_out(request.customer, gw.mac if gw else "")
        auth.logout(request)
    if request.session.pop(SESSION_KEY, None) is not None:
        request.session[LOGGED_OUT_KEY] = True  # the Back button lands on "disconnected"
    if gw is None or not gw.logout_url:
        messages.info(request, _("You are logged out."))
        return HttpResponseRedirect(reverse("portal:login"))
    return _page(request, "portal/hotspot/handoff.html", {
        "go_url": gw.logout_url, "title": _("Disconnecting from the Wi-Fi…")})


def _duration(seconds: int | None) -> str:
    return str(_("No time limit")) if seconds is None else labels.time_left(seconds)



# --- the openNDS router reports a session's end (BinAuth) --------------------------------
@csrf_exempt  # a machine door: the report is signed with the NAS's FAS key instead
@require_http_methods(["POST"])
def opennds_ended(request):
    """contrib/opennds/ficha-binauth.sh posts here when openNDS lets a client on
    (``auth_client``: the login is confirmed) and when it ends a client's session (log
    out, idle, timeout, quota, shutdown): Ficha then stops metering it. 204 done; 404
    nothing to do (unknown sender or session, already stopped, bad signature); 400
    malformed."""
    try:
        incoming = int(request.POST.get("in", ""))
        outgoing = int(request.POST.get("out", ""))
    except ValueError:
        incoming = outgoing = -1
    if not (0 <= incoming < 2 ** 62 and 0 <= outgoing < 2 ** 62):
        return HttpResponse("bad counters\n", status=400, content_type="text/plain")
    hid = (request.POST.get("hid") or "").strip().lower()
    if request.POST.get("method") == hotspot.AUTH_CLIENT:
        confirmed = hotspot.gateway_authorised(
            getattr(request, "client_ip", None), hid,
            (request.POST.get("sig") or "").strip().lower())
        if not confirmed:
            return HttpResponse("no such session\n", status=404, content_type="text/plain")
        return HttpResponse(status=204)
    result = hotspot.gateway_ended(
        getattr(request, "client_ip", None), hid, request.POST.get("method", ""),
        incoming, outgoing, (request.POST.get("sig") or "").strip().lower())
    if result is None:
        return HttpResponse("no such session\n", status=404, content_type="text/plain")
    return HttpResponse(status=204)
