"""The room map in a real Chromium: a station changes state and the open map shows it
within a few seconds, without a reload (htmx polls the fragment). Also checks the map
lives with the Content-Security-Policy (browser_support)."""

from __future__ import annotations

import pytest

from ficha.stations import services as st
from tests.stations_support import OWNER, make_station

from .browser_support import BROWSER_MARKS, screenshot

PASSWORD = "correct-horse-9"  # the conftest staff password

pytestmark = BROWSER_MARKS


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1366, "height": 768}, locale="en-GB")
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    yield pg
    context.close()


def test_room_map_follows_a_station_without_reloading(live_server, page, cashier):
    from playwright.sync_api import expect

    stations = [make_station(name=f"PC-{n:02d}", col=1 + n % 10, row=1 + n // 10)
                for n in range(30)]
    pc = make_station(name="Pool table", kind="device", col=3, row=4)  # timed from here
    base = live_server.url
    page.goto(f"{base}/console/stations/")
    page.fill("#id_username", "cass")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{base}/console/stations/")
    cell = page.locator(f"#station-{pc.pk}")
    expect(cell).to_have_attribute("data-state", "free")
    expect(page.locator(f"#station-{stations[0].pk}")).to_have_attribute("data-state",
                                                                         "offline")
    page.evaluate("window.__notReloaded = true")

    st.start_postpaid(OWNER, pc, "Walk-in Ana")  # the cashier's colleague, elsewhere
    expect(cell).to_have_attribute("data-state", "session", timeout=6_000)
    expect(cell).to_contain_text("Walk-in Ana")
    st.run(OWNER, pc, "pause")
    expect(cell).to_have_attribute("data-state", "paused", timeout=6_000)
    assert page.evaluate("window.__notReloaded") is True  # the same page all along
    screenshot(page, "stations-room")

    # the map is a usable page: the cell links to the station, which stops the session
    cell.click()
    expect(page.locator("h1")).to_contain_text("Pool table")
    page.click("form:has(input[value=stop]) button")
    expect(page.locator("#messages")).to_contain_text("Stop session: done")
    page.goto(f"{base}/console/stations/")
    expect(page.locator("#unpaid")).to_contain_text("Walk-in Ana")
