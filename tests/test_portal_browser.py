"""The customer portal in a real Chromium with JavaScript disabled, on a phone screen.

Set ``FICHA_SCREENSHOTS=/some/dir`` to keep a screenshot of each page visited.
"""

from __future__ import annotations

import re

import pytest

from ficha.accounts import services as accounts
from ficha.core import audit, codes, roles
from ficha.ledger import services as ledger
from ficha.recharges import services as rs

from .browser_support import BROWSER_MARKS, PHONE, screenshot

pytestmark = BROWSER_MARKS


def _shot(page, name: str) -> None:
    screenshot(page, f"portal-{name}")


@pytest.fixture
def venue(transactional_db):
    """A customer with 500 of credit and two sold codes (1,000 and 2,000)."""
    roles.sync_roles()
    owner = accounts.create_staff(audit.SYSTEM, "olga", "correct-horse-9", roles.OWNER)
    cashier = accounts.create_staff(audit.SYSTEM, "cass", "correct-horse-9", roles.CASHIER)
    desk = audit.Actor(user=cashier, source="console")
    ledger.open_shift(desk, 10_000)
    ada = accounts.create_customer(audit.SYSTEM, "ada", password="ada-secret")
    accounts.deposit(desk, ada, 500)
    found = []
    for amount in (1000, 2000):
        batch = rs.generate(audit.Actor(user=owner, source="console"), count=1, amount=amount)
        rs.sell(desk, batch.recharges.all())
        found.append(batch.recharges.get().code)
    return {"customer": ada, "codes": found}


def test_log_in_and_redeem_a_code_without_javascript_on_a_phone(live_server, venue, chromium):
    first, second = venue["codes"]
    context = chromium.new_context(java_script_enabled=False, viewport=PHONE,
                                   is_mobile=True, has_touch=True)
    page = context.new_page()

    page.goto(f"{live_server.url}/")
    assert page.url.endswith("/login")
    _shot(page, "login")
    page.fill("#username", "ada")
    page.fill("#password", "ada-secret")
    page.get_by_role("button", name="Log in").click()
    assert re.search(r"500\b", page.inner_text("#balance"))
    _shot(page, "home")

    page.fill("#code", codes.group(first))
    page.get_by_role("button", name="Add to my credit").click()
    assert re.search(r"1,500\b", page.inner_text("#balance"))
    assert "added to your credit" in page.inner_text("main")
    _shot(page, "home-after-redeem")

    page.fill("#code", codes.group(first))
    page.get_by_role("button", name="Add to my credit").click()
    assert "This code has already been used." in page.inner_text("#code-error")
    _shot(page, "home-error")

    # The QR code on a card: the code is filled in, one tap redeems it.
    page.goto(f"{live_server.url}/recharge?code={second}")
    assert page.input_value("#code") == codes.group(second)
    _shot(page, "recharge")
    page.get_by_role("button", name="Add this code to my credit").click()
    assert re.search(r"3,500\b", page.inner_text("#balance"))

    # Everything fits the phone's width: no sideways scrolling to reach a button.
    for selector in ("#balance", "#code", "button.primary", "footer"):
        box = page.locator(selector).first.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], selector
    context.close()
    assert accounts.balance(venue["customer"]) == 3500
