"""How a Wi-Fi charge was computed, line by line: the captive portal's status page, the
console's session page and the API's session detail show the lines of
``pricing.explain`` for the session's time and data, and they add up to its charge."""

from __future__ import annotations

import datetime as dt
import html as htmllib
import re

import pytest
from django.urls import reverse
from django.utils import translation

from ficha.core import clock
from ficha.hotspot import services as hs
from ficha.hotspot.models import HotspotSession
from ficha.tariffs import engine, pricing

from .hotspot_support import OWNER, acct, give_credit, make_nas, make_plan

T0 = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
SECONDS = 150  # billed 3 minutes (increment 60 s)
OCTETS = 1_234_567  # 1.234567 MB


@pytest.fixture(params=[0, 50], ids=["rounded", "minimum"])
def online(request, db, make_customer, settings):
    """ada, online on a MikroTik for 150 s with 1.23 MB, on a plan of 10 a minute and 7 a
    MB (exact 38.64…: rounded to 39), or the same with a minimum of 50 (raised to it)."""
    settings.HOTSPOT_COA_SEND_NOW = False
    nas = make_nas(name="hall", vendor="mikrotik")
    make_plan(
        price_per_hour=600, price_per_mb=7, increment_seconds=60, minimum_charge=request.param
    )
    ada = make_customer("ada", password="ada-secret")
    give_credit(ada, 1000)
    with clock.frozen(T0):
        hs.account(nas, acct("start", sid="s1", user="ada"))
    with clock.frozen(T0 + dt.timedelta(seconds=SECONDS)):
        hs.account(nas, acct("interim", sid="s1", user="ada", t=SECONDS, i=OCTETS - 1000, o=1000))
    session = HotspotSession.objects.get()
    return session


def expected(session, language: str = "en") -> pricing.Breakdown:
    with translation.override(language):
        return pricing.explain(session.plan.tariff, SECONDS, OCTETS, "XOF")


def shown_lines(text: str) -> list[str]:
    cells = re.findall(r'<tr class="line-[a-z_]+"><td>(.*?)</td>', text)
    return [htmllib.unescape(c) for c in cells]


def sums_to_total(b: pricing.Breakdown) -> bool:
    priced = [line for line in b.lines if line.kind != engine.BILLING]
    assert priced and {line.unit for line in priced} == {priced[0].unit}
    return sum(line.exact for line in priced) == b.total * priced[0].unit


def test_the_breakdown_is_the_charge_the_session_was_charged(online):
    b = hs.charge_so_far(online)
    assert b == expected(online)
    assert b.total == online.charged == online.debited  # what the ledger took
    assert sums_to_total(b)
    kinds = [line.kind for line in b.lines]
    assert kinds[:3] == [engine.BILLING, engine.TIME, engine.DATA]
    assert kinds[3] == (engine.MINIMUM if online.plan.minimum_charge else engine.ROUNDING)
    assert "billed 3 min" in b.lines[0].text


def test_portal_status_page_shows_the_lines_without_javascript(client, online):
    resp = client.post(
        "/login", {"action": "password", "username": "ada", "password": "ada-secret"}
    )
    assert resp.status_code == 302
    with clock.frozen(T0 + dt.timedelta(seconds=SECONDS + 10)):
        text = client.get("/hotspot/status").content.decode()
    b = expected(online)
    assert shown_lines(text) == [line.text for line in b.lines]
    assert f'id="charge-total">{engine.format_minor(b.total, "XOF")}<' in text
    assert "<script" not in text.split('id="charge"')[1].split("</section>")[0]
    # what the remaining credit buys: the time and data left shown above, not nothing
    left = re.search(r'id="time-left">([^<]+)<', text)[1]
    data = re.search(r'id="data-left">([^<]+)<', text)[1]
    buys = re.search(r'id="credit-buys">([^<]+)<', text)[1]
    assert left in buys and data in buys and left.startswith("1 h ")


def test_portal_status_page_in_french(client, online):
    client.post(
        "/login",
        {"action": "password", "username": "ada", "password": "ada-secret"},
        HTTP_ACCEPT_LANGUAGE="fr",
    )
    resp = client.get("/hotspot/status", HTTP_ACCEPT_LANGUAGE="fr")
    assert resp.status_code == 200 and resp["Content-Language"] == "fr"
    text = resp.content.decode()
    b = expected(online, "fr")
    assert shown_lines(text) == [line.text for line in b.lines]
    assert sums_to_total(b)
    # amounts are written as French writes money, as the balance above them is
    cfa = "\xa0F\u202fCFA"
    lines = shown_lines(text)
    assert not any("XOF" in line for line in lines)
    assert any(f"600{cfa}" in line for line in lines)  # the price of an hour
    assert any("1,234567 Mo ×" in line for line in lines)  # megabytes as French writes them
    assert re.search(r'id="balance">([^<]+)<', text)[1].endswith(cfa)
    assert re.search(r'id="charge-total">([^<]+)<', text)[1].endswith(cfa)


def test_portal_shows_no_charge_when_offline(client, online):
    hs.account(online.nas, acct("stop", sid="s1", user="ada", t=SECONDS, i=OCTETS - 1000, o=1000))
    client.post("/login", {"action": "password", "username": "ada", "password": "ada-secret"})
    text = client.get("/hotspot/status").content.decode()
    assert 'id="charge"' not in text and "You are not connected" in text


def test_console_session_page_shows_the_same_lines(client, manager, cashier, online):
    url = reverse("console:hotspot_session", args=[online.pk])
    client.force_login(cashier)
    assert client.get(url).status_code == 403
    client.force_login(manager)
    live = client.get(reverse("console:hotspot_live")).content.decode()
    assert url in live  # the live row links to it
    text = client.get(url).content.decode()
    b = expected(online)
    assert shown_lines(text) == [line.text for line in b.lines]
    assert 'id="charge-total">' in text
    assert "No request sent for this session." in text
    hs.kick(online.pk, OWNER)  # its requests to the gateway are listed on its page
    text = client.get(url).content.decode()
    requests = text.split('id="session-requests"', 1)[1]
    assert "Kicked by staff" in requests and "Waiting" in requests
    assert client.get(reverse("console:hotspot_session", args=[99999])).status_code == 404


def test_api_session_detail_includes_the_lines(client, manager, online):
    client.force_login(manager)
    resp = client.get(f"/api/v1/hotspot/sessions/{online.pk}")
    assert resp.status_code == 200, resp.content
    body = resp.json()
    b = expected(online)
    assert [row["text"] for row in body["charge_lines"]] == [line.text for line in b.lines]
    assert [row["kind"] for row in body["charge_lines"]] == [line.kind for line in b.lines]
    assert body["charge_total"]["amount_minor"] == b.total == body["charged"]["amount_minor"]
    assert body["charge_lines"][0]["amount"] == ""  # the billing line has no amount
    assert body["charge_lines"][1]["amount"] == "F\u202fCFA\xa030"  # 3 min at 10 a minute


def test_api_session_without_a_plan_has_no_lines(client, manager, online):
    HotspotSession.objects.filter(pk=online.pk).update(plan=None)
    client.force_login(manager)
    body = client.get(f"/api/v1/hotspot/sessions/{online.pk}").json()
    assert body["charge_lines"] == [] and body["charge_total"] is None
