"""openNDS is metered: the captive portal opens a Ficha session when it authorises the
client, the worker debits it by wall clock through the one accounting rule, it ends at
the time granted to the router (BinAuth, signed), at "log out", or at a re-login."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html as htmllib
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ficha.accounts import services as accounts
from ficha.core import clock, codes
from ficha.hotspot import gateways as g
from ficha.hotspot import services as hs
from ficha.hotspot.models import HotspotSession, Nas
from ficha.recharges import services as rs
from ficha.tariffs import pricing

from .conftest import actor_for
from .hotspot_support import OWNER, give_credit, hotspot_revenue, ledger_sum, make_nas, make_plan

T0 = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
TOKEN = "token-of-the-phone"
HID = hashlib.sha256(TOKEN.encode()).hexdigest()
KEY = "a-long-fas-key"
BINAUTH = Path(__file__).resolve().parents[1] / "contrib" / "opennds" / "ficha-binauth.sh"


@pytest.fixture
def sold(owner, cashier, open_shift):
    office, desk = actor_for(owner), actor_for(cashier)

    def make(amount: int) -> str:
        batch = rs.generate(office, count=1, amount=amount)
        rs.sell(desk, batch.recharges.all())
        return batch.recharges.get().code

    return make


@pytest.fixture
def kiosk(db):
    make_plan(price_per_hour=600, increment_seconds=60, interim_interval=300,
              rate_up_kbps=512, rate_down_kbps=2048)  # 10 per minute
    return make_nas(name="kiosk", vendor="opennds", address="192.168.8.1", fas_key=KEY)


def fas(hid: str = HID, mac: str = "aa:bb:cc:00:00:02") -> str:
    return base64.b64encode(
        f"hid={hid}, clientip=192.168.8.20, clientmac={mac}, gatewayname=kiosk, "
        "gatewayaddress=192.168.8.1:2050, originurl=http://example.com/".encode()).decode()


def login(client, code: str, hid: str = HID) -> dict:
    """Code login through FAS; the query of the openNDS auth link the phone is sent to."""
    assert client.get(f"/hotspot/opennds?fas={fas(hid)}").status_code == 200
    text = client.post("/hotspot/opennds", {"action": "code", "code": code}).content.decode()
    go = htmllib.unescape(re.search(r'id="handoff-link" href="([^"]+)"', text).group(1))
    assert go.startswith("http://192.168.8.1:2050/opennds_auth/?")
    return {k: v[0] for k, v in parse_qs(urlsplit(go).query).items()}


def balance_of(session) -> int:
    return accounts.balance(session.customer)


def test_fas_login_opens_a_session_that_the_worker_meters_until_the_grant_ends(
        client, kiosk, sold):
    code = sold(600)  # one hour at 10 per minute
    with clock.frozen(T0):
        query = login(client, code)
    assert query["tok"] == g.fas_rhid(HID, KEY)
    session = HotspotSession.objects.get()
    assert (session.nas, session.mac, session.status) == (kiosk, "aa:bb:cc:00:00:02", "open")
    assert session.granted_until == T0 + dt.timedelta(hours=1)
    assert query["custom"] == hs.binauth_custom(HID, KEY, 3600, up_kbps=512,
                                                down_kbps=2048)
    assert [r.kind for r in session.records.all()] == ["start"]

    with clock.frozen(T0 + dt.timedelta(minutes=10)):
        assert hs.meter_portal_sessions() == 1
        assert hs.meter_portal_sessions() == 0  # nothing new within the interim interval
        text = client.get("/hotspot/status").content.decode()
    assert 'id="time-left">50 min<' in text
    session.refresh_from_db()
    assert (session.session_time, session.debited) == (600, 100)
    assert balance_of(session) == 500
    with clock.frozen(T0 + dt.timedelta(minutes=10, seconds=299)):
        assert hs.meter_portal_sessions() == 0
    with clock.frozen(T0 + dt.timedelta(minutes=15)):
        assert hs.meter_portal_sessions() == 1
    # the worker was away: the grant ended meanwhile; the Stop takes exactly the grant
    with clock.frozen(T0 + dt.timedelta(hours=3)):
        assert hs.close_stale_sessions() == 0  # the meter ends it, not the stale job
        assert hs.meter_portal_sessions() == 1
    session.refresh_from_db()
    assert (session.status, session.terminate_cause) == ("closed", "Session-Timeout")
    assert session.session_time == 3600
    assert session.debited == 600 and balance_of(session) == 0
    assert hotspot_revenue() == 600 and ledger_sum() == 0


def test_the_worker_meters_before_it_closes_stale_sessions(client, kiosk, sold):
    from ficha.core import jobs

    names = [name for name, _job in jobs.registered()]
    assert names.index("hotspot.meter_portal_sessions") < names.index(
        "hotspot.close_stale_sessions")
    code = sold(600)
    with clock.frozen(T0):
        login(client, code)
    with clock.frozen(T0 + dt.timedelta(hours=2)):
        for name, job in jobs.registered():
            if name in ("hotspot.meter_portal_sessions", "hotspot.close_stale_sessions"):
                job()
    session = HotspotSession.objects.get()
    assert (session.status, session.terminate_cause) == ("closed", "Session-Timeout")
    assert (session.session_time, session.debited) == (3600, 600)
    assert [r.kind for r in session.records.all()] == ["start", "stop"]


def test_log_out_stops_the_meter_and_sends_the_phone_through_opennds(client, kiosk, sold):
    code = sold(600)
    with clock.frozen(T0):
        login(client, code)
    with clock.frozen(T0 + dt.timedelta(minutes=20, seconds=30)):
        resp = client.post("/hotspot/logout")
    assert 'url=http://192.168.8.1:2050/opennds_deny/' in resp.content.decode()
    session = HotspotSession.objects.get()
    assert (session.status, session.terminate_cause) == ("closed", "User-Request")
    assert (session.session_time, session.debited) == (1230, 210)  # 21 started minutes
    with clock.frozen(T0 + dt.timedelta(hours=2)):
        assert hs.meter_portal_sessions() == 0
    session.refresh_from_db()
    assert session.debited == 210 and balance_of(session) == 390


def test_a_recharge_mid_session_is_for_the_next_login_which_gets_the_new_time(
        client, kiosk, sold):
    first, second = sold(600), sold(1200)
    with clock.frozen(T0):
        login(client, first)
    with clock.frozen(T0 + dt.timedelta(minutes=30)):
        resp = client.post("/hotspot/status", {"code": codes.group(second)})
        assert resp.status_code == 302
        text = client.get("/hotspot/status").content.decode()
        # openNDS takes no CoA: the router ends this session at its grant
        assert 'id="time-left">30 min<' in text and 'id="granted-until"' in text
        [live] = hs.live_sessions()  # the console and the API say the same
        assert live.remaining == 30 * 60
        client.post("/hotspot/logout")
    with clock.frozen(T0 + dt.timedelta(minutes=31)):
        # the code logs into its account again (it has no password)
        query = login(client, first, hid=hashlib.sha256(b"second-token").hexdigest())
    old, new = HotspotSession.objects.order_by("pk")
    assert (old.status, old.session_time, old.debited) == ("closed", 1800, 300)
    assert accounts.balance(new.customer) == 1500  # 600 - 300 + 1200: 2 h 30 min
    assert new.customer == old.customer and new.status == "open"
    assert new.granted_until == T0 + dt.timedelta(minutes=31 + 150)
    assert query["custom"].startswith("ficha1.9000.")


def test_a_relogin_from_the_same_device_stops_the_open_session_first(client, kiosk, sold):
    code = sold(1200)
    with clock.frozen(T0):
        login(client, code)
    with clock.frozen(T0 + dt.timedelta(minutes=5)):
        hid2 = hashlib.sha256(b"again").hexdigest()
        assert client.get(f"/hotspot/opennds?fas={fas(hid2)}").status_code == 200
        resp = client.post("/hotspot/opennds", {"action": "connect"})
        assert resp.status_code == 200
    old, new = HotspotSession.objects.order_by("pk")
    assert (old.status, old.session_time, old.debited) == ("closed", 300, 50)
    assert new.status == "open"
    assert new.granted_until == T0 + dt.timedelta(minutes=5 + 115)
    assert HotspotSession.objects.filter(status="open").count() == 1


def test_binauth_custom_is_signed_by_the_fas_key():
    custom = hs.binauth_custom(HID, KEY, 3600, up_kbps=512, down_kbps=2048,
                               quota_bytes=50_000_000)
    prefix, seconds, up, down, quota, sig = custom.split(".")
    assert (prefix, seconds, up, down, quota) == ("ficha1", "3600", "512", "2048", "50000")
    assert sig == hashlib.sha256(f"{HID}.3600.512.2048.50000.{KEY}".encode()).hexdigest()
    assert hs.binauth_custom(HID, "other-key", 3600) != hs.binauth_custom(HID, KEY, 3600)


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="no sha256sum")
def test_the_binauth_script_gives_the_router_exactly_the_signed_limits(tmp_path):
    def run(custom: str, token: str = TOKEN):
        return subprocess.run(
            ["sh", str(BINAUTH), "auth_client", "aa:bb:cc:00:00:02", "", "", "http%3A",
             "ua", "192.168.8.20", token, custom],
            capture_output=True, text=True, env={"FICHA_FASKEY": KEY, "PATH": "/usr/bin:/bin"},
            cwd=tmp_path, timeout=10)

    custom = hs.binauth_custom(HID, KEY, 3600, up_kbps=512, down_kbps=2048,
                               quota_bytes=50_000_000)
    ok = run(custom)
    assert (ok.returncode, ok.stdout.strip()) == (0, "3600 512 2048 50000 50000")
    b64 = run(base64.b64encode(custom.encode()).decode())
    assert (b64.returncode, b64.stdout.strip()) == (0, "3600 512 2048 50000 50000")
    longer = custom.replace("ficha1.3600.", "ficha1.36000.", 1)
    assert run(longer).returncode == 1  # the phone edited the link
    assert run(custom, token="another-phone").returncode == 1
    assert run("").returncode == 1
    other = subprocess.run(["sh", str(BINAUTH), "client_deauth", "aa"], capture_output=True,
                           env={"PATH": "/usr/bin:/bin"}, timeout=10)
    assert other.returncode == 0


def _deauth_report(tmp_path, method: str, incoming: int, outgoing: int,
                   token: str = TOKEN) -> dict:
    """Run the BinAuth script as openNDS does when it ends a session (see
    :func:`_script_report`); returns the posted fields and URL."""
    posted = _script_report(tmp_path, [method, "aa:bb:cc:00:00:02", str(incoming),
                                       str(outgoing), "1764072000", "1764075600", token])
    posted.pop("stdout")
    return posted


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="no sha256sum")
def test_the_router_reports_the_end_and_ficha_stops_metering_then(client, kiosk, sold,
                                                                 tmp_path):
    code = sold(600)
    with clock.frozen(T0):
        login(client, code)
    posted = _deauth_report(tmp_path, "idle_deauth", 2_000_000, 30_000_000)
    assert posted["url"] == "http://192.168.88.10/hotspot/opennds/ended"
    assert posted["hid"] == HID and posted["method"] == "idle_deauth"
    fields = {k: v for k, v in posted.items() if k != "url"}
    # only from the NAS's address, only signed with its key
    assert client.post("/hotspot/opennds/ended", fields).status_code == 404
    for forged in ({**fields, "out": "1"}, {**fields, "sig": "é" * 64},
                   {**fields, "hid": "é" * 64}, {**fields, "method": "x" * 5000},
                   {**fields, "hid": "\x00" * 64}):
        assert client.post("/hotspot/opennds/ended", forged,
                           REMOTE_ADDR="192.168.8.1").status_code == 404
    with clock.frozen(T0 + dt.timedelta(minutes=12, seconds=10)):
        resp = client.post("/hotspot/opennds/ended", fields, REMOTE_ADDR="192.168.8.1")
    assert resp.status_code == 204
    session = HotspotSession.objects.get()
    assert (session.status, session.terminate_cause) == ("closed", "Idle-Timeout")
    assert (session.session_time, session.input_octets, session.output_octets) == (
        730, 2_000_000, 30_000_000)
    assert session.debited == 130 and accounts.balance(session.customer) == 470
    # told twice: nothing more
    assert client.post("/hotspot/opennds/ended", fields,
                       REMOTE_ADDR="192.168.8.1").status_code == 404
    with clock.frozen(T0 + dt.timedelta(hours=2)):
        assert hs.meter_portal_sessions() == 0
    assert HotspotSession.objects.get().debited == 130


@pytest.mark.parametrize("fields", [
    {}, {"in": "x", "out": "1"}, {"in": "-1", "out": "0"}, {"in": "1" * 40, "out": "0"},
])
def test_malformed_end_reports_are_refused(client, kiosk, fields):
    resp = client.post("/hotspot/opennds/ended", fields, REMOTE_ADDR="192.168.8.1")
    assert resp.status_code == 400


def test_an_end_report_with_a_price_per_mb_charges_the_data(client, db, sold):
    make_plan(price_per_hour=600, price_per_mb=1, increment_seconds=60)
    make_nas(name="kiosk", vendor="opennds", address="192.168.8.1", fas_key=KEY)
    code = sold(600)
    with clock.frozen(T0):
        login(client, code)
    fields = {"hid": HID, "method": "client_deauth", "in": "1000000", "out": "49000000",
              "sig": hs.ended_signature(HID, "client_deauth", 1_000_000, 49_000_000, KEY)}
    with clock.frozen(T0 + dt.timedelta(minutes=10)):
        assert client.post("/hotspot/opennds/ended", fields,
                           REMOTE_ADDR="192.168.8.1").status_code == 204
    session = HotspotSession.objects.get()
    assert session.debited == 100 + 50  # 10 minutes and 50 MB


# --- money: a property ----------------------------------------------------------------------
events = st.lists(st.tuples(st.integers(0, 4000),  # seconds since the previous event
                            st.sampled_from(["meter", "meter", "spend", "ended", "logout",
                                             "relogin"])),
                  min_size=1, max_size=10)


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events, st.integers(1, 5000), st.integers(1, 3000), st.sampled_from([1, 60, 300]),
       st.integers(0, 2))
def test_metered_opennds_never_takes_more_than_the_time_costs_or_the_credit(
        db, make_customer, seq, credit, price, increment, per_mb):
    HotspotSession.objects.all().delete()
    Nas.objects.update(active=False)  # the previous example's gateway: one per address
    nas = make_nas(vendor="opennds", address="192.168.9.1", fas_key=KEY)
    plan = make_plan(price_per_hour=price, increment_seconds=increment, price_per_mb=per_mb,
                     minimum_charge=price // 10, interim_interval=60)
    customer = make_customer()
    give_credit(customer, credit)
    before = ledger_sum()
    now = T0
    spent = 0  # taken from the credit by another door meanwhile (café, a refund...)

    def login(n):
        decision, session = hs.portal_login(nas, customer, hs.issue_ticket(customer).secret,
                                            hid=hashlib.sha256(f"t{n}".encode()).hexdigest(),
                                            mac="aa:bb:cc:00:00:05")
        return session

    with clock.frozen(now):
        login(0)
    for n, (gap, what) in enumerate(seq, 1):
        now += dt.timedelta(seconds=gap)
        with clock.frozen(now):
            if what == "meter":
                hs.meter_portal_sessions()
            elif what == "spend" and accounts.balance(customer) > 0:
                accounts.adjust(OWNER, customer, -1, "elsewhere")
                spent += 1
            elif what == "ended":
                s = HotspotSession.objects.filter(status="open").first()
                if s is not None:
                    hid = None
                    for k in range(n):
                        h = hashlib.sha256(f"t{k}".encode()).hexdigest()
                        if s.acct_session_id == f"nds-{h[:24]}":
                            hid = h
                    hs.gateway_ended("192.168.9.1", hid, "idle_deauth", 10**6, 10**6,
                                     hs.ended_signature(hid, "idle_deauth", 10**6, 10**6,
                                                        KEY))
            elif what == "logout":
                hs.log_out(customer, "aa:bb:cc:00:00:05")
            elif what == "relogin":
                login(n)
        assert accounts.balance(customer) >= 0
    taken = 0
    for s in HotspotSession.objects.filter(nas=nas):
        granted = int((s.granted_until - s.started_at).total_seconds())
        assert s.session_time <= granted  # never metered past what the router was given
        assert s.debited <= pricing.charge(plan.tariff, s.session_time, s.octets)
        taken += s.debited
    assert taken <= credit - spent
    assert accounts.balance(customer) == credit - spent - taken
    assert ledger_sum() == before == 0


def _script_report(tmp_path, args: list[str]) -> dict:
    """Run the BinAuth script with ``args`` and a stand-in ``wget`` that records what it
    would post; returns the posted fields and URL."""
    import time

    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    record = tmp_path / "posted"
    record.unlink(missing_ok=True)
    wget = bindir / "wget"
    wget.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {record}.tmp && mv {record}.tmp {record}\n')
    wget.chmod(0o755)
    done = subprocess.run(
        ["sh", str(BINAUTH), *args],
        env={"FICHA_FASKEY": KEY, "FICHA_URL": "http://192.168.88.10",
             "PATH": f"{bindir}:/usr/bin:/bin"}, capture_output=True, text=True, timeout=10)
    assert done.returncode == 0, done.stderr
    for _ in range(100):
        if record.exists():
            break
        time.sleep(0.05)
    args_ = record.read_text().split("\n")
    data = args_[args_.index("--post-data") + 1]
    return {"url": args_[-2], "stdout": done.stdout,
            **dict(kv.split("=", 1) for kv in data.split("&"))}


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="no sha256sum")
def test_a_login_the_router_never_confirms_is_not_billed(client, kiosk, sold, tmp_path):
    """Once the router's BinAuth script reports the logins it lets on, a portal session
    whose phone never reached the router's auth link is stopped at no charge; a
    confirmed one is metered as before."""
    code = sold(600)
    with clock.frozen(T0):
        query = login(client, code)
    # the router lets the phone on: BinAuth checks the link and tells Ficha
    posted = _script_report(tmp_path, [
        "auth_client", "aa:bb:cc:00:00:02", "", "", "http%3A", "ua", "192.168.8.20", TOKEN,
        query["custom"]])
    assert posted["stdout"].split()[0] == "3600"  # the router still gets its limits
    assert (posted["method"], posted["hid"], posted["in"]) == ("auth_client", HID, "0")
    fields = {k: v for k, v in posted.items() if k not in ("url", "stdout")}
    assert client.post("/hotspot/opennds/ended", {**fields, "sig": "0" * 64},
                       REMOTE_ADDR="192.168.8.1").status_code == 404  # forged
    with clock.frozen(T0 + dt.timedelta(seconds=5)):
        assert client.post("/hotspot/opennds/ended", fields,
                           REMOTE_ADDR="192.168.8.1").status_code == 204
    first = HotspotSession.objects.get()
    assert first.gateway_confirmed_at is not None
    with clock.frozen(T0 + dt.timedelta(minutes=10)):
        assert hs.meter_portal_sessions() == 1  # confirmed: metered
    first.refresh_from_db()
    assert first.debited == 100
    # another phone logs in; its phone never follows the link to the router
    other_hid = hashlib.sha256(b"other-token").hexdigest()
    with clock.frozen(T0 + dt.timedelta(minutes=20)):
        client.post("/hotspot/logout")
        login(client, code, hid=other_hid)
    second = HotspotSession.objects.exclude(pk=first.pk).get()
    with clock.frozen(T0 + dt.timedelta(minutes=21)):
        assert hs.meter_portal_sessions() == 0  # waits for the router's word
    with clock.frozen(T0 + dt.timedelta(minutes=23)):
        assert hs.meter_portal_sessions() == 1
    second.refresh_from_db()
    assert (second.status, second.terminate_cause, second.debited) == (
        "closed", hs.portal_meter.NOT_CONFIRMED, 0)
    assert ledger_sum() == 0
