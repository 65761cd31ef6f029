"""The hotspot console in a real Chromium: a manager kicks a live session (htmx, with a
confirmation) and the gateway's test CoA port receives the Disconnect-Request."""

from __future__ import annotations

from pyrad import packet as rp

from ficha.hotspot import services as hs
from ficha.hotspot.models import CoaJob
from ficha.hotspot.services import coa_jobs

from .browser_support import BROWSER_MARKS, screenshot
from .coa_listener import CoaListener
from .hotspot_support import acct, give_credit, make_nas, make_plan

PASSWORD = "correct-horse-9"  # the conftest staff password

pytestmark = BROWSER_MARKS


def test_a_manager_kicks_a_session(live_server, page, manager, make_customer, settings):
    from playwright.sync_api import expect

    settings.HOTSPOT_COA_SEND_NOW = False  # sent below, from the test's own connection
    with CoaListener() as gateway:
        nas = make_nas(name="hall", vendor="mikrotik", secret="testing123",
                       coa_port=gateway.port)
        make_plan(price_per_hour=3600)
        alice = make_customer("alice")
        give_credit(alice, 1000)
        hs.account(nas, acct("interim", sid="k1", t=120, mac="AA-BB-CC-DD-EE-01"))

        base = live_server.url
        page.goto(f"{base}/console/login/?next=/console/hotspot/")
        page.fill("#id_username", manager.get_username())
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        expect(page.locator("#live-sessions")).to_contain_text("alice")
        page.once("dialog", lambda dialog: dialog.accept())
        page.click("#live-sessions button:has-text('Kick')")
        expect(page.locator("#live-sessions")).to_contain_text("Disconnecting")
        screenshot(page, "console-hotspot-kick")
        job = CoaJob.objects.get()
        assert (job.kind, job.reason, job.requested_by) == ("disconnect", "kick", "manu")
        assert coa_jobs.send_due(timeout=2) == 1
        assert gateway.received[0]["code"] == rp.DisconnectRequest
        assert gateway.received[0]["Acct-Session-Id"] == "k1"

        page.goto(f"{base}/console/hotspot/coa/")
        expect(page.locator("#coa-jobs")).to_contain_text("Acknowledged")
        expect(page.locator("#coa-jobs")).to_contain_text("Kicked by staff")
