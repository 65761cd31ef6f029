"""The console and the portal live with the Content-Security-Policy in a real Chromium:
the scripts that were inline (select all, the language picker) still work from files, and
Chromium reports no violation (the chromium fixture fails any test that sees one)."""

from __future__ import annotations

from ficha.recharges import services as rs

from .browser_support import BROWSER_MARKS, watch_csp
from .conftest import actor_for

PASSWORD = "correct-horse-9"

pytestmark = BROWSER_MARKS


def test_console_and_portal_work_under_the_policy_with_no_violation(live_server, chromium,
                                                                     owner, make_customer):
    from playwright.sync_api import expect

    violations = watch_csp(chromium)
    rs.generate(actor_for(owner), count=5, amount=500, label="csp")
    make_customer("amina", password="amina-pw-1")
    base = live_server.url
    context = chromium.new_context(viewport={"width": 1280, "height": 860}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(15_000)
    response = page.goto(f"{base}/console/login/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    page.fill("#id_username", "olga")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/console/")

    # the codes list: "tick every code" (was an inline script) shows the sell bar
    page.goto(f"{base}/console/recharges/")
    page.check("#select-all")
    expect(page.locator("#selected-count")).to_have_text("5")
    # htmx still works: a search swaps the results in
    for path in ("/console/customers/", "/console/tokens/", "/console/audit/",
                 "/console/shifts/", "/api/v1/docs"):
        page.goto(base + path)
    # the language picker (was onchange=) submits itself
    page.goto(f"{base}/console/")
    page.select_option("#lang-select", "fr")
    expect(page.locator("html")).to_have_attribute("lang", "fr")

    # the customer portal, with JavaScript on
    portal = context.new_page()
    portal.goto(f"{base}/login")
    portal.fill("input[name=username]", "amina")
    portal.fill("input[name=password]", "amina-pw-1")
    portal.click("button[type=submit]")
    portal.wait_for_load_state()
    context.close()
    assert not violations, violations


def test_the_watch_sees_a_violation(live_server, chromium):
    """The check can fail: an inline script on a page served with the policy is reported."""
    violations = watch_csp(chromium)
    context = chromium.new_context()
    page = context.new_page()
    page.goto(f"{live_server.url}/console/login/")
    page.evaluate("""() => { const s = document.createElement('script');
                             s.textContent = 'window.x = 1'; document.body.appendChild(s); }""")
    page.wait_for_timeout(300)
    context.close()
    assert any("Content Security Policy" in v for v in violations), violations
    violations.clear()  # the same list the fixture checks at teardown: this one was wanted
