"""openNDS end to end in Chromium on a phone screen, JavaScript off: a fake openNDS router
(a tiny local HTTP server) sends the phone to Ficha's FAS page; the phone logs in with a
code; the router checks ``tok`` and runs the real BinAuth script
(contrib/opennds/ficha-binauth.sh) on the signed ``custom`` to get the client's session
length; the status page shows the time left; a recharge while connected is for the next
login (openNDS takes no CoA); log out stops Ficha's meter and reaches openNDS's
``opennds_deny``, whose BinAuth call reports the end back to Ficha."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from ficha.accounts import services as accounts
from ficha.core import codes
from ficha.hotspot import gateways as g
from ficha.hotspot import services as hs
from ficha.hotspot.models import HotspotSession

from .browser_support import BROWSER_MARKS, PHONE, screenshot
from .hotspot_support import make_nas
from .test_portal_hotspot_browser import _minutes, _venue, _wait_for

pytestmark = [*BROWSER_MARKS, pytest.mark.skipif(
    shutil.which("sha256sum") is None, reason="the BinAuth script needs sha256sum")]

FAS_KEY = "a-long-fas-key"
TOKEN = "b5f4a3c2d1e0"
MAC = "aa:bb:cc:00:00:0e"
BINAUTH = Path(__file__).resolve().parents[1] / "contrib" / "opennds" / "ficha-binauth.sh"


class FakeOpenNDS:
    """GET / → redirect to the FAS page; /opennds_auth/ → tok checked, BinAuth run, then
    ``redir``; /opennds_deny/ → BinAuth's client_deauth (which reports to Ficha)."""

    def __init__(self, portal: str):
        self.portal = portal
        self.granted: list[str] = []  # what BinAuth printed
        self.denied = False
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self, code: int, location: str = "", body: bytes = b""):
                self.send_response(code)
                if location:
                    self.send_header("Location", location)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                parts = urlsplit(self.path)
                q = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if parts.path == "/opennds_auth/":
                    hid = hashlib.sha256(TOKEN.encode()).hexdigest()
                    if q.get("tok") != g.fas_rhid(hid, FAS_KEY):
                        return self._reply(403, body=b"bad tok")
                    out = outer.binauth("auth_client", MAC, "", "", q.get("redir", ""), "ua",
                                        "127.0.0.1", TOKEN, q.get("custom", ""))
                    if out.returncode != 0:
                        return self._reply(403, body=b"binauth refused")
                    outer.granted.append(out.stdout.strip())
                    return self._reply(302, q["redir"])
                if parts.path == "/opennds_deny/":
                    outer.denied = True
                    outer.binauth("client_deauth", MAC, "1500000", "20000000", "0", "0",
                                  TOKEN)
                    return self._reply(200, body=b"logged out")
                self._reply(302, outer.fas_url())

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def binauth(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["sh", str(BINAUTH), *args], capture_output=True, text=True,
                              timeout=20, env={"FICHA_FASKEY": FAS_KEY,
                                               "FICHA_URL": self.portal,
                                               "PATH": "/usr/bin:/bin"})

    def fas_url(self) -> str:
        hid = hashlib.sha256(TOKEN.encode()).hexdigest()
        address = self.base.removeprefix("http://")
        fas = base64.b64encode(
            f"hid={hid}, clientip=127.0.0.1, clientmac={MAC}, gatewayname=kiosk, "
            f"gatewayaddress={address}, originurl=http://example.com/".encode()).decode()
        return f"{self.portal}/hotspot/opennds?{urlencode({'fas': fas})}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def kiosk(live_server, transactional_db):
    found = _venue()  # two sold codes (600 and 1,200), a plan of 600 an hour
    make_nas(name="kiosk", vendor="opennds", address="127.0.0.1", portal_hosts="127.0.0.1",
             fas_key=FAS_KEY)
    with FakeOpenNDS(live_server.url) as gateway:
        yield gateway, found


def test_code_login_through_opennds_is_metered_and_ends_at_log_out(kiosk, chromium):
    gateway, (first, second) = kiosk
    context = chromium.new_context(java_script_enabled=False, viewport=PHONE,
                                   is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(gateway.base + "/")
    assert "/hotspot/opennds" in page.url
    page.fill("#code", codes.group(first))
    page.get_by_role("button", name="Connect with this code").click()
    # <meta refresh> → openNDS's /opennds_auth/ (tok, BinAuth) → the status page
    page.wait_for_url("**/hotspot/status")
    assert gateway.granted == ["3600 0 0 0 0"]  # the router gives this client one hour
    assert "You are online" in page.inner_text("#online")
    assert 55 <= _minutes(page.inner_text("#time-left")) <= 60
    session = HotspotSession.objects.get()
    assert session.status == "open" and session.mac == MAC
    screenshot(page, "captive-opennds-status")

    page.fill("#code", codes.group(second))
    page.get_by_role("button", name="Add to my Wi-Fi time").click()
    assert "1,200 added to your credit" in page.inner_text("main")
    # openNDS takes no CoA: the time left is still the router's; the page says so
    assert 55 <= _minutes(page.inner_text("#time-left")) <= 60
    assert "next login" in page.inner_text("#granted-until")

    page.get_by_role("button", name="Log out of the Wi-Fi").click()
    page.wait_for_url(gateway.base + "/opennds_deny/")
    assert gateway.denied
    session.refresh_from_db()
    assert (session.status, session.terminate_cause) == ("closed", "User-Request")
    # a minute or less used (the minimum increment), the rest of the credit is kept
    assert accounts.balance(session.customer) == 1800 - session.debited
    assert session.debited <= 10
    # the router's own end report arrives after Ficha's Stop: nothing more happens
    time.sleep(0.5)
    assert _wait_for(lambda: HotspotSession.objects.get().debited == session.debited)
    assert hs.meter_portal_sessions() == 0
    context.close()
