"""The captive portal end to end in Chromium on a phone screen: a fake MikroTik gateway (a
tiny local HTTP server) redirects the phone to Ficha's portal, receives the login form the
portal posts back, and authenticates the posted CHAP credential against Ficha's own
RADIUS server over UDP, then starts accounting — as a router does. Then the status page,
and a recharge while connected."""

from __future__ import annotations

import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from pyrad import packet as rp

from ficha.core import audit, codes, roles
from ficha.hotspot import gateways as g
from ficha.hotspot import radius
from ficha.hotspot.models import HotspotSession
from ficha.hotspot.services import coa_jobs
from ficha.ledger import services as ledger
from ficha.recharges import services as rs

from .browser_support import BROWSER_MARKS, PHONE, screenshot
from .coa_listener import CoaListener
from .hotspot_support import make_nas, make_plan
from .ports import free_ports

pytestmark = BROWSER_MARKS

AUTH_PORT, ACCT_PORT = free_ports(2, udp=True)
SECRET = "testing123"
CHAP_ID = 0o371
CHALLENGE = bytes.fromhex("0d8a2b4c6e1f3a5b7c9d0e2f4a6b8c1d")
MAC = "AA:BB:CC:00:00:09"


def _octal(data: bytes) -> str:
    return "".join(f"\\{b:03o}" for b in data)


def _radius(packet, port: int) -> rp.Packet | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(packet.RequestPacket(), ("127.0.0.1", port))
        data, _addr = s.recvfrom(4096)
    return packet.CreateReply(packet=data)


def radius_login(username: str, chap_id: int, response: bytes, challenge: bytes,
                 accepted: list) -> rp.Packet:
    """What a gateway does with a login: Access-Request (CHAP) to Ficha's RADIUS server,
    then Accounting-Start on an Access-Accept."""
    d = radius.dictionary()
    req = rp.AuthPacket(secret=SECRET.encode(), dict=d)
    req.AddAttribute("User-Name", username)
    req.AddAttribute("CHAP-Password", bytes([chap_id]) + response)
    req.AddAttribute("CHAP-Challenge", challenge)
    req.AddAttribute("Calling-Station-Id", MAC)
    req.AddAttribute("NAS-IP-Address", "127.0.0.1")
    req.add_message_authenticator()
    reply = _radius(req, AUTH_PORT)
    if reply.code == rp.AccessAccept:
        acct = rp.AcctPacket(secret=SECRET.encode(), dict=d)
        acct.AddAttribute("Acct-Status-Type", "Start")
        acct.AddAttribute("Acct-Session-Id", f"80000{len(accepted)}")
        acct.AddAttribute("User-Name", username)
        acct.AddAttribute("Calling-Station-Id", MAC)
        acct.AddAttribute("Class", reply["Class"][0])
        _radius(acct, ACCT_PORT)
        accepted.append({"user": username, "timeout": reply["Session-Timeout"][0]})
    return reply


class FakeMikrotik:
    """GET / → the router's redirect to the portal; POST /login → RADIUS CHAP, then
    Accounting-Start and a redirect to ``dst`` (or back to the portal with the error)."""

    def __init__(self, portal: str):
        self.portal = portal
        self.accepted: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _redirect(self, to: str):
                self.send_response(302)
                self.send_header("Location", to)
                self.end_headers()

            def do_GET(self):
                if urlsplit(self.path).path == "/logout":
                    self.send_response(200)
                    self.end_headers()
                    self.wfile.write(b"logged out")
                    return
                self._redirect(outer.portal_url())

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                reply = outer.login(form)
                if reply.code == rp.AccessAccept:
                    self._redirect(form["dst"])
                else:
                    message = reply.get("Reply-Message", [""])[0]
                    self._redirect(outer.portal_url(error=message))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def portal_url(self, error: str = "") -> str:
        query = {"link-login-only": f"{self.base}/login", "chap-id": _octal(bytes([CHAP_ID])),
                 "chap-challenge": _octal(CHALLENGE), "mac": MAC, "ip": "10.5.50.9",
                 "link-orig": "http://example.com/", "link-logout": f"{self.base}/logout",
                 "error": error}
        return f"{self.portal}/hotspot/mikrotik?{urlencode(query)}"

    def login(self, form: dict) -> rp.Packet:
        reply = radius_login(form["username"], CHAP_ID, bytes.fromhex(form["password"]),
                             CHALLENGE, self.accepted)
        return reply

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


UAM_SECRET = "a-long-uam-secret"
UAM_CHALLENGE = "00112233445566778899aabbccddeeff"


class FakeChilli(FakeMikrotik):
    """GET / → the UAM redirect (signed with md); GET /logon → RADIUS CHAP with
    CHAP-Challenge = K, then back to the UAM server with res=success."""

    def __init__(self, portal: str):
        super().__init__(portal)
        outer = self

        class Handler(self.server.RequestHandlerClass):
            def do_GET(self):
                parts = urlsplit(self.path)
                if parts.path == "/logon":
                    q = {k: v[0] for k, v in parse_qs(parts.query).items()}
                    key = g.chilli_key(UAM_CHALLENGE, UAM_SECRET)
                    reply = radius_login(q["username"], 0, bytes.fromhex(q["response"]),
                                         key, outer.accepted)
                    ok = reply.code == rp.AccessAccept
                    self._redirect(outer.portal_url("success" if ok else "failed"))
                    return
                self._redirect(outer.portal_url())

        self.server.RequestHandlerClass = Handler

    def portal_url(self, res: str = "notyet") -> str:
        host, port = self.base.removeprefix("http://").split(":")
        query = {"res": res, "uamip": host, "uamport": port, "challenge": UAM_CHALLENGE,
                 "mac": MAC.replace(":", "-"), "ip": "10.1.0.9", "nasid": "cafe",
                 "userurl": "http://example.com/"}
        url = f"{self.portal}/hotspot/chilli?{urlencode(query)}"
        return f"{url}&md={g.chilli_md(url, UAM_SECRET)}"


@pytest.fixture
def chilli_hotspot(live_server, transactional_db):
    found = _venue()
    make_nas(name="cafe", vendor="coovachilli", address="127.0.0.1", secret=SECRET,
             portal_hosts="127.0.0.1", uam_secret=UAM_SECRET)
    server = radius.ServerThread(("127.0.0.1", AUTH_PORT), ("127.0.0.1", ACCT_PORT)).start()
    try:
        with FakeChilli(live_server.url) as gateway:
            yield gateway, found
    finally:
        server.stop()


def _venue() -> list[str]:
    """Staff, an open shift, two sold codes (600 and 1,200) and a plan of 600 an hour."""
    from ficha.accounts import services as accounts

    roles.sync_roles()
    owner = accounts.create_staff(audit.SYSTEM, "olga", "correct-horse-9", roles.OWNER)
    cashier = accounts.create_staff(audit.SYSTEM, "cass", "correct-horse-9", roles.CASHIER)
    desk = audit.Actor(user=cashier, source="console")
    ledger.open_shift(desk, 10_000)
    found = []
    for amount in (600, 1200):
        batch = rs.generate(audit.Actor(user=owner, source="console"), count=1, amount=amount)
        rs.sell(desk, batch.recharges.all())
        found.append(batch.recharges.get().code)
    make_plan(price_per_hour=600, increment_seconds=60)  # 600 buys an hour
    return found


@pytest.fixture
def hotspot(live_server, transactional_db):
    found = _venue()
    listener = CoaListener(secret=SECRET)  # the router's CoA port
    make_nas(name="hall", vendor="mikrotik", address="127.0.0.1", secret=SECRET,
             portal_hosts="127.0.0.1", coa_port=listener.port)
    server = radius.ServerThread(("127.0.0.1", AUTH_PORT), ("127.0.0.1", ACCT_PORT)).start()
    try:
        with FakeMikrotik(live_server.url) as gateway, listener:
            gateway.coa = listener
            yield gateway, found
    finally:
        server.stop()


def _wait_for(found, seconds: float = 10.0):
    """``found()`` once it is truthy (UDP answers arrive from another thread)."""
    deadline = time.monotonic() + seconds
    while not (result := found()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return result


def _minutes(text: str) -> int:
    hours = re.search(r"(\d+) h", text)
    minutes = re.search(r"(\d+) min", text)
    return (int(hours.group(1)) * 60 if hours else 0) + (int(minutes.group(1)) if minutes else 0)


def test_code_login_through_a_gateway_then_recharge_while_connected(hotspot, chromium):
    gateway, (first, second) = hotspot
    context = chromium.new_context(java_script_enabled=False, viewport=PHONE,
                                   is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(gateway.base + "/")  # the phone opens any page: the router redirects it
    assert "/hotspot/mikrotik" in page.url
    screenshot(page, "captive-login")
    page.fill("#code", codes.group(first))
    page.get_by_role("button", name="Connect with this code").click()
    # Without JavaScript the hand-off page waits for one tap.
    screenshot(page, "captive-handoff")
    page.get_by_role("button", name="Continue").click()
    assert page.url.endswith("/hotspot/status"), page.url
    assert gateway.accepted == [{"user": first, "timeout": 3600}]
    assert "You are online" in page.inner_text("#online")
    assert 55 <= _minutes(page.inner_text("#time-left")) <= 60
    screenshot(page, "captive-status")

    # A second code, redeemed from the status page while connected.
    page.fill("#code", codes.group(second))
    page.get_by_role("button", name="Add to my Wi-Fi time").click()
    assert "1,200 added to your credit" in page.inner_text("main")
    left = _minutes(page.inner_text("#time-left"))
    assert 175 <= left <= 180, left
    session = HotspotSession.objects.get()
    assert session.status == HotspotSession.Status.OPEN and session.mac == MAC.lower()
    # The live session is extended without reconnecting: the router gets a CoA-Request
    # with the Session-Timeout (from the session's start) that 600 + 1,200 buy: 3 hours.
    coa_jobs.send_due(timeout=2)  # the worker's job, if the redemption did not send it
    coas = _wait_for(lambda: [r for r in gateway.coa.received if r["code"] == rp.CoARequest])
    assert coas and {r["Session-Timeout"] for r in coas} == {3 * 3600}
    assert coas[0]["User-Name"] == first and coas[0]["Acct-Session-Id"] == "800000"
    # Everything fits the phone's width.
    for selector in ("#time-left", "#code", "button.primary", "footer"):
        box = page.locator(selector).first.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], selector
    screenshot(page, "captive-recharged")

    # Log out: the portal session ends and a <meta refresh> (no script) takes the phone to
    # the router's log-out address.
    page.get_by_role("button", name="Log out of the Wi-Fi").click()
    page.wait_for_url(gateway.base + "/logout")
    context.close()


def test_with_javascript_the_hand_off_is_automatic(hotspot, chromium):
    gateway, (first, _second) = hotspot
    context = chromium.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(gateway.base + "/")
    page.fill("#code", first)
    page.get_by_role("button", name="Connect with this code").click()
    page.wait_for_url("**/hotspot/status")
    assert "You are online" in page.inner_text("#online")
    assert gateway.accepted[0]["timeout"] == 3600
    context.close()


def test_code_login_through_coovachilli_uam(chilli_hotspot, chromium):
    gateway, (first, _second) = chilli_hotspot
    context = chromium.new_context(java_script_enabled=False, viewport=PHONE,
                                   is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(gateway.base + "/")
    assert "/hotspot/chilli" in page.url
    page.fill("#code", first)
    page.get_by_role("button", name="Connect with this code").click()
    # <meta refresh> → chilli's /logon → RADIUS → res=success → the status page
    page.wait_for_url("**/hotspot/status")
    assert gateway.accepted == [{"user": first, "timeout": 3600}]
    assert "You are online" in page.inner_text("#online")
    assert 55 <= _minutes(page.inner_text("#time-left")) <= 60
    screenshot(page, "captive-chilli-status")
    context.close()
