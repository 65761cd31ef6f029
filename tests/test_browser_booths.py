"""The booth counter in a real Chromium: open a booth, a call arrives and shows on the live
screen without a reload, checkout with the cash tendered shows the change, the receipt
opens.

Needs Debian's chromium (/usr/bin/chromium, or $FICHA_CHROMIUM) and the playwright package;
skips cleanly without them. Set FICHA_SCREENSHOT_DIR to keep screenshots of the pages.
"""

from __future__ import annotations

from ficha.callshop import services as callshop
from ficha.callshop.counter_models import Checkout
from ficha.callshop.models import BoothSession
from ficha.core import services as core_services
from ficha.core.money import Money

from .browser_support import BROWSER_MARKS, screenshot
from .callshop_support import make_booth, make_deck

PASSWORD = "correct-horse-9"  # the conftest staff password

pytestmark = BROWSER_MARKS


def _money(minor: int) -> str:
    return Money(minor, core_services.currency()).format("en")


def test_booth_checkout_in_the_browser(live_server, page, cashier):
    from playwright.sync_api import expect

    make_deck()
    booth = make_booth("Cabine 1", "booth1")
    base = live_server.url
    page.goto(f"{base}/console/login/")
    page.fill("#id_username", "cass")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.fill("#open-shift input[name=opening_float]", "5000")
    page.click("#open-shift button[type=submit]")
    expect(page.locator(".chip-open")).to_be_visible()

    # open the booth from the live screen
    page.click("nav.mainnav >> text=Booths")
    tile = page.locator(f"#booth-{booth.pk}")
    expect(tile).to_have_attribute("data-state", "free")
    tile.locator("button[type=submit]").click()
    expect(page.locator("h1")).to_contain_text("Booth Cabine 1")
    page.goto(f"{base}/console/booths/")
    tile = page.locator(f"#booth-{booth.pk}")
    expect(tile).to_have_attribute("data-state", "open")
    page.evaluate("window.notReloaded = true")

    # the PBX authorizes a call on the booth: the screen shows it, running, without reload
    decision = callshop.authorize("booth1", "0022507123456")
    assert decision.allowed and decision.postpaid
    expect(tile).to_have_attribute("data-state", "calling", timeout=4_000)
    expect(tile.locator(".booth-dest")).to_have_text("Côte d'Ivoire mobile")
    expect(tile.locator(".mono")).to_have_text("0022507123\u2022\u2022\u2022")
    screenshot(page, "booths-calling")
    callshop.end_call(decision.call.pk, 61)  # two started minutes at 120 = 240
    expect(tile).to_have_attribute("data-state", "open", timeout=4_000)
    expect(tile.locator(".booth-sum")).to_have_text(_money(240))
    assert page.evaluate("window.notReloaded") is True

    # checkout: an extra, the cash tendered, the change
    tile.locator("text=Bill and checkout").click()
    page.fill("#extras input[name=extra-description]", "Coffee")
    page.fill("#extras input[name=extra-amount]", "260")
    page.click("#extras button[type=submit]")
    expect(page.locator("#bill-due")).to_have_text(_money(500))
    page.fill("#checkout input[name=pay-tendered]", "1000")
    page.click("#checkout-form button[type=submit]")
    expect(page.locator("#change-due")).to_have_text(_money(500))
    screenshot(page, "booths-paid")
    session = BoothSession.objects.get(booth=booth)
    assert Checkout.objects.get(session=session).change == 500

    # the receipt opens on a ticket page
    page.click("#receipt-80")
    expect(page.locator("#receipt")).to_contain_text("Côte d'Ivoire mobile")
    expect(page.locator("#receipt")).to_contain_text("Coffee")
    expect(page.locator("#receipt .r-total").last).to_contain_text(_money(500))
    screenshot(page, "booths-receipt")
