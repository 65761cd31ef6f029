"""Customer portal: redeeming recharge codes while browsing, at login and from a QR code."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import quote

import pytest
from django.conf import settings

from ficha.accounts import services as accounts
from ficha.accounts.models import Customer
from ficha.core import clock, codes
from ficha.core import services as core_services
from ficha.portal.auth import CUSTOMER_KEY
from ficha.recharges import services as rs
from ficha.recharges.models import RedeemAttempt

from .conftest import actor_for

T0 = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def sold(owner, cashier, open_shift):
    """sold(amount=1000, n=1, **generate_kw) -> codes generated and sold at the counter."""
    office, desk = actor_for(owner), actor_for(cashier)

    def make(amount: int = 1000, n: int = 1, **kw) -> list[str]:
        batch = rs.generate(office, count=n, amount=amount, **kw)
        rs.sell(desk, batch.recharges.all())
        return [r.code for r in batch.recharges.order_by("id")]

    return make


@pytest.fixture
def ada(make_customer, cashier, open_shift):
    customer = make_customer("ada", password="ada-secret")
    accounts.deposit(actor_for(cashier), customer, 1500)
    return customer


def login(client, username="ada", password="ada-secret", ip="10.1.1.1", **extra):
    data = {"action": "password", "username": username, "password": password, **extra}
    return client.post("/login", data, REMOTE_ADDR=ip)


def html(resp) -> str:
    return resp.content.decode()


def balance_shown(client) -> str:
    page = html(client.get("/"))
    return re.search(r'id="balance">([^<]+)<', page).group(1)


def test_redeem_while_browsing_shows_the_new_balance_at_once(client, ada, sold):
    (code,) = sold(1000)
    login(client)
    assert "1,500" in balance_shown(client)
    typed = f"{code[:4]} - {code[4:]}"  # typed with a space and a dash
    resp = client.post("/", {"code": typed}, REMOTE_ADDR="10.1.1.1")
    assert resp.status_code == 302 and resp["Location"] == "/"
    page = html(client.get("/"))
    assert "1,000 added to your credit. Your balance is now" in page
    assert "2,500" in re.search(r'id="balance">([^<]+)<', page).group(1)
    assert f'<span class="nowrap">{codes.group(code)}</span>' in page  # in the history
    assert accounts.balance(ada) == 2500
    attempt = RedeemAttempt.objects.latest("id")
    assert (attempt.door, attempt.account, attempt.ip, attempt.outcome) == (
        "portal", "ada", "10.1.1.1", "success")

    again = client.post("/", {"code": code}, REMOTE_ADDR="10.1.1.1")
    assert again.status_code == 200
    assert "This code has already been used." in html(again)
    assert accounts.balance(ada) == 2500


@pytest.mark.parametrize("case, message", [
    ("unknown", "Invalid code."),
    ("unsold", "Invalid code."),
    ("used", "This code has already been used."),
    ("short", "A code has 8 digits; check what you typed."),
    ("letters", "A recharge code has digits only; check what you typed."),
    ("empty", "Enter a recharge code."),
])
def test_refusals_say_what_happened(client, ada, sold, owner, make_customer, case, message):
    (live,) = sold(700)
    if case == "unknown":
        typed = next(c for c in (f"{n:08d}" for n in range(10**7, 10**8, 7919)) if c != live)
    elif case == "unsold":
        typed = rs.generate(actor_for(owner), count=1, amount=700).recharges.get().code
    elif case == "used":
        rs.redeem(live, customer=make_customer("other"), source=rs.Source(ip="10.7.7.7"))
        typed = live
    else:
        typed = {"short": live[:7], "letters": "abcd efgh", "empty": "  "}[case]
    login(client)
    resp = client.post("/", {"code": typed}, REMOTE_ADDR="10.1.1.1")
    assert resp.status_code == 200
    page = html(resp)
    assert f'<p id="code-error" class="error" role="alert">{message}</p>' in page
    assert "added to your credit" not in page
    assert accounts.balance(ada) == 1500
    if case == "unsold":  # the same words as an unknown code, and the field keeps the code
        assert f'value="{codes.group(typed)}"' in page


def test_expired_code_says_when_in_the_venue_time_zone_and_language(client, ada, sold, owner):
    core_services.update_settings(actor_for(owner), currency_locked=False,
                                  time_zone="America/Lima")
    with clock.frozen(T0):
        (code,) = sold(500, expires_at=dt.date(2026, 12, 1))
    login(client)
    with clock.frozen(dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)):
        page = html(client.post("/", {"code": code}))
        # Lima time, not UTC (04:59 on the 2nd), day first (the venue's date format)
        assert "This code expired on 01/12/2026 23:59." in page
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
        page = html(client.post("/", {"code": code}))
        assert "Ce code a expiré le 01/12/2026 23:59." in page
    assert accounts.balance(ada) == 1500


def test_guessing_codes_is_throttled_with_the_wait(client, ada, sold):
    (code,) = sold(500)
    login(client)
    with clock.frozen(T0):
        for n in range(4):  # three free failures; the fourth locks for 2 s
            page = html(client.post("/", {"code": f"{n:04d}0000"}, REMOTE_ADDR="10.2.2.2"))
            assert "Invalid code." in page
        page = html(client.post("/", {"code": code}, REMOTE_ADDR="10.2.2.2"))
        assert "Too many attempts. Wait 2 seconds and try again." in page
    assert accounts.balance(ada) == 1500
    with clock.frozen(T0 + dt.timedelta(seconds=3)):
        assert client.post("/", {"code": code}, REMOTE_ADDR="10.2.2.2").status_code == 302
    assert accounts.balance(ada) == 2000


def test_a_code_alone_opens_an_account_which_a_password_then_keeps(client, sold, db):
    (code,) = sold(2000)
    resp = client.post("/login", {"action": "code", "code": codes.group(code)})
    assert resp.status_code == 302 and resp["Location"] == "/"
    customer = Customer.objects.get(pk=client.session[CUSTOMER_KEY])
    assert customer.username == code and customer.origin == Customer.Origin.CODE
    assert RedeemAttempt.objects.latest("id").door == "portal_login"
    page = html(client.get("/"))
    assert "2,000 added to your credit" in page
    assert "2,000" in re.search(r'id="balance">([^<]+)<', page).group(1)
    assert "Set a password to log in again later and keep your credit." in page
    assert 'href="/password"' in page

    # Until a password is set, the code alone logs back in (nothing credited twice).
    client.post("/logout")
    resp = client.post("/login", {"action": "code", "code": code})
    assert resp.status_code == 302
    assert "Welcome back. Your balance is" in html(client.get("/"))
    assert accounts.balance(customer) == 2000

    form = html(client.get("/password"))
    assert 'name="current"' not in form  # nothing to confirm yet
    resp = client.post("/password", {"password": code, "password2": code})
    assert "Choose a password different from your username." in html(resp)
    resp = client.post("/password", {"password": "sunny-42", "password2": "sunny-42"})
    assert resp.status_code == 302
    assert "Set a password to log in" not in html(client.get("/"))
    client.post("/logout")

    # Now the used code opens nothing, from anywhere.
    other = client_class()
    resp = other.post("/login", {"action": "code", "code": code}, REMOTE_ADDR="10.3.3.3")
    assert resp.status_code == 200
    assert "This code has already been used." in html(resp)
    assert CUSTOMER_KEY not in other.session
    assert login(other, codes.group(code), "sunny-42").status_code == 302  # as printed
    assert "2,000" in balance_shown(other)


def client_class():
    from django.test import Client

    return Client()


def test_a_disabled_code_account_cannot_come_back_with_its_code(client, sold, owner):
    (code,) = sold(600)
    client.post("/login", {"action": "code", "code": code})
    customer = Customer.objects.get(username=code)
    accounts.set_customer_status(actor_for(owner), customer, False)
    assert client.get("/")["Location"] == "/login"  # the open session ends
    resp = client.post("/login", {"action": "code", "code": code})
    assert "This account is disabled; please ask at the counter." in html(resp)
    assert CUSTOMER_KEY not in client.session


def test_an_unsold_code_alone_opens_nothing(client, owner, db):
    code = rs.generate(actor_for(owner), count=1, amount=700).recharges.get().code
    resp = client.post("/login", {"action": "code", "code": code})
    assert "Invalid code." in html(resp)
    assert CUSTOMER_KEY not in client.session
    assert not Customer.objects.filter(username=code).exists()


def test_qr_link_prefills_and_keeps_the_code_through_login(client, make_customer, sold):
    (code,) = sold(1200)
    make_customer("zoe", password="zoe-secret")  # no credit: would get the low-credit page
    page = html(client.get(f"/recharge?code={code}"))
    assert f'value="{codes.group(code)}"' in page
    assert "Use this code to log in" in page
    back = f"/recharge?code={code}"
    login_url = f"/login?next={quote(back, safe='')}"
    assert f'href="{login_url}"' in page.replace("&amp;", "&")

    page = html(client.get(login_url))
    assert f"code {codes.group(code)} will be ready" in page
    resp = login(client, "zoe", "zoe-secret", next=back)
    assert resp.status_code == 302 and resp["Location"] == back  # straight on, no detour

    page = html(client.get(back))
    assert f'value="{codes.group(code)}"' in page and 'id="balance"' in page
    resp = client.post("/recharge", {"code": codes.group(code)})
    assert resp.status_code == 302 and resp["Location"] == "/"
    assert "1,200" in balance_shown(client)


def test_qr_link_code_alone_and_grouped_forms(client, sold):
    (code,) = sold(900)
    page = html(client.get(f"/recharge/?code={code[:4]}-{code[4:]}"))
    assert f'value="{codes.group(code)}"' in page
    resp = client.post("/login", {"action": "code", "code": f"{code[:4]}-{code[4:]}"})
    assert resp.status_code == 302
    assert "900" in balance_shown(client)


def test_recharge_post_after_the_session_ended_goes_through_login(client, sold):
    (code,) = sold(900)
    resp = client.post("/recharge", {"code": codes.group(code)})
    assert resp.status_code == 302
    assert resp["Location"] == f"/login?next={quote(f'/recharge?code={code}', safe='')}"


def test_low_credit_page_redeems_then_continues(client, make_customer, sold):
    (code,) = sold(800)
    zoe = make_customer("zoe", password="zoe-secret")
    resp = login(client, "zoe", "zoe-secret", next="/password")
    assert resp["Location"].startswith("/credit")
    bad = client.post("/credit", {"code": "0000 0000", "next": "/password"})
    assert "Invalid code." in html(bad)
    resp = client.post("/credit", {"code": code, "next": "/password"})
    assert resp.status_code == 302 and resp["Location"] == "/password"
    assert accounts.balance(zoe) == 800


def test_coming_back_with_a_code_whose_credit_is_spent_asks_for_a_new_one(client, sold, owner):
    (code,) = sold(600)
    client.post("/login", {"action": "code", "code": code})
    customer = Customer.objects.get(username=code)
    accounts.adjust(actor_for(owner), customer, -600, "spent at the café")
    client.post("/logout")
    resp = client.post("/login", {"action": "code", "code": code})
    assert resp.status_code == 302 and resp["Location"] == "/credit"
    assert "Your credit is used up — enter a recharge code" in html(client.get("/credit"))
