"""The recharges window in a real Chromium: a manager generates a batch and sells part of
it; a customer redeems one of the sold codes in the portal on a phone; the window then
shows that code as used, by that customer.

Needs Debian's chromium (/usr/bin/chromium, or $FICHA_CHROMIUM) and the playwright package;
skips cleanly without them. Set FICHA_SCREENSHOT_DIR to keep screenshots of the window
(``window-desktop.png``, ``window-phone.png``, ...).
"""

from __future__ import annotations

import re

import pytest

from ficha.core import codes
from ficha.core import services as core_services
from ficha.core.money import Money
from ficha.ledger import services as ledger
from ficha.recharges import services as rs

from .browser_support import BROWSER_MARKS, PHONE, screenshot
from .conftest import actor_for
from .recharges_support import fresh_source

PASSWORD = "correct-horse-9"  # the conftest staff password

pytestmark = BROWSER_MARKS


@pytest.fixture
def browser(chromium):
    return chromium


def _shot(page, name: str, full: bool = True) -> None:
    screenshot(page, f"window-{name}", full)


def _money(minor: int) -> str:
    return Money(minor, core_services.currency()).format("en")


def _staff_page(browser, base: str, username: str, viewport=None):
    context = browser.new_context(viewport=viewport or {"width": 1440, "height": 900},
                                  locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{base}/console/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/console/")
    return context, page


def test_generate_sell_redeem_and_see_it_used(live_server, browser, manager, make_customer,
                                              owner):
    from playwright.sync_api import expect

    make_customer("amina", full_name="Amina Diallo", password="amina-pw")
    # some history, so the window looks like a shop's
    office = actor_for(owner)
    earlier = rs.generate(office, count=40, amount=500, label="earlier")
    ledger.open_shift(office, 0)
    rs.sell(office, list(earlier.recharges.order_by("id")[:12]))
    for name, r in zip(("kofi", "yaw", "ama"), earlier.recharges.order_by("id")[:3],
                       strict=True):
        rs.redeem(r.code, customer=make_customer(name), source=fresh_source())
    base = live_server.url
    unit = Money.parse("1000", core_services.currency()).minor

    context, page = _staff_page(browser, base, "manu")
    # a shift first: selling needs one
    page.fill("#open-shift input[name=opening_float]", "5000")
    page.click("#open-shift button[type=submit]")
    expect(page.locator(".chip-open")).to_be_visible()

    # generate a batch in the window
    page.click("nav.mainnav >> text=Recharges")
    expect(page).to_have_url(f"{base}/console/recharges/")
    page.click("#generate-card summary")
    form = page.locator("#generate-form")
    form.locator("input[name=count]").fill("12")
    form.locator("input[name=amount]").fill("1000")
    form.locator("label.pill", has_text="30 days").click()
    form.locator("input[name=label]").fill("counter-1")
    form.locator("button[type=submit]").click()
    expect(page.locator(".messages")).to_contain_text(
        f"12 codes of {_money(unit)} generated (batch counter-1).")
    expect(page.locator("#batch-card")).to_contain_text("Batch counter-1")
    rows = page.locator("#recharges tbody tr")
    expect(rows).to_have_count(12)

    # tick five rows and sell them
    for i in range(5):
        rows.nth(i).locator("input[name=ids]").check()
    expect(page.locator("#selected-count")).to_have_text("5")
    page.click("#sell-selected")
    expect(page.locator(".messages")).to_contain_text(
        f"5 codes sold for {_money(5 * unit)} (Cash).")
    expect(page.locator("#tab-sold .tab-count")).to_have_text("5")
    expect(page.locator("#tab-unsold .tab-count")).to_have_text("7")
    expect(page.locator("#outstanding .tab-value")).to_have_text(_money(5 * unit))
    sold_row = page.locator("#recharges tbody tr.st-sold").first
    code = sold_row.get_attribute("data-code")
    expect(sold_row.locator(".badge")).to_have_text("Sold")
    _shot(page, "desktop")

    # the customer redeems it in the portal, on a phone
    phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True,
                                locale="en-GB")
    portal = phone.new_page()
    portal.set_default_timeout(15_000)
    portal.goto(f"{base}/")
    portal.fill("#username", "amina")
    portal.fill("#password", "amina-pw")
    portal.get_by_role("button", name="Log in").click()
    # first a code still on display, unsold: refused, and the owner is warned
    unsold = page.locator("#recharges tbody tr.st-unsold").first.get_attribute("data-code")
    portal.goto(f"{base}/recharge?code={unsold}")
    portal.get_by_role("button", name="Add this code to my credit").click()
    expect(portal.locator("#code-error")).to_contain_text("Invalid code")
    portal.goto(f"{base}/recharge?code={code}")
    expect(portal.locator("#code")).to_have_value(codes.group(code))
    portal.get_by_role("button", name="Add this code to my credit").click()
    assert re.search(r"1,000\b", portal.inner_text("#balance"))
    phone.close()

    # back in the window: the code is used, by amina (filter in place with htmx)
    page.select_option("#id_status", "used")
    expect(page).to_have_url(re.compile(r"status=used"))
    used_row = page.locator(f'#recharges tr[data-code="{code}"]')
    expect(used_row.locator(".badge")).to_have_text("Used")
    expect(used_row.locator(".col-customer a")).to_have_text("amina")
    used_row.locator(".col-customer a").click()
    expect(page.locator("h1")).to_contain_text("amina")
    expect(page.locator("#balance")).to_have_text(_money(unit))
    expect(page.locator("#redeem")).to_be_visible()
    _shot(page, "customer")
    page.go_back()
    expect(page.locator("#recharges tbody tr")).to_have_count(1)
    expect(page.locator("#tab-used")).to_have_class(re.compile(r"\bactive\b"))
    page.goto(f"{base}/console/recharges/")
    _shot(page, "all")

    # sort by amount with a click on the header, then open the code's page
    page.click("#filters a.btn-ghost")  # clear
    page.click("#recharges th.col-amount a")
    expect(page).to_have_url(re.compile(r"sort=-amount"))
    page.goto(f"{base}/console/recharges/?code={code}")
    page.click(f'#recharges tr[data-code="{code}"] a.code')
    expect(page.locator("#history")).to_contain_text("amina")
    expect(page.locator("#history")).to_contain_text("Sold")
    _shot(page, "code")
    page.goto(f"{base}/console/recharges/?batch=counter-1")
    _shot(page, "batch")
    # the fraud alert: a badge in the navigation, the alerts page, acknowledged there
    expect(page.locator("nav.mainnav .nav-badge")).to_have_text("1")
    page.click("nav.mainnav >> text=Alerts")
    expect(page.locator("#alerts")).to_contain_text(codes.group(unsold))
    expect(page.locator("#alerts")).to_contain_text("amina")
    _shot(page, "alerts")
    page.fill("#alerts input[name=note]", "cards moved behind the counter")
    page.click("#alerts button[type=submit]")
    expect(page.locator("#alerts li.done")).to_contain_text("Acknowledged")
    context.close()

    # the window on a phone
    context, page = _staff_page(browser, base, "manu", viewport=PHONE)
    page.goto(f"{base}/console/recharges/")
    expect(page.locator("#recharges")).to_be_visible()
    _shot(page, "phone")
    _shot(page, "phone-top", full=False)
    expect(page.locator("#sel-bar")).to_be_hidden()
    rows = page.locator("#recharges tbody tr.st-unsold")
    rows.nth(0).locator("input[name=ids]").check()
    rows.nth(1).locator("input[name=ids]").check()
    expect(page.locator("#sel-bar")).to_be_visible()
    expect(page.locator("#sel-bar")).to_contain_text("2")
    _shot(page, "phone-selected", full=False)
    context.close()
