"""The console at a laptop's width: nothing a cashier needs is clipped or scrolled away.

At 1280 px (and 1024 px) wide, with long names and large amounts, the customers list and
a customer's history show their Balance column, the recharges window shows its Customer
column and the liability ("Owed") tile in full, and a closed shift's variance box stays
inside its card. Needs Debian's chromium and playwright (skips without them); set
FICHA_SCREENSHOT_DIR to keep screenshots.
"""

from __future__ import annotations

import pytest

from ficha.accounts import services as accounts
from ficha.core import services as core_services
from ficha.ledger import services as ledger
from ficha.recharges import services as rs

from .browser_support import BROWSER_MARKS, screenshot
from .conftest import actor_for
from .ports import free_port
from .recharges_support import fresh_source

pytestmark = BROWSER_MARKS

PASSWORD = "correct-horse-9"

# Elements that must show all their content: (page, CSS selector) checked for overflow.
OVERFLOW_JS = """(selectors) => {
  const bad = new Set();
  const page = document.documentElement;
  if (page.scrollWidth > page.clientWidth + 1) bad.add('page ' + page.scrollWidth);
  for (const sel of selectors) {
    const found = document.querySelectorAll(sel);
    if (!found.length) bad.add('missing ' + sel);
    found.forEach((el) => {
      if (el.scrollWidth > el.clientWidth + 1) {
        bad.add(sel + ' scrolls ' + el.scrollWidth + '>' + el.clientWidth);
      }
      const box = el.getBoundingClientRect();
      let parent = el.parentElement;
      while (parent && getComputedStyle(parent).overflowX === 'visible') {
        parent = parent.parentElement;
      }
      if (parent) {
        const outer = parent.getBoundingClientRect();
        if (box.right > outer.right + 1 || box.left < outer.left - 1) {
          bad.add(sel + ' sticks out of ' + parent.className + ': ' + Math.round(box.right)
                   + '>' + Math.round(outer.right));
        }
      }
    });
  }
  return [...bad];
}"""


@pytest.fixture
def busy_venue(owner, cashier):
    """Long names, large amounts: what makes columns and tiles overflow."""
    core_services.update_settings(actor_for(owner), currency_locked=False, currency="XOF")
    desk = actor_for(cashier)
    office = actor_for(owner)
    shift = ledger.open_shift(desk, 1_500_000)
    long = accounts.create_customer(
        desk, "mariama-ndiaye-diallo-teranga", password="pw-mariama-1",
        full_name="Mariama Ndèye Fatou Diallo-Ndiaye de la Teranga", phone="+221 77 123 45 67")
    accounts.deposit(desk, long, 987_654_321, memo="avance pour le mois de décembre, salle B")
    batch = rs.generate(office, count=40, amount=1_000_000,
                        label="Grande promotion de fin d'année 2026 — lot 7")
    rs.sell(desk, list(batch.recharges.order_by("id")[:30]))
    code = batch.recharges.filter(status="sold").first().code
    rs.redeem(code, customer=long, source=fresh_source())
    ledger.close_shift(desk, shift, 123_456_789, note="compté deux fois")
    return {"customer": long, "shift": shift}


@pytest.fixture
def laptop(chromium):
    def make(width: int):
        context = chromium.new_context(viewport={"width": width, "height": 900},
                                       locale="en-GB")
        page = context.new_page()
        page.set_default_timeout(15_000)
        return context, page

    return make


def _login(page, base: str) -> None:
    page.goto(f"{base}/console/login/")
    page.fill("#id_username", "olga")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/console/")


@pytest.mark.parametrize("width", [1280, 1024])
def test_nothing_is_clipped_on_a_laptop(live_server, laptop, busy_venue, width):
    base = live_server.url
    context, page = laptop(width)
    try:
        _login(page, base)
        pages = [
            ("customers", "/console/customers/",
             ["#results .table-wrap", "#results td.num"]),
            ("customer", f"/console/customers/{busy_venue['customer'].pk}/",
             ["#history", "#history td.num", "#balance"]),
            ("recharges", "/console/recharges/",
             ["#window-results .table-wrap", "#recharges .col-customer",
              ".status-tab", ".status-tab .tab-value", ".tab-owed"]),
            ("shift", f"/console/shifts/{busy_venue['shift'].pk}/",
             ["#closing", ".closing-item", "#closing-variance"]),
            ("dashboard", "/console/", [".stat", ".stat-value"]),
        ]
        for name, path, selectors in pages:
            page.goto(base + path)
            screenshot(page, f"layout-{name}-{width}")
            problems = page.evaluate(OVERFLOW_JS, selectors)
            assert problems == [], f"{name} at {width} px: {problems}"
        # the columns asked about are really on screen, whole
        page.goto(base + "/console/recharges/")
        assert page.locator("#recharges .col-customer a").first.inner_text().startswith(
            "mariama")
    finally:
        context.close()


@pytest.mark.parametrize(("width", "points"), [(58, 164.4), (80, 226.8)])
def test_tickets_page_prints_one_ticket_a_page_as_wide_as_the_roll(
        live_server, laptop, owner, width, points):
    import re

    batch = rs.generate(actor_for(owner), count=3, amount=500, label="Roll")
    base = live_server.url
    context, page = laptop(1280)
    try:
        _login(page, base)
        page.goto(f"{base}/console/recharges/print/page/?batch={batch.pk}&width={width}")
        screenshot(page, f"tickets-page-{width}")
        # with JavaScript the Print button shows (static print.js), and the hint hides
        assert page.locator("[data-print]").is_visible()
        assert not page.locator("[data-print-hint]").is_visible()
        pdf = page.pdf(prefer_css_page_size=True, print_background=True)
    finally:
        context.close()
    boxes = re.findall(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", pdf)
    assert len(boxes) == 3  # one page per ticket
    assert all(abs(float(w) - points) < 1 for w, _h in boxes)  # mm → points


def test_settings_enter_saves_and_the_test_button_prints(live_server, laptop, owner):
    base = live_server.url
    context, page = laptop(1280)
    try:
        _login(page, base)
        page.goto(f"{base}/console/settings/")
        screenshot(page, "settings-1280")
        page.fill("#id_public_url", "http://192.168.1.10:8000")
        page.press("#id_public_url", "Enter")  # saves: not "Print a test ticket"
        page.wait_for_selector("text=Settings saved.")
        page.fill("#id_printer_host", "127.0.0.1")
        page.fill("#id_printer_port", str(free_port()))  # nothing listens
        page.click("#test-printer")
        page.wait_for_selector("text=refused the connection")
        assert page.input_value("#id_printer_host") == "127.0.0.1"  # typed, kept, not saved
    finally:
        context.close()
    core_services.clear_cache()
    venue = core_services.venue_settings()
    assert (venue.public_url, venue.printer_host) == ("http://192.168.1.10:8000", "")
