"""The console in a real Chromium: a cashier's day from login to a closed shift, in French.

Needs Debian's chromium (/usr/bin/chromium, or $FICHA_CHROMIUM) and the playwright package;
skips cleanly without them. Set FICHA_SCREENSHOT_DIR to keep screenshots of the pages.
"""

from __future__ import annotations

import re

from ficha.core import services as core_services
from ficha.core.money import Money

from .browser_support import BROWSER_MARKS, screenshot

PASSWORD = "correct-horse-9"  # the conftest staff password

pytestmark = BROWSER_MARKS


def _shot(page, name: str) -> None:
    screenshot(page, f"console-{name}")


def _money(text: str) -> str:
    cur = core_services.currency()
    return Money(Money.parse(text, cur, allow_negative=True).minor, cur).format("en")


def test_a_cashiers_day(live_server, page, cashier):
    from playwright.sync_api import expect

    base = live_server.url
    page.goto(f"{base}/console/")
    expect(page).to_have_url(f"{base}/console/login/?next=/console/")
    page.fill("#id_username", "cass")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{base}/console/")
    expect(page.locator(".chip-closed")).to_be_visible()

    # open a shift with a float of 5000
    page.fill("#open-shift input[name=opening_float]", "5000")
    page.click("#open-shift button[type=submit]")
    expect(page.locator(".chip-open")).to_contain_text("Shift open since")
    expect(page.locator("#expected-cash")).to_have_text(_money("5000"))

    # create a customer
    page.click("nav.mainnav >> text=Customers")
    page.click("text=New customer")
    page.fill("#id_username", "amina")
    page.fill("#id_full_name", "Amina Diallo")
    page.fill("#id_phone", "+221 77 000 11 22")
    page.fill("#id_password", "amina-pw")
    page.click("main form button[type=submit]")
    expect(page.locator("h1")).to_contain_text("amina")
    expect(page.locator("#balance")).to_have_text(_money("0"))

    # deposit cash (inline, through htmx) and see the balance
    page.fill("#deposit input[name=amount]", "2500")
    page.click("#deposit button[type=submit]")
    expect(page.locator("#balance")).to_have_text(_money("2500"))
    expect(page.locator("#history")).to_contain_text("Deposit")
    _shot(page, "customer")

    # live search finds her
    page.goto(f"{base}/console/customers/")
    page.fill("#q", "dial")
    expect(page.locator("#results")).to_contain_text("amina")
    expect(page).to_have_url(f"{base}/console/customers/?q=dial&status=")

    page.goto(f"{base}/console/")
    expect(page.locator("#stat-cash")).to_have_text(_money("7500"))
    expect(page.locator("#stat-served")).to_have_text("1")
    _shot(page, "dashboard")

    # close the shift one note short: expected 7500, counted 7400, variance -100
    page.click("text=Close the shift…")
    page.fill("input[name=counted]", "7400")
    page.fill("textarea[name=note]", "one note missing")
    page.click(".close-shift button[type=submit]")
    expect(page.locator("#closing-expected")).to_have_text(_money("7500"))
    expect(page.locator("#closing-counted")).to_have_text(_money("7400"))
    expect(page.locator("#closing-variance")).to_have_text(_money("-100"))
    expect(page.locator(".chip-closed")).to_be_visible()
    _shot(page, "shift-closed")

    # switch the console to French
    page.select_option("#lang-select", "fr")
    page.wait_for_function("document.documentElement.lang === 'fr'")
    assert page.locator("html").get_attribute("lang") == "fr"
    # The variance is now formatted the French way (Babel) ...
    expect(page.locator("#closing-variance")).to_have_text(
        Money(-100, core_services.currency()).format("fr"))
    # ... and Django's own French catalog is used: the login form's labels and the dates.
    page.goto(f"{base}/console/")
    from django.utils import formats, translation

    from ficha.reports.services import venue_today

    with translation.override("fr"):
        heading = formats.date_format(venue_today(), "l j F Y")
    expect(page.locator("h1")).to_contain_text(heading)
    page.click("form[action='/console/logout/'] button")
    expect(page.locator("label[for=id_username]")).to_have_text(re.compile(r"Nom d.utilisateur"))
    expect(page.locator("label[for=id_password]")).to_have_text("Mot de passe")
