"""Customer portal: sessions, login, throttling, low credit, security, language."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.conf import settings
from django.test import Client

from ficha.accounts import services as accounts
from ficha.core import audit, clock
from ficha.core import services as core_services
from ficha.portal import views
from ficha.portal.auth import CUSTOMER_KEY

from .conftest import actor_for

T0 = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


def login(client, username, password, **extra):
    ip = extra.pop("ip", "10.1.1.1")
    data = {"action": "password", "username": username, "password": password, **extra}
    return client.post("/login", data, REMOTE_ADDR=ip)


@pytest.fixture
def funded(make_customer, cashier_actor, open_shift):
    """A customer with 1,500 of credit (deposited at the counter)."""
    customer = make_customer("ada", password="ada-secret")
    accounts.deposit(cashier_actor, customer, 1500)
    return customer


def test_login_shows_balance_and_logout_ends_the_session(client, funded):
    page = client.get("/login")
    assert page.status_code == 200
    assert 'name="username"' in page.content.decode()
    assert 'name="code"' in page.content.decode()  # "or enter a recharge code"
    client.get("/login")
    before = client.session.session_key

    resp = login(client, "ada", "ada-secret")
    assert resp.status_code == 302 and resp["Location"] == "/"
    assert client.session.session_key != before  # rotated at login
    assert client.cookies[settings.SESSION_COOKIE_NAME]["httponly"]

    home = client.get("/")
    html = home.content.decode()
    assert home.status_code == 200
    assert 'id="balance"' in html and "1,500" in html
    assert "Deposit at the counter" in html  # recent history
    assert home["Cache-Control"] and "no-cache" in home["Cache-Control"]

    resp = client.post("/logout")
    assert resp.status_code == 302 and resp["Location"] == "/login"
    assert client.get("/")["Location"] == "/login"
    assert CUSTOMER_KEY not in client.session


def test_login_is_case_insensitive_and_accepts_a_pin(client, make_customer, cashier_actor,
                                                     open_shift):
    customer = make_customer("Bruno", password="bruno-pw", pin="4821")
    accounts.deposit(cashier_actor, customer, 900)
    assert login(client, "bruno", "4821")["Location"] == "/"
    assert "900" in client.get("/").content.decode()


def test_wrong_password_and_unknown_user_look_the_same(client, funded):
    wrong = login(client, "ada", "nope")
    unknown = login(client, "nobody-here", "nope")
    assert wrong.status_code == unknown.status_code == 200
    for resp in (wrong, unknown):
        assert "Wrong username or password." in resp.content.decode()
    assert CUSTOMER_KEY not in client.session
    assert client.get("/")["Location"] == "/login"

    def body(resp, name):
        html = resp.content.decode().replace(name, "NAME")
        return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)

    assert body(wrong, "ada") == body(unknown, "nobody-here")


def test_empty_login_form_is_refused_politely(client, funded):
    resp = login(client, "", "")
    assert resp.status_code == 200
    assert "Enter your username and your password or PIN." in resp.content.decode()


def test_login_is_throttled_then_recovers(client, funded):
    with clock.frozen(T0):
        for i in range(6):  # five free failures, the sixth locks for 2 s
            resp = login(client, "ada", f"guess-{i}", ip=f"10.9.0.{i}")
            assert "Wrong username or password." in resp.content.decode()
        # Locked by username, whatever the address, even with the right password.
        resp = login(client, "ada", "ada-secret", ip="10.9.9.9")
        html = resp.content.decode()
        assert "Too many attempts. Wait 2 seconds and try again." in html
        assert CUSTOMER_KEY not in client.session
        # A stranger guessing a username that does not exist is throttled the same way.
        for i in range(6):
            login(client, "ghost", f"guess-{i}", ip=f"10.8.0.{i}")
        assert "Too many attempts" in login(client, "ghost", "x", ip="10.8.1.1").content.decode()
    with clock.frozen(T0 + dt.timedelta(seconds=3)):
        resp = login(client, "ada", "ada-secret", ip="10.9.9.9")
        assert resp.status_code == 302
        assert client.session[CUSTOMER_KEY] == funded.pk


def test_disabled_customer_cannot_log_in_and_is_logged_out(client, funded, owner):
    assert login(client, "ada", "ada-secret").status_code == 302
    accounts.set_customer_status(actor_for(owner), funded, False)
    assert client.get("/")["Location"] == "/login"  # the live session ends too

    resp = login(client, "ada", "ada-secret")
    assert resp.status_code == 200
    assert "This account is disabled; please ask at the counter." in resp.content.decode()
    assert CUSTOMER_KEY not in client.session
    # A wrong password on a disabled account reveals nothing more.
    assert "Wrong username or password." in login(client, "ada", "bad").content.decode()


def test_staff_changing_the_password_ends_portal_sessions(client, funded, owner):
    assert login(client, "ada", "ada-secret").status_code == 302
    accounts.set_customer_password(actor_for(owner), funded, password="new-secret")
    assert client.get("/")["Location"] == "/login"


def test_low_credit_prompt_right_after_login(client, make_customer):
    make_customer("zoe", password="zoe-secret")  # balance 0
    resp = login(client, "zoe", "zoe-secret", next="/password")
    assert resp.status_code == 302
    assert resp["Location"].startswith("/credit?next=%2Fpassword")
    page = client.get(resp["Location"])
    html = page.content.decode()
    assert "Your credit is used up — enter a recharge code" in html
    assert 'name="code"' in html
    assert 'href="/password"' in html  # "Continue without recharging" goes on


def test_low_credit_threshold_is_one_major_unit(db):
    core_services.venue_settings()  # XOF by default: no decimals
    assert views.low_credit_threshold() == 1
    assert views.is_low(0) and views.is_low(-5) and not views.is_low(1)


def test_low_credit_page_lets_a_funded_customer_through(client, funded):
    login(client, "ada", "ada-secret")
    assert client.get("/credit?next=/password")["Location"] == "/password"


@pytest.mark.parametrize("evil", [
    "https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)",
    "http://testserver.evil.example/",
])
def test_next_never_leaves_the_site(client, funded, evil):
    resp = login(client, "ada", "ada-secret", next=evil)
    assert resp.status_code == 302
    assert resp["Location"] == "/"


def test_hostile_input_never_breaks_a_page(client, funded):
    resp = login(client, "ada", "ada-secret", next="/x\r\nSet-Cookie: evil=1")
    assert resp.status_code == 302 and resp["Location"] == "/"
    client.post("/logout")
    for username, password in (("ad\x00a", "x"), ("ada", "ada-\x00secret"), ("é" * 400, "y"),
                               ("ada", "p" * 10_000)):
        resp = login(client, username, password)
        assert resp.status_code == 200
        assert "Wrong username or password." in resp.content.decode()
    assert client.get("/recharge?code=%00abc").status_code == 200
    assert client.get("/login?next=%0d%0aLocation:%20http://evil.example").status_code == 200


def test_next_inside_the_site_is_followed(client, funded):
    resp = login(client, "ada", "ada-secret", next="/password")
    assert resp["Location"] == "/password"


def test_csrf_is_enforced_on_portal_forms(funded):
    client = Client(enforce_csrf_checks=True)
    resp = client.post("/login", {"action": "password", "username": "ada",
                                  "password": "ada-secret"})
    assert resp.status_code == 403
    assert CUSTOMER_KEY not in client.session

    page = client.get("/login").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    resp = client.post("/login", {"action": "password", "username": "ada",
                                  "password": "ada-secret", "csrfmiddlewaretoken": token})
    assert resp.status_code == 302
    home = client.get("/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', home).group(1)
    assert client.post("/", {"code": "1234 5678"}).status_code == 403  # no token
    assert client.post("/logout").status_code == 403
    assert client.post("/logout", {"csrfmiddlewaretoken": token}).status_code == 302


def test_pages_speak_the_customers_choice_else_the_phones_else_the_venues(client, owner):
    core_services.update_settings(actor_for(owner), currency_locked=False, language="fr")
    # no choice, a phone in German: German
    page = client.get("/login", HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9,en;q=0.8")
    html = page.content.decode()
    assert '<html lang="de"' in html and page["Content-Language"] == "de"
    assert "Accept-Language" in page["Vary"]
    # the phone's order of preference, and languages Ficha does not speak are skipped
    for header, expected in [("wo-SN,pt-BR;q=0.8,es;q=0.9", "es"), ("ar,en;q=0.1", "en"),
                             ("it;q=0,pt;q=0.5", "pt"), ("*", "fr"), ("wo,ar", "fr"),
                             ("x" * 600, "fr"), ("de;q=abc,es;q=2", "fr")]:
        page = client.get("/login", HTTP_ACCEPT_LANGUAGE=header)
        assert page["Content-Language"] == expected, header
    # nothing to go on: the venue's language
    assert client.get("/login")["Content-Language"] == "fr"
    # The language buttons are a plain form: no JavaScript needed; the choice wins.
    html = client.get("/login").content.decode()
    assert 'action="/i18n/setlang/"' in html and 'name="language" value="en"' in html
    resp = client.post("/i18n/setlang/", {"language": "en", "next": "/login"})
    assert resp.status_code == 302 and resp["Location"] == "/login"
    page = client.get("/login", HTTP_ACCEPT_LANGUAGE="de")
    assert '<html lang="en"' in page.content.decode() and page["Content-Language"] == "en"
    # a cookie naming a language Ficha does not speak falls back to the phone's
    client.cookies["django_language"] = "zz"
    assert client.get("/login", HTTP_ACCEPT_LANGUAGE="pt")["Content-Language"] == "pt"


def test_customer_changes_password_with_the_current_one(client, funded):
    login(client, "ada", "ada-secret")
    page = client.get("/password").content.decode()
    assert 'name="current"' in page
    bad = client.post("/password", {"current": "wrong", "password": "n3w-pass",
                                    "password2": "n3w-pass"})
    assert "Your current password or PIN is wrong." in bad.content.decode()
    differ = client.post("/password", {"current": "ada-secret", "password": "n3w-pass",
                                       "password2": "other"})
    assert "The two passwords are different." in differ.content.decode()
    ok = client.post("/password", {"current": "ada-secret", "password": "n3w-pass",
                                   "password2": "n3w-pass"})
    assert ok.status_code == 302 and ok["Location"] == "/"
    assert client.get("/").status_code == 200  # this session stays valid
    client.post("/logout")
    assert "Wrong username" in login(client, "ada", "ada-secret").content.decode()
    assert login(client, "ada", "n3w-pass").status_code == 302
    entry = audit.AuditLog.objects.filter(action="customer.credentials").latest("at")
    assert entry.source == "portal" and entry.actor_label == "customer ada"


def test_pages_need_a_customer(client, db):
    for path in ("/", "/credit", "/password"):
        resp = client.get(path)
        assert resp.status_code == 302 and resp["Location"].startswith("/login")
    assert client.get("/logout")["Location"] == "/login"


def test_an_idle_portal_session_ends_on_a_shared_pc(client, db, make_customer, monkeypatch):
    import time as _time

    from ficha.portal import auth as portal_auth

    make_customer("idle", password="idle-pass-1")
    client.post("/login", {"username": "idle", "password": "idle-pass-1"})
    assert client.get("/").status_code == 200
    assert client.session.get_expire_at_browser_close()
    later = _time.time() + portal_auth.IDLE_SECONDS + 5
    monkeypatch.setattr(portal_auth.time, "time", lambda: later)
    response = client.get("/")
    assert response.status_code == 302 and "/login" in response["Location"]


def test_a_stale_form_gets_a_plain_page_not_a_technical_error(db, make_customer):
    from django.test import Client

    make_customer("stale", password="stale-pass-1")
    strict = Client(enforce_csrf_checks=True)
    response = strict.post("/login", {"username": "stale", "password": "stale-pass-1"},
                           HTTP_REFERER="http://testserver/login")
    assert response.status_code == 403
    body = response.content.decode()
    assert "This page has expired" in body and "CSRF" not in body
    assert 'href="http://testserver/login"' in body
    strict.cookies["django_language"] = "fr"
    response = strict.post("/login", {"username": "stale", "password": "x"})
    assert "Cette page a expiré" in response.content.decode()
