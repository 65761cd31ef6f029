"""Rate decks in a real Chromium: upload a deck file, the preview shows the bad row with
its line and reason and offers no import; upload the fixed file, import it; the deck's
page lists the rates; the rate tool shows the number read, the prefix matched and the cost
step by step.

Needs Debian's chromium (/usr/bin/chromium, or $FICHA_CHROMIUM) and the playwright package;
skips cleanly without them. Set FICHA_SCREENSHOT_DIR to keep screenshots of the pages.
"""

from __future__ import annotations

import pytest

from ficha.callshop import services as callshop
from ficha.callshop.models import Deck, Rate

from .browser_support import BROWSER_MARKS, screenshot
from .rates_support import SYSTEM

PASSWORD = "correct-horse-9"  # the conftest staff password

pytestmark = BROWSER_MARKS

BROKEN = "33;France;100\n336;France mobile;zero\n44;United Kingdom;60,5\n"
FIXED = "33;France;100\n336;France mobile;150,5\n44;United Kingdom;60,5\n"

NO_SIDEWAYS_SCROLL = (
    "document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1"
)


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1280, "height": 860}, locale="en-GB")
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    yield pg
    context.close()


def _upload(page, text: str) -> None:
    page.fill("#import-upload input[name=deck]", "retail")
    page.set_input_files(
        "#import-upload input[name=file]",
        files=[{"name": "retail.csv", "mimeType": "text/csv", "buffer": text.encode()}],
    )
    page.click("#import-upload button[type=submit]")


def test_import_a_deck_with_a_preview_and_use_the_rate_tool(live_server, page, manager):
    from playwright.sync_api import expect

    callshop.update_dialing_plan(
        SYSTEM, international_prefix="00", national_prefix="0", country_code="33"
    )
    base = live_server.url
    page.goto(f"{base}/console/login/")
    page.fill("#id_username", "manu")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")

    page.click("nav.mainnav >> text=Call rates")
    page.click("text=Import a rate file")
    _upload(page, BROKEN)
    expect(page.locator("#preview h2")).to_contain_text("nothing was written")
    expect(page.locator("#preview-comma")).to_contain_text("yes")
    bad = page.locator("#import-errors tbody tr")
    expect(bad).to_have_count(1)
    expect(bad.first).to_contain_text("2")
    expect(bad.first).to_contain_text("price")
    expect(bad.first).to_contain_text("is not a price")
    expect(page.locator("#import-confirm")).to_have_count(0)
    screenshot(page, "rates-preview-error")
    assert not Rate.objects.exists()

    _upload(page, FIXED)
    expect(page.locator("#preview h2")).to_contain_text("Preview: nothing is written yet")
    expect(page.locator("#preview-rows")).to_have_text("3")
    expect(page.locator("#preview .rate-rows tbody tr")).to_have_count(3)
    screenshot(page, "rates-preview-ok")
    assert page.evaluate(NO_SIDEWAYS_SCROLL), "the preview scrolls sideways at 1280 px"
    assert not Rate.objects.exists()
    page.click("#import-confirm button[type=submit]")
    expect(page.locator("h1")).to_contain_text("Rate deck retail")
    expect(page.locator("#rates")).to_contain_text("France mobile")
    assert Deck.objects.get(name="retail").row_count == 3

    # search narrows the list without a reload (htmx)
    page.evaluate("window.notReloaded = true")
    page.fill("#q", "44")
    expect(page.locator("#rates tbody tr")).to_have_count(1)
    expect(page.locator("#rates")).to_contain_text("United Kingdom")
    assert page.evaluate("window.notReloaded") is True
    screenshot(page, "rates-deck")
    assert page.evaluate(NO_SIDEWAYS_SCROLL), "the deck's page scrolls sideways at 1280 px"

    # the rate tool
    page.click("text=What does a call cost?")
    page.fill("#quote-form input[name=number]", "06 12 34 56 78")
    page.fill("#quote-form input[name=seconds]", "61")
    page.click("#quote-form button[type=submit]")
    expect(page.locator("#quote-digits")).to_have_text("33612345678")
    expect(page.locator("#quote-candidates tr.chosen")).to_contain_text("336")
    expect(page.locator("#quote-steps")).to_contain_text("120 s billed")
    expect(page.locator("#quote-total")).to_contain_text("301")  # 150.5 × 120/60, XOF
    screenshot(page, "rates-quote")
