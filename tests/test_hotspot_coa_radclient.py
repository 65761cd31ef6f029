"""End to end with the real server and FreeRADIUS' radclient as the gateway's RADIUS
client, and a pyrad test listener as the gateway's CoA port: a returning device logs in
by MAC, a code redeemed mid-session sends a CoA-Request with the new Session-Timeout,
and the credit running out sends a Disconnect-Request."""

from __future__ import annotations

import datetime as dt

import pytest
from pyrad import packet as rp

from ficha.core import clock
from ficha.hotspot import radius
from ficha.hotspot import services as hs
from ficha.hotspot.models import CoaJob, HotspotSession
from ficha.hotspot.services import coa_jobs
from ficha.recharges import services as rs

from .coa_listener import CoaListener
from .hotspot_support import give_credit, make_nas, make_plan
from .ports import free_ports
from .test_hotspot_radius import MA, needs_radclient, reply_attrs, run_radclient

AUTH_PORT, ACCT_PORT = free_ports(2, udp=True)


@pytest.fixture
def live(transactional_db, make_customer, settings):
    settings.HOTSPOT_COA_SEND_NOW = False  # the test sends, to look at each step
    with CoaListener(secret="testing123") as gateway:
        nas = make_nas(vendor="mikrotik", address="127.0.0.0/8", coa_address="127.0.0.1",
                       coa_port=gateway.port)
        plan = make_plan(price_per_hour=3600, increment_seconds=60, mac_login=True)
        alice = make_customer("alice", password="alice-secret-1")
        give_credit(alice, 600)
        server = radius.ServerThread(("127.0.0.1", AUTH_PORT),
                                     ("127.0.0.1", ACCT_PORT)).start()
        try:
            yield nas, plan, alice, gateway
        finally:
            server.stop()


def acct(text: str) -> None:
    ok, out = run_radclient("acct", text, port=ACCT_PORT)
    assert ok and "Accounting-Response" in out, out


@needs_radclient
@pytest.mark.slow
def test_mac_login_top_up_coa_and_run_out_disconnect(live, office, desk):
    nas, plan, alice, gateway = live
    mac = "AA:BB:CC:DD:EE:07"
    ok, out = run_radclient("auth", f'User-Name = alice, User-Password = "alice-secret-1", '
                            f'Calling-Station-Id = "{mac}"' + MA, port=AUTH_PORT)
    assert "Access-Accept" in out, out
    base = f'User-Name = alice, Calling-Station-Id = "{mac}", Framed-IP-Address = 10.5.50.9'
    acct(base + ', Acct-Session-Id = "a1", Acct-Status-Type = Start')
    acct(base + ', Acct-Session-Id = "a1", Acct-Status-Type = Stop, Acct-Session-Time = 60')
    # the same phone comes back: the gateway asks with its MAC as User-Name
    ok, out = run_radclient("auth", f'User-Name = "{mac}", User-Password = "", '
                            f'Calling-Station-Id = "{mac}"' + MA, port=AUTH_PORT)
    assert "Access-Accept" in out, out
    assert reply_attrs(out)["Session-Timeout"] == "540"  # alice's 540 left
    mac_base = f'User-Name = "{mac}", Calling-Station-Id = "{mac}"'
    acct(mac_base + ', Acct-Session-Id = "a2", Acct-Status-Type = Start, '
         f'Class = {reply_attrs(out)["Class"]}')
    acct(mac_base + ', Acct-Session-Id = "a2", Acct-Status-Type = Interim-Update, '
         f'Acct-Session-Time = 120, Class = {reply_attrs(out)["Class"]}')
    session = HotspotSession.objects.get(acct_session_id="a2")
    assert session.customer == alice and session.debited == 120
    # a code redeemed on the portal mid-session
    batch = rs.generate(office, count=1, amount=1200)
    row = batch.recharges.get()
    rs.sell(desk, [row])
    coa_jobs.forget_online()  # the hook's 2 s view of who is online predates this session
    rs.redeem(row.code, customer=alice, source=rs.Source(door="portal"))
    assert coa_jobs.send_due(timeout=2) == 1
    [coa] = gateway.received
    assert coa["code"] == rp.CoARequest and coa["Acct-Session-Id"] == "a2"
    # 600 - 60 (first session) - 120 (this one) + 1200, plus the 120 this one took
    assert coa["Session-Timeout"] == 1740
    # 30 minutes later, no Stop came: the credit has run out
    with clock.frozen(clock.now() + dt.timedelta(minutes=30)):
        assert hs.review_sessions() == 1
        assert coa_jobs.send_due(timeout=2) == 1
    bye = gateway.received[1]
    assert bye["code"] == rp.DisconnectRequest and bye["User-Name"] == mac
    assert list(CoaJob.objects.order_by("pk").values_list("kind", "state")) == [
        ("coa", "acked"), ("disconnect", "acked")]
