"""The captive portal without JavaScript (Django test client): a gateway's login redirect,
a code or a password, the one-time ticket handed back to the gateway, the status page and
a recharge while connected; hostile parameters never send a browser anywhere else."""

from __future__ import annotations

import datetime as dt
import html as htmllib
import re
import socket
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from ficha.accounts import services as accounts
from ficha.accounts.models import Customer
from ficha.core import clock, codes
from ficha.hotspot import gateways as g
from ficha.hotspot import services as hs
from ficha.hotspot.models import HotspotSession, LoginTicket
from ficha.recharges import services as rs
from ficha.recharges.models import RedeemAttempt

from .conftest import actor_for
from .hotspot_support import acct, give_credit, make_nas, make_plan

T0 = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
MAC = "AA:BB:CC:00:00:01"
CHALLENGE = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def sold(owner, cashier, open_shift):
    office, desk = actor_for(owner), actor_for(cashier)

    def make(amount: int = 1000, n: int = 1) -> list[str]:
        batch = rs.generate(office, count=n, amount=amount)
        rs.sell(desk, batch.recharges.all())
        return [r.code for r in batch.recharges.order_by("id")]

    return make


@pytest.fixture
def mikrotik(db):
    make_plan(price_per_hour=600, increment_seconds=60)  # 10 per minute
    return make_nas(name="hall", vendor="mikrotik", address="192.168.88.1",
                    portal_hosts="10.5.50.1, hotspot.lan")


def mikrotik_query(**over) -> str:
    params = {"link-login-only": "http://10.5.50.1/login", "chap-id": r"\371",
              "chap-challenge": r"\015\212+Ln\037:[|\235\016/Jk\214\035", "mac": MAC,
              "ip": "10.5.50.7", "link-orig": "http://example.com/",
              "link-logout": "http://10.5.50.1/logout", "server-name": "hall"}
    params.update(over)
    return urlencode({k: v for k, v in params.items() if v is not None})


def page(resp) -> str:
    return resp.content.decode()


def hidden_fields(text: str) -> dict[str, str]:
    return {m[0]: htmllib.unescape(m[1]) for m in re.findall(
        r'<input type="hidden" name="([^"]+)" value="([^"]*)">', text)}


def chap_auth(nas, fields: dict, challenge: bytes, chap_id: int = 0xF9):
    """What the router asks RADIUS with the posted form (CHAP)."""
    return hs.authorize(nas, hs.AuthRequest(
        username=fields["username"], chap_id=chap_id,
        chap_response=bytes.fromhex(fields["password"]), chap_challenge=challenge, mac=MAC))


def test_mikrotik_code_login_hands_the_router_a_one_time_chap_ticket(client, mikrotik, sold):
    (code,) = sold(1200)
    resp = client.get(f"/hotspot/mikrotik?{mikrotik_query()}")
    assert resp.status_code == 200
    assert "Enter your recharge code" in page(resp)
    assert "<script" not in page(resp)  # the login page needs no JavaScript
    resp = client.post("/hotspot/mikrotik", {"action": "code", "code": codes.group(code)})
    assert resp.status_code == 200
    text = page(resp)
    assert '<form method="post" action="http://10.5.50.1/login"' in text
    assert "Continue" in text  # the button when JavaScript is off
    assert "form-action 'self' http://10.5.50.1" in resp["Content-Security-Policy"]
    fields = hidden_fields(text)
    assert fields["username"] == code and fields["popup"] == "false"
    assert fields["dst"] == "http://testserver/hotspot/status"
    ticket = LoginTicket.objects.get()
    assert fields["password"] != ticket.secret and len(fields["password"]) == 32  # CHAP
    attempt = RedeemAttempt.objects.latest("id")
    assert (attempt.door, attempt.mac, attempt.outcome) == ("hotspot", MAC.lower(), "success")

    challenge = g.unescape_mikrotik(r"\015\212+Ln\037:[|\235\016/Jk\214\035")
    decision = chap_auth(mikrotik, fields, challenge)
    assert decision.accept and decision.session_timeout == 120 * 60  # 1,200 at 10/min
    again = chap_auth(mikrotik, fields, challenge)  # the ticket works once
    assert not again.accept
    assert accounts.balance(decision.customer) == 1200  # the code was redeemed once


def test_password_account_logs_in_and_the_ticket_works_with_pap(client, mikrotik,
                                                                make_customer):
    ada = make_customer("ada", password="ada-secret")
    give_credit(ada, 600)
    client.get(f"/hotspot/mikrotik?{mikrotik_query(**{'chap-id': None, 'chap-challenge': None})}")
    bad = client.post("/hotspot/mikrotik", {"action": "password", "username": "ada",
                                            "password": "nope"})
    assert bad.status_code == 400 and "Wrong username or password." in page(bad)
    resp = client.post("/hotspot/mikrotik", {"action": "password", "username": "ada",
                                             "password": "ada-secret"})
    fields = hidden_fields(page(resp))
    assert fields["username"] == "ada" and fields["password"] != "ada-secret"
    decision = hs.authorize(mikrotik, hs.AuthRequest(username="ada",
                                                     password=fields["password"], mac=MAC))
    assert decision.accept and decision.session_timeout == 3600


def test_a_customer_without_credit_is_asked_for_a_code_first(client, mikrotik, make_customer):
    make_customer("bob", password="bob-secret")
    client.get(f"/hotspot/mikrotik?{mikrotik_query()}")
    resp = client.post("/hotspot/mikrotik", {"action": "password", "username": "bob",
                                             "password": "bob-secret"})
    assert resp.status_code == 302 and resp["Location"] == "/hotspot/status"
    text = page(client.get("/hotspot/status"))
    assert "Your credit is used up: enter a recharge code." in text
    assert 'id="time-left">0 min<' in text
    assert not LoginTicket.objects.exists()


@pytest.mark.parametrize("over", [
    {"link-login-only": "http://evil.example/login"},  # not the NAS's login address
    {"link-login-only": "http://10.5.50.1/login", "link-logout": "http://evil.example/x"},
    {"link-login-only": "javascript:alert(document.cookie)"},
    {"link-login-only": "http://10.5.50.1/login\"><script>alert(1)</script>"},
    {"chap-challenge": ""},
])
def test_hostile_gateway_parameters_get_a_400_with_a_message_and_no_redirect(
        client, mikrotik, over):
    resp = client.get(f"/hotspot/mikrotik?{mikrotik_query(**over)}")
    assert resp.status_code == 400
    assert "Location" not in resp
    text = page(resp)
    assert 'id="problem"' in text
    assert not re.search(r'(href|action|url)="?=?https?://evil', text)
    assert "<script>alert" not in text
    # and nothing was kept to post to later
    post = client.post("/hotspot/mikrotik", {"action": "code", "code": "12345678"})
    assert post.status_code == 400 and "10.5.50.1" not in page(post)


def test_unknown_vendor_path_is_404(client, mikrotik):
    assert client.get("/hotspot/cisco?x=1").status_code == 404


def test_a_gateway_not_in_the_registry_is_refused(client, mikrotik):
    resp = client.get(f"/hotspot/mikrotik?{mikrotik_query(**{'link-login-only': 'http://10.9.9.9/login'})}")
    assert resp.status_code == 400
    assert "This Wi-Fi gateway is not registered here." in page(resp)


# --- CoovaChilli --------------------------------------------------------------------------
@pytest.fixture
def chilli(db):
    make_plan(price_per_hour=600, increment_seconds=60)
    return make_nas(name="cafe", vendor="coovachilli", address="10.1.0.1",
                    uam_secret="uam-secret-123")


def chilli_url(res="notyet", **extra) -> str:
    query = {"res": res, "uamip": "10.1.0.1", "uamport": "3990", "challenge": CHALLENGE,
             "called": "AA-BB-CC-DD-EE-FF", "mac": "11-22-33-44-55-66", "ip": "10.1.0.5",
             "nasid": "cafe", "userurl": "http://example.com/", **extra}
    url = "http://testserver/hotspot/chilli?" + urlencode(query)
    return url + "&md=" + g.chilli_md(url, "uam-secret-123")


def test_chilli_uam_login_with_a_code(client, chilli, sold):
    (code,) = sold(600)
    assert client.get(chilli_url()).status_code == 200
    resp = client.post("/hotspot/chilli", {"action": "code", "code": code})
    assert resp.status_code == 200
    text = page(resp)
    go = htmllib.unescape(re.search(r'id="handoff-link" href="([^"]+)"', text).group(1))
    assert f'<meta http-equiv="refresh" content="0; url={htmllib.escape(go)}">' in text \
        or "http-equiv=\"refresh\"" in text
    parts = urlsplit(go)
    assert (parts.scheme, parts.netloc, parts.path) == ("http", "10.1.0.1:3990", "/logon")
    query = parse_qs(parts.query)
    assert query["username"] == [code] and query["userurl"] == ["http://example.com/"]
    # chilli sends CHAP ident 0 with CHAP-Challenge = K
    key = g.chilli_key(CHALLENGE, "uam-secret-123")
    decision = hs.authorize(chilli, hs.AuthRequest(
        username=code, chap_id=0, chap_response=bytes.fromhex(query["response"][0]),
        chap_challenge=key, mac="11:22:33:44:55:66"))
    assert decision.accept and decision.session_timeout == 3600


def test_chilli_md_is_checked(client, chilli):
    url = chilli_url().replace("uamport=3990", "uamport=3991")
    resp = client.get(url)
    assert resp.status_code == 400
    assert "was not signed by the Wi-Fi gateway" in page(resp)
    no_md = chilli_url().split("&md=")[0]
    assert client.get(no_md).status_code == 400


def test_chilli_results(client, chilli, make_customer):
    failed = client.get(chilli_url("failed", reply="Your credit is used up"))
    assert failed.status_code == 200 and "Your credit is used up" in page(failed)
    success = client.get(chilli_url("success"))
    assert success.status_code == 302 and success["Location"] == "/hotspot/status"
    logoff = client.get(chilli_url("logoff", challenge=""))
    assert logoff.status_code == 200 and "You are disconnected from the Wi-Fi" in page(logoff)


# --- openNDS ------------------------------------------------------------------------------
def test_opennds_fas_login(client, sold, db):
    import base64
    import hashlib

    make_plan(price_per_hour=600, increment_seconds=60)
    make_nas(name="kiosk", vendor="opennds", address="192.168.8.1", fas_key="fas-key-12345")
    (code,) = sold(600)
    hid = hashlib.sha256(b"token123").hexdigest()
    fas = base64.b64encode(
        f"hid={hid}, clientip=192.168.8.20, clientmac=aa:bb:cc:00:00:02, gatewayname=kiosk, "
        "gatewayaddress=192.168.8.1:2050, originurl=http://example.com/".encode()).decode()
    assert client.get(f"/hotspot/opennds?fas={fas}").status_code == 200
    text = page(client.post("/hotspot/opennds", {"action": "code", "code": code}))
    go = htmllib.unescape(re.search(r'id="handoff-link" href="([^"]+)"', text).group(1))
    assert go == ("http://192.168.8.1:2050/opennds_auth/?tok=" + g.fas_rhid(hid, "fas-key-12345")
                  + "&redir=http%3A%2F%2Ftestserver%2Fhotspot%2Fstatus&custom="
                  + hs.binauth_custom(hid, "fas-key-12345", 3600))


# --- connected: status and recharge -------------------------------------------------------
def online_with_code(client, mikrotik, code):
    """At T0: the router's redirect, a code typed on its login page, the router's CHAP
    login accepted and its accounting Start. Returns (the hand-off's fields, decision)."""
    with clock.frozen(T0):
        client.get(f"/hotspot/mikrotik?{mikrotik_query()}")
        fields = hidden_fields(page(client.post("/hotspot/mikrotik",
                                                {"action": "code", "code": code})))
        challenge = g.unescape_mikrotik(r"\015\212+Ln\037:[|\235\016/Jk\214\035")
        decision = chap_auth(mikrotik, fields, challenge)
        hs.account(mikrotik, hs.AcctRequest(status=hs.START, session_id="s1",
                                            username=fields["username"], mac=MAC,
                                            klass=decision.attributes[-1][1]))
    return fields, decision


def test_status_and_recharge_while_connected_extends_the_session(client, mikrotik, sold,
                                                                 monkeypatch):
    first, second = sold(600), sold(1200)
    changed = []
    monkeypatch.setattr(hs, "credit_changed", lambda customer: changed.append(customer),
                        raising=False)
    fields, decision = online_with_code(client, mikrotik, first[0])
    assert decision.session_timeout == 3600
    with clock.frozen(T0 + dt.timedelta(minutes=10)):
        text = page(client.get("/hotspot/status"))
        assert "You are online" in text
        assert 'id="time-left">50 min<' in text
        resp = client.post("/hotspot/status", {"code": codes.group(second[0])})
        assert resp.status_code == 302 and resp["Location"] == "/hotspot/status"
        text = page(client.get("/hotspot/status"))
        assert "1,200 added to your credit" in text
        assert 'id="time-left">2 h 50 min<' in text
    customer = decision.customer
    assert changed == [customer]
    attempt = RedeemAttempt.objects.latest("id")
    assert (attempt.door, attempt.mac, attempt.station) == ("hotspot", MAC.lower(), "nas:hall")
    assert HotspotSession.objects.get().status == HotspotSession.Status.OPEN


def test_recharge_refusals_and_throttling_on_the_status_page(client, mikrotik, sold):
    (code,) = sold(600)
    client.get(f"/hotspot/mikrotik?{mikrotik_query()}")
    client.post("/hotspot/mikrotik", {"action": "code", "code": code})
    with clock.frozen(T0):
        for n in range(4):
            resp = client.post("/hotspot/status", {"code": f"{n:04d}1111"})
            assert resp.status_code == 400 and "Invalid code." in page(resp)
        resp = client.post("/hotspot/status", {"code": "99991111"})
        # held back: 429 with the wait, in words on the page and in Retry-After
        assert resp.status_code == 429 and "Too many attempts. Wait" in page(resp)
        assert int(resp["Retry-After"]) > 0


def test_status_needs_a_login(client, db):
    resp = client.get("/hotspot/status")
    assert resp.status_code == 302 and resp["Location"] == "/login?next=/hotspot/status"


def test_logout_ends_the_portal_session_and_sends_the_browser_to_the_gateway(
        client, mikrotik, sold):
    (code,) = sold(600)
    client.get(f"/hotspot/mikrotik?{mikrotik_query()}")
    client.post("/hotspot/mikrotik", {"action": "code", "code": code})
    # a link to the log-out address (typed, or followed) logs nobody out: the status page
    followed = client.get("/hotspot/logout")
    assert followed.status_code == 302 and followed["Location"] == "/hotspot/status"
    status = page(client.get("/hotspot/status"))
    # the header's "Log out" ends the Wi-Fi session too (it only ended the portal's, and
    # the phone stayed online, charged), like the status page's own button
    assert status.count('action="/hotspot/logout"') == 2
    resp = client.post("/hotspot/logout")
    assert resp.status_code == 200
    assert '<meta http-equiv="refresh" content="0; url=http://10.5.50.1/logout">' in page(resp)
    # logged out of the portal; the Back button says how to get on again, not a café login
    back = client.get("/hotspot/status")
    assert back.status_code == 200
    assert "You are disconnected from the Wi-Fi. Open any web page" in page(back)
    assert 'action="/hotspot/logout"' not in page(back)
    # the router's next redirect is a new visit: its login page, then the status page
    client.get(f"/hotspot/mikrotik?{mikrotik_query()}")
    assert client.get("/hotspot/status").status_code == 302


def test_pages_speak_the_phones_language(client, mikrotik):
    resp = client.get(f"/hotspot/mikrotik?{mikrotik_query()}", HTTP_ACCEPT_LANGUAGE="fr-SN")
    assert resp["Content-Language"] == "fr"
    assert '<html lang="fr"' in page(resp)


def test_a_link_may_choose_the_language_and_it_sticks(client, chilli):
    """CoovaChilli passes its lang; any portal link may carry ?lang=: the page speaks it,
    and so do the next ones (the POST of the form has no query string)."""
    resp = client.get("/hotspot/status?lang=es", HTTP_ACCEPT_LANGUAGE="fr")
    assert resp["Content-Language"] == "es"
    assert client.get("/login", HTTP_ACCEPT_LANGUAGE="fr")["Content-Language"] == "es"
    assert client.get("/login?lang=xx")["Content-Language"] == "es"  # unknown: ignored
    assert client.get("/login?lang=de-AT")["Content-Language"] == "de"


# --- Host names ---------------------------------------------------------------------------
def _lan_address() -> str | None:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # no packet is sent
            ip = s.getsockname()[0]
    except OSError:
        return None
    return None if ip.startswith("127.") else ip


def test_the_portal_answers_on_its_lan_address_and_configured_names(client, mikrotik,
                                                                    settings):
    lan = _lan_address()
    if lan:
        resp = client.get(f"/hotspot/mikrotik?{mikrotik_query()}", HTTP_HOST=lan)
        assert resp.status_code == 200
    assert client.get(f"/hotspot/mikrotik?{mikrotik_query()}",
                      HTTP_HOST="portal.lan").status_code == 400
    settings.EXTRA_ALLOWED_HOSTS = ["portal.lan"]
    assert client.get(f"/hotspot/mikrotik?{mikrotik_query()}",
                      HTTP_HOST="portal.lan").status_code == 200


@pytest.mark.parametrize("host, path", [
    ("connectivitycheck.gstatic.com", "/generate_204"),
    ("captive.apple.com", "/hotspot-detect.html"),
    ("www.msftconnecttest.com", "/connecttest.txt"),
])
def test_connectivity_probes_that_reach_ficha_get_a_plain_refusal(client, db, host, path):
    # Not the answer the phone expects ("204" / "Success"), so it shows its login sheet.
    resp = client.get(path, HTTP_HOST=host)
    assert resp.status_code == 400


# --- more of the login page ---------------------------------------------------------------
def test_the_routers_refusal_is_shown_on_the_login_page(client, mikrotik):
    refused = "Your credit is used up: enter a recharge code."
    resp = client.get(f"/hotspot/mikrotik?{mikrotik_query(error=refused)}")
    assert resp.status_code == 200
    assert "Your credit is used up: enter a recharge code." in page(resp)


def test_a_customer_logged_in_to_the_portal_connects_with_one_tap(client, mikrotik,
                                                                  make_customer):
    ada = make_customer("ada", password="ada-secret")
    give_credit(ada, 600)
    client.post("/login", {"action": "password", "username": "ada", "password": "ada-secret"})
    text = page(client.get(f"/hotspot/mikrotik?{mikrotik_query()}"))
    assert "Connect to the Wi-Fi" in text
    resp = client.post("/hotspot/mikrotik", {"action": "connect"})
    assert hidden_fields(page(resp))["username"] == "ada"
    assert LoginTicket.objects.filter(customer=ada).count() == 1


def test_connect_without_a_portal_login_falls_back_to_the_password_form(client, mikrotik):
    client.get(f"/hotspot/mikrotik?{mikrotik_query()}")
    resp = client.post("/hotspot/mikrotik", {"action": "connect"})
    assert resp.status_code == 400
    assert "Enter your username and your password or PIN." in page(resp)
    assert not LoginTicket.objects.exists()


def test_a_chilli_visit_without_a_challenge_cannot_log_in(client, chilli):
    client.get(chilli_url("success", challenge=""))
    resp = client.post("/hotspot/chilli", {"action": "code", "code": "12345678"})
    assert resp.status_code == 400, page(resp)
    assert "Open any web page" in page(resp), page(resp)


# --- the NAS's portal settings ------------------------------------------------------------
def test_nas_portal_settings_are_validated_and_secrets_stay_out_of_the_audit_log(db):
    from ficha.core.models import AuditLog

    from .hotspot_support import OWNER

    nas = make_nas(vendor="coovachilli", address="10.1.0.1", portal_hosts="10.1.0.1, wifi.lan",
                   uam_secret="uam-very-secret", fas_key="fas-very-secret")
    assert nas.portal_hosts == "10.1.0.1, wifi.lan"
    with pytest.raises(hs.HotspotError):
        hs.update_nas(OWNER, nas, portal_hosts="http://evil.example/")
    logged = " ".join(str(v) for v in AuditLog.objects.values_list("after", flat=True))
    assert "wifi.lan" in logged
    assert "uam-very-secret" not in logged and "fas-very-secret" not in logged


def test_nas_portal_settings_through_the_api(client, manager):
    client.force_login(manager)
    resp = client.post("/api/v1/hotspot/nas", {
        "name": "cafe", "address": "10.1.0.1", "secret": "testing123",
        "vendor": "coovachilli", "portal_hosts": "10.1.0.1", "uam_secret": "s3cret-uam-12"},
        content_type="application/json")
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert body["portal_hosts"] == "10.1.0.1" and "uam_secret" not in body
    assert hs.portal_nas(g.parse(g.COOVACHILLI, {"uamip": "10.1.0.1", "challenge": CHALLENGE,
                                                 "res": "notyet"})).uam_secret == "s3cret-uam-12"


def test_code_guessing_behind_a_gateways_nat_is_throttled_per_phone(client, mikrotik, sold):
    """Every phone reaches Ficha from the router's address: one guesser must not lock
    out the others, so the MAC is the key (as at the RADIUS door)."""
    from django.test import Client

    (code,) = sold(600)
    router = "192.168.88.1"  # the NAS's address
    with clock.frozen(T0):
        client.get(f"/hotspot/mikrotik?{mikrotik_query()}", REMOTE_ADDR=router)
        for n in range(4):
            client.post("/hotspot/mikrotik", {"action": "code", "code": f"{n:04d}2222"},
                        REMOTE_ADDR=router)
        locked = client.post("/hotspot/mikrotik", {"action": "code", "code": code},
                             REMOTE_ADDR=router)
        assert locked.status_code == 429 and "Too many attempts. Wait" in page(locked)
        assert int(locked["Retry-After"]) > 0
        other = Client()
        other.get(f"/hotspot/mikrotik?{mikrotik_query(mac='AA:BB:CC:00:00:02')}",
                  REMOTE_ADDR=router)
        resp = other.post("/hotspot/mikrotik", {"action": "code", "code": code},
                          REMOTE_ADDR=router)
        assert resp.status_code == 200 and hidden_fields(page(resp))["username"] == code


def test_a_guesser_rotating_macs_behind_the_gateway_is_held_back_by_the_gateway(
        client, mikrotik, sold):
    """The MAC comes from the query string (the phone states it): a guesser who changes
    it each time is stopped by the gateway's own key once it has had its free failures,
    for a short while only; the count is forgotten after ten quiet minutes."""
    from django.test import Client

    from ficha.core import throttle

    (code,) = sold(600)
    router = "192.168.88.1"

    def try_code(value, n, at):
        c = Client()
        with clock.frozen(at):
            c.get(f"/hotspot/mikrotik?{mikrotik_query(mac=f'AA:BB:CC:00:10:{n:02X}')}",
                  REMOTE_ADDR=router)
            return page(c.post("/hotspot/mikrotik", {"action": "code", "code": value},
                               REMOTE_ADDR=router))

    for n in range(throttle.GATEWAY_FREE):
        assert "Invalid code" in try_code(f"{n:04d}3333", n, T0)
    assert "Invalid code" in try_code("99993333", 50, T0)  # failure 11: locks 2 s
    # a new phone is held back for the others' guesses, and told so (not "too many
    # attempts": it made none)
    held = try_code(code, 51, T0)
    assert "Too many wrong codes were tried on this Wi-Fi just now. Wait 2 seconds" in held
    assert "Too many attempts" not in held
    # the lock is short; once it is over the right code works
    later = T0 + dt.timedelta(seconds=3)
    text = try_code(code, 52, later)
    assert "Too many attempts" not in text and "Invalid code" not in text
    # a gateway's failures are forgotten after ten quiet minutes (not a day)
    assert rs_failures("gateway:nas:hall") == throttle.GATEWAY_FREE + 1
    quiet = later + dt.timedelta(seconds=throttle.GATEWAY_WINDOW_SECONDS + 1)
    assert "Invalid code" in try_code("12343333", 60, quiet)
    assert rs_failures("gateway:nas:hall") == 1


def test_a_customer_logged_in_is_not_held_back_by_a_guesser_rotating_macs(
        client, mikrotik, sold, make_customer):
    """The gateway's shared key holds back the login page's anonymous codes only: a
    customer already logged in adds a code on the status page (their account's key and
    their phone's MAC throttle them) while a stranger's guesses hold the gateway."""
    from django.test import Client

    from ficha.core import throttle

    give_credit(make_customer("fatou", password="fatou-secret"), 600)
    router = "192.168.88.1"
    query = mikrotik_query(mac="AA:BB:CC:00:00:01")
    with clock.frozen(T0):
        client.get(f"/hotspot/mikrotik?{query}", REMOTE_ADDR=router)
        client.post("/hotspot/mikrotik", {"action": "password", "username": "fatou",
                                          "password": "fatou-secret"}, REMOTE_ADDR=router)
        for n in range(throttle.GATEWAY_FREE + 3):  # a guesser with a new MAC each time
            guesser = Client()
            guesser.get(f"/hotspot/mikrotik?{mikrotik_query(mac=f'AA:BB:CC:00:20:{n:02X}')}",
                        REMOTE_ADDR=router)
            guesser.post("/hotspot/mikrotik", {"action": "code", "code": f"{n:04d}4444"},
                         REMOTE_ADDR=router)
        assert rs_failures("gateway:nas:hall") >= throttle.GATEWAY_FREE + 1
        (code,) = sold(500)
        resp = client.post("/hotspot/status", {"code": code}, REMOTE_ADDR=router)
    assert resp.status_code == 302 and resp["Location"] == "/hotspot/status"
    assert accounts.balance(Customer.objects.get(username="fatou")) == 1100


def rs_failures(key: str) -> int:
    from ficha.core.models import Throttle
    from ficha.recharges.services.redeem import THROTTLE_SCOPE

    return Throttle.objects.get(scope=THROTTLE_SCOPE, key=key).failures


def test_wrong_passwords_from_the_gateways_address_do_not_lock_the_others_out(
        client, mikrotik, make_customer):
    """Phones behind the gateway share its address: a handful of wrong passwords (other
    accounts) must not refuse a customer who types theirs right."""
    from django.test import Client

    give_credit(make_customer("amina", password="amina-secret"), 600)
    router = "192.168.88.1"
    for n in range(8):
        c = Client()
        c.get(f"/hotspot/mikrotik?{mikrotik_query()}", REMOTE_ADDR=router)
        text = page(c.post("/hotspot/mikrotik", {"action": "password",
                                                  "username": f"stranger{n}",
                                                  "password": "nope-nope"},
                           REMOTE_ADDR=router))
        assert "Wrong username or password" in text
    c = Client()
    c.get(f"/hotspot/mikrotik?{mikrotik_query()}", REMOTE_ADDR=router)
    resp = c.post("/hotspot/mikrotik", {"action": "password", "username": "amina",
                                        "password": "amina-secret"}, REMOTE_ADDR=router)
    assert "Too many attempts" not in page(resp)
    assert hidden_fields(page(resp))["username"] == "amina"


def test_wrong_passwords_are_held_back_with_429_and_the_wait(client, mikrotik,
                                                           make_customer):
    make_customer("bintou", password="bintou-secret")
    client.get(f"/hotspot/mikrotik?{mikrotik_query()}", REMOTE_ADDR="10.5.50.23")
    statuses = []
    with clock.frozen(T0):
        for _n in range(30):
            resp = client.post("/hotspot/mikrotik", {"action": "password",
                                                     "username": "bintou",
                                                     "password": "not-hers"},
                               REMOTE_ADDR="10.5.50.23")
            statuses.append(resp.status_code)
            if "Too many attempts. Wait" in page(resp):
                break
    assert statuses[0] == 400 and statuses[-1] == 429 and set(statuses) == {400, 429}
    assert int(resp["Retry-After"]) > 0


def test_no_credit_then_a_code_on_the_status_page_then_connect(client, mikrotik, sold,
                                                                make_customer):
    make_customer("bob", password="bob-secret")
    (code,) = sold(600)
    client.get(f"/hotspot/mikrotik?{mikrotik_query()}")
    client.post("/hotspot/mikrotik", {"action": "password", "username": "bob",
                                      "password": "bob-secret"})
    assert "Connect to the Wi-Fi" not in page(client.get("/hotspot/status"))
    client.post("/hotspot/status", {"code": code})
    text = page(client.get("/hotspot/status"))
    assert 'id="time-left">1 h<' in text and "You are not connected" in text
    assert 'action="/hotspot/mikrotik"' in text and "Connect to the Wi-Fi" in text
    resp = client.post("/hotspot/mikrotik", {"action": "connect"})
    assert hidden_fields(page(resp))["username"] == "bob"


def test_console_saves_a_gateways_portal_settings(client, owner):
    from ficha.hotspot.models import Nas

    client.force_login(owner)
    resp = client.post("/console/hotspot/", {
        "nas-name": "hall", "nas-address": "192.168.88.1", "nas-secret": "a-long-secret",
        "nas-vendor": "mikrotik", "nas-coa_port": "3799", "nas-active": "on",
        "nas-portal_hosts": "10.5.50.1, hotspot.lan"})
    assert resp.status_code == 302, resp.content.decode()[:2000]
    assert Nas.objects.get().portal_hosts == "10.5.50.1, hotspot.lan"
    bad = client.post("/console/hotspot/", {
        "nas-name": "hall2", "nas-address": "192.168.88.2", "nas-secret": "a-long-secret",
        "nas-vendor": "mikrotik", "nas-coa_port": "3799", "nas-portal_hosts": "http://x/"})
    assert bad.status_code == 400 and "is not an address, a network or a host name" in (
        bad.content.decode())


def test_status_counts_data_and_quota(db, make_customer):
    make_plan(price_per_hour=0, price_per_mb=10, increment_seconds=60,
              quota_bytes=500 * 10**6)
    ada = make_customer("ada")
    give_credit(ada, 1000)  # buys 100 MB; the quota would allow 500
    state = hs.status(ada)
    # 100 MB, and the bytes whose price still rounds (half up, once) to 1,000
    assert state.remaining_seconds is None
    assert 100 * 10**6 <= state.remaining_bytes < 100_050_000
    give_credit(ada, 9000)  # 1,000 MB of credit: the quota is the limit now
    assert hs.status(ada).remaining_bytes == 500 * 10**6
    assert not hs.status(ada).used_up


def test_a_phone_is_online_only_with_its_own_session(db, make_customer):
    """Two phones, one account: the one the router refused is not shown "online" because
    the other one is; a session the gateway reported no MAC for still counts."""
    nas = make_nas()
    make_plan(price_per_hour=600)
    ada = make_customer("ada")
    give_credit(ada, 1000)
    hs.account(nas, acct("start", sid="p1", user="ada", mac="AA:BB:CC:00:00:05"))
    assert hs.status(ada, "AA-BB-CC-00-00-05").online
    assert not hs.status(ada, "AA:BB:CC:00:00:06").online  # the refused phone
    assert hs.status(ada).online  # no device known: the account's newest session
    hs.account(nas, acct("start", sid="p2", user="ada", mac=""))
    state = hs.status(ada, "AA:BB:CC:00:00:06")
    assert state.online and state.session.acct_session_id == "p2"


def test_credit_used_up_while_online_says_so(client, mikrotik, sold):
    first = sold(600)
    fields, decision = online_with_code(client, mikrotik, first[0])
    with clock.frozen(T0 + dt.timedelta(minutes=10)):
        assert 'id="used-up"' not in page(client.get("/hotspot/status"))
    with clock.frozen(T0 + dt.timedelta(minutes=60)):
        hs.account(mikrotik, hs.AcctRequest(status=hs.INTERIM, session_id="s1",
                                            username=fields["username"], mac=MAC,
                                            session_time=3600,
                                            klass=decision.attributes[-1][1]))
        text = page(client.get("/hotspot/status"))
    assert "You are online" in text and 'id="time-left">0 min<' in text
    assert "Your credit is used up: the Wi-Fi ends your session." in text


def test_the_portals_activity_says_what_credit_was_spent_on(client, db, make_customer):
    nas = make_nas()
    make_plan(price_per_hour=3600, increment_seconds=60)
    give_credit(make_customer("ada", password="ada-secret"), 1000)
    hs.account(nas, acct("stop", sid="a1", user="ada", t=60))
    client.post("/login", {"action": "password", "username": "ada", "password": "ada-secret"})
    home = page(client.get("/"))
    assert '<span class="what">Wi-Fi usage<small>' in home and ">Spent<" not in home
