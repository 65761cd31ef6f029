"""Café tariffs in a real Chromium: a manager writes a tariff, sees its week, prices a
session line by line (a plain GET form: no JavaScript needed), under the CSP.

Needs Debian's chromium and playwright; skips cleanly without them. Set
FICHA_SCREENSHOT_DIR to keep screenshots.
"""

from __future__ import annotations

import pytest

from .browser_support import BROWSER_MARKS, screenshot

PASSWORD = "correct-horse-9"  # the conftest staff password

pytestmark = BROWSER_MARKS


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB",
                                   java_script_enabled=False)
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    yield pg
    context.close()


def test_manager_writes_a_tariff_and_prices_a_session(live_server, page, manager):
    from playwright.sync_api import expect

    base = live_server.url
    page.goto(f"{base}/console/login/")
    page.fill("#id_username", "manu")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{base}/console/tariffs/")
    expect(page.locator("h1")).to_contain_text("Tariffs")
    page.goto(f"{base}/console/tariffs/new/")
    page.fill("#id_name", "Standard")
    page.fill("#id_first_minutes", "30")
    page.fill("#id_every_minutes", "15")
    page.fill("#id_minimum", "200")
    page.fill("#id_rates", "day guest=600 member=500\nday from 60 guest=400\nnight guest=300")
    page.fill("#id_bands", "mon-sun 22:00-06:00 night")
    page.fill("#id_fallback", "day")
    page.click("button.btn-primary[type=submit]")
    expect(page.locator(".tariff-grid")).to_be_visible()
    assert page.locator(".tariff-grid td.rate-1").count() == 7 * 8  # 22:00–06:00 nightly
    screenshot(page, "tariffs-edit")
    page.goto(f"{base}/console/tariffs/quote/")
    page.fill("#id_start", "2026-12-02T21:20")
    page.fill("#id_minutes", "80")
    page.click("button.btn-primary[type=submit]")
    lines = page.locator(".charge-lines tbody tr")
    expect(lines).to_have_count(3)
    expect(lines.nth(1)).to_contain_text("Wednesday 21:20:00–22:00:00, day")
    expect(lines.nth(2)).to_contain_text("22:00:00–22:50:00, night")
    expect(page.locator("#charge-total")).to_contain_text("650")
    screenshot(page, "tariffs-quote")
    page.goto(f"{base}/console/tariffs/")
    screenshot(page, "tariffs-page")
