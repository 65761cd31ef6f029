"""The RADIUS door: packets in, one service call, packets out — and nothing crashes it.

The first tests build packets with pyrad (as a gateway would) and hand them to the
handler; the last ones run the real server on UDP against FreeRADIUS' ``radclient``
(Debian freeradius-utils; skipped without it).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import struct
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyrad import packet as rp

from ficha.accounts import services as accounts
from ficha.hotspot import radius
from ficha.hotspot import services as hs
from ficha.hotspot.models import HotspotSession, Nas, UnknownSource

from .hotspot_support import give_credit, hotspot_revenue, ledger_sum, make_nas, make_plan
from .ports import free_ports

SECRET = b"testing123"


def auth_packet(secret=SECRET, ma=True, **attrs):
    pkt = rp.AuthPacket(secret=secret, dict=radius.dictionary())
    for key, value in attrs.items():
        key = key.replace("_", "-")
        if key == "User-Password":
            value = pkt.PwCrypt(value)
        pkt.AddAttribute(key, value)
    if ma:
        pkt.add_message_authenticator()
    return pkt


def acct_packet(secret=SECRET, **attrs):
    pkt = rp.AcctPacket(secret=secret, dict=radius.dictionary())
    for key, value in attrs.items():
        pkt.AddAttribute(key.replace("_", "-"), value)
    return pkt


def decode_reply(request, data):
    reply = request.CreateReply(packet=data)
    assert request.VerifyReply(reply, data)
    return reply


@pytest.fixture
def handler(db):
    h = radius.Handler()
    return h


@pytest.fixture
def setup(db, make_customer):
    nas = make_nas(vendor="mikrotik", address="127.0.0.1")
    plan = make_plan(price_per_hour=3600, increment_seconds=60, rate_up_kbps=128,
                     rate_down_kbps=1024)
    alice = make_customer("alice", password="alice-secret-1")
    give_credit(alice, 10_000)
    return nas, plan, alice


def test_pap_accept_carries_the_vendor_attributes(setup, handler):
    nas, plan, alice = setup
    req = auth_packet(User_Name="alice", User_Password="alice-secret-1",
                      Calling_Station_Id="AA-BB-CC-00-00-01")
    reply = decode_reply(req, handler.handle("auth", req.RequestPacket(), nas, "127.0.0.1"))
    assert reply.code == rp.AccessAccept
    assert reply["Session-Timeout"] == [9960]  # whole minutes the credit buys
    assert reply["Mikrotik-Rate-Limit"] == ["128k/1024k"]
    assert reply.message_authenticator and reply.verify_message_authenticator(
        original_authenticator=req.authenticator, original_code=req.code)
    assert hs.parse_class(reply["Class"][0]) == (alice.pk, plan.pk)


def test_reject_carries_a_reply_message(setup, handler):
    nas, plan, alice = setup
    req = auth_packet(User_Name="alice", User_Password="wrong")
    reply = decode_reply(req, handler.handle("auth", req.RequestPacket(), nas, "127.0.0.1"))
    assert reply.code == rp.AccessReject
    assert reply["Reply-Message"] == ["Wrong username or password."]


def test_bad_or_missing_message_authenticator_is_dropped_and_counted(setup, handler):
    nas, plan, alice = setup
    req = auth_packet(secret=b"not-the-secret", User_Name="alice", User_Password="x")
    assert handler.handle("auth", req.RequestPacket(), nas, "127.0.0.1") is None
    req = auth_packet(ma=False, User_Name="alice", User_Password="alice-secret-1")
    assert handler.handle("auth", req.RequestPacket(), nas, "127.0.0.1") is None
    handler.flush()
    nas = Nas.objects.get(pk=nas.pk)
    assert (nas.dropped_bad_authenticator, nas.dropped_missing_authenticator) == (1, 1)
    assert nas.last_packet_at is None  # nothing was answered yet
    # a NAS that does not send it may be allowed to
    hs.update_nas(hs_actor(), nas, require_message_authenticator=False)
    reply = handler.handle("auth", req.RequestPacket(), nas, "127.0.0.1")
    assert decode_reply(req, reply).code == rp.AccessAccept
    handler.flush()
    assert Nas.objects.get(pk=nas.pk).last_packet_at is not None


def hs_actor():
    from ficha.core import audit
    return audit.Actor(source="test")


def test_accounting_needs_the_right_authenticator_and_debits_once(setup, handler):
    nas, plan, alice = setup
    stop = acct_packet(User_Name="alice", Acct_Status_Type="Stop", Acct_Session_Id="s1",
                       Acct_Session_Time=600, Acct_Input_Octets=10, Acct_Output_Octets=20)
    raw = stop.RequestPacket()
    forged = acct_packet(secret=b"wrong-secret", User_Name="alice", Acct_Status_Type="Stop",
                         Acct_Session_Id="s2", Acct_Session_Time=600).RequestPacket()
    assert handler.handle("acct", forged, nas, "127.0.0.1") is None
    for _ in range(3):  # retransmits
        reply = decode_reply(stop, handler.handle("acct", raw, nas, "127.0.0.1"))
        assert reply.code == rp.AccountingResponse
    assert accounts.balance(alice) == 10_000 - 600
    assert hotspot_revenue() == 600
    assert HotspotSession.objects.count() == 1


def test_status_server_is_answered(setup, handler):
    nas, plan, alice = setup
    req = rp.AuthPacket(code=rp.StatusServer, secret=SECRET, dict=radius.dictionary())
    req.add_message_authenticator()
    reply = decode_reply(req, handler.handle("auth", req.RequestPacket(), nas, "127.0.0.1"))
    assert reply.code == rp.AccessAccept


def _valid_packets():
    auth = auth_packet(User_Name="alice", User_Password="alice-secret-1",
                       Calling_Station_Id="AA-BB-CC-00-00-01").RequestPacket()
    acct = acct_packet(User_Name="alice", Acct_Status_Type="Interim-Update",
                       Acct_Session_Id="fz", Acct_Session_Time=3600,
                       Acct_Input_Octets=5, Acct_Output_Gigawords=1).RequestPacket()
    return auth, acct


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.data())
def test_fuzz_no_packet_crashes_it_or_debits_without_authentication(setup, handler, data):
    nas, plan, alice = setup
    auth, acct = _valid_packets()
    kind = data.draw(st.sampled_from(["auth", "acct"]))
    base = auth if kind == "auth" else acct
    how = data.draw(st.sampled_from(["random", "truncate", "flip", "oversize", "attrs"]))
    if how == "random":
        blob = data.draw(st.binary(max_size=300))
    elif how == "truncate":
        blob = base[:data.draw(st.integers(0, len(base) - 1))]
    elif how == "flip":
        pos = data.draw(st.integers(0, len(base) - 1))
        blob = base[:pos] + bytes([base[pos] ^ data.draw(st.integers(1, 255))]) + base[pos + 1:]
    elif how == "oversize":
        blob = base + bytes(data.draw(st.integers(4097, 9000)))
    else:  # a valid header with arbitrary attributes (unknown vendors, bad lengths)
        attrs = data.draw(st.binary(min_size=1, max_size=400))
        blob = struct.pack("!BBH", base[0], base[1], 20 + len(attrs)) + base[4:20] + attrs
    before = accounts.balance(alice)
    reply = handler.handle(kind, blob, nas, "127.0.0.1")
    assert reply is None or isinstance(reply, bytes)
    if kind == "acct":
        # a damaged accounting packet fails its authenticator: nothing is debited
        assert accounts.balance(alice) == before
    assert ledger_sum() == 0


def test_parse_addr():
    assert radius.parse_addr("0.0.0.0:1812", 1) == ("0.0.0.0", 1812)
    assert radius.parse_addr("10.0.0.1", 1813) == ("10.0.0.1", 1813)
    assert radius.parse_addr("[::1]:1812", 1) == ("::1", 1812)
    assert radius.parse_addr("off", 1) is None
    assert radius.parse_addr("", 1) is None


# --- the real server against the real radclient ------------------------------------------
RADCLIENT = shutil.which("radclient") or ("/usr/bin/radclient"
                                          if os.path.exists("/usr/bin/radclient") else None)
needs_radclient = pytest.mark.skipif(RADCLIENT is None,
                                     reason="radclient (Debian freeradius-utils) not installed")
AUTH_PORT, ACCT_PORT = free_ports(2, udp=True)


def run_radclient(kind: str, text: str, *, secret="testing123", port=None, timeout=2,
                  retries=1) -> tuple[bool, str]:
    port = port or (AUTH_PORT if kind == "auth" else ACCT_PORT)
    proc = subprocess.run(
        [RADCLIENT, "-x", "-r", str(retries), "-t", str(timeout), f"127.0.0.1:{port}", kind,
         secret], input=text, capture_output=True, text=True, timeout=60)
    out = proc.stdout + proc.stderr
    return "Received" in out, out


def reply_attrs(out: str) -> dict[str, str]:
    received = out.split("Received", 1)[1] if "Received" in out else ""
    return dict(re.findall(r"^\s+([A-Za-z][\w-]*) = (.*)$", received, re.M))


@pytest.fixture
def live(transactional_db, make_customer):
    nas = make_nas(vendor="mikrotik", address="127.0.0.0/8")
    plan = make_plan(price_per_hour=3600, increment_seconds=60)
    alice = make_customer("alice", password="alice-secret-1")
    give_credit(alice, 10_000)
    server = radius.ServerThread(("127.0.0.1", AUTH_PORT), ("127.0.0.1", ACCT_PORT)).start()
    try:
        yield nas, plan, alice, server
    finally:
        server.stop()


MA = ", Message-Authenticator = 0x00"


@needs_radclient
@pytest.mark.slow
def test_radclient_pap_chap_codes_and_drops(live, office, desk):
    from ficha.recharges import services as rs

    nas, plan, alice, server = live
    ok, out = run_radclient("auth", 'User-Name = alice, User-Password = "alice-secret-1", '
                            'Calling-Station-Id = "AA:BB:CC:DD:EE:01"' + MA)
    assert ok and "Access-Accept" in out, out
    assert reply_attrs(out)["Session-Timeout"] == "9960"
    ok, out = run_radclient("auth", 'User-Name = alice, User-Password = "nope"' + MA)
    assert "Access-Reject" in out and "Wrong username or password." in out
    # CHAP with a recharge code alone: the code is the secret as issued
    batch = rs.generate(office, count=1, amount=1200)
    code = batch.recharges.get().code
    rs.sell(desk, [batch.recharges.get()])
    ok, out = run_radclient("auth", f'User-Name = "{code}", CHAP-Password = "{code}", '
                            'Calling-Station-Id = "AA:BB:CC:DD:EE:02"' + MA)
    assert "Access-Accept" in out, out
    assert reply_attrs(out)["Session-Timeout"] == "1200"
    # code-only login with PAP (the password repeats the code)
    ok, out = run_radclient("auth", f'User-Name = "{code}", User-Password = "{code}"' + MA)
    assert "Access-Accept" in out
    assert accounts.balance(accounts.find_customer(code)) == 1200
    # password accounts have no CHAP secret on file
    ok, out = run_radclient("auth", 'User-Name = alice, CHAP-Password = "alice-secret-1"' + MA)
    assert "Access-Reject" in out
    # wrong secret and missing Message-Authenticator: silently dropped, counted
    ok, out = run_radclient("auth", 'User-Name = alice, User-Password = "alice-secret-1"' + MA,
                            secret="wrong-secret", timeout=1)
    assert not ok
    ok, out = run_radclient("auth", 'User-Name = alice, User-Password = "alice-secret-1"',
                            timeout=1)
    assert not ok
    server.server.handler.flush()
    nas = Nas.objects.get(pk=nas.pk)
    assert nas.dropped_bad_authenticator == 1
    assert nas.dropped_missing_authenticator == 1


@needs_radclient
@pytest.mark.slow
def test_radclient_accounting_with_retransmits_debits_exactly(live):
    nas, plan, alice, server = live
    ok, out = run_radclient("auth", 'User-Name = alice, User-Password = "alice-secret-1", '
                            'Calling-Station-Id = "AA:BB:CC:DD:EE:03"' + MA)
    klass = reply_attrs(out)["Class"]
    base = f'User-Name = alice, Acct-Session-Id = "80000001", Class = {klass}, ' \
           'Calling-Station-Id = "AA:BB:CC:DD:EE:03"'
    start = base + ", Acct-Status-Type = Start"
    interim = base + (", Acct-Status-Type = Interim-Update, Acct-Session-Time = 301, "
                      "Acct-Input-Octets = 1000, Acct-Output-Octets = 50000")
    older = base + (", Acct-Status-Type = Interim-Update, Acct-Session-Time = 120, "
                    "Acct-Input-Octets = 400, Acct-Output-Octets = 9000")
    stop = base + (", Acct-Status-Type = Stop, Acct-Session-Time = 900, "
                   "Acct-Input-Octets = 3000, Acct-Output-Octets = 90000, "
                   "Acct-Terminate-Cause = User-Request")
    for text in (start, interim, interim, older, stop, stop):  # retransmits, reordering
        ok, out = run_radclient("acct", text)
        assert ok and "Accounting-Response" in out, out
    session = HotspotSession.objects.get()
    assert session.status == "closed" and session.customer == alice
    assert session.debited == 900  # 15 minutes at 3600 an hour: once
    assert accounts.balance(alice) == 10_000 - 900
    assert hotspot_revenue() == 900 and ledger_sum() == 0
    # the same datagram sent twice is answered twice, handled once
    pkt = acct_packet(User_Name="alice", Acct_Status_Type="Stop", Acct_Session_Id="dup",
                      Acct_Session_Time=60)
    raw = pkt.RequestPacket()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        for _ in range(2):
            sock.sendto(raw, ("127.0.0.1", ACCT_PORT))
            decode_reply(pkt, sock.recv(4096))
    assert accounts.balance(alice) == 10_000 - 960


@pytest.mark.slow
def test_a_burst_of_more_datagrams_than_one_read_takes_is_answered_once_each(live):
    nas, plan, alice, server = live
    n = radius.BATCH + 44
    packets = [acct_packet(User_Name="alice", Acct_Status_Type="Start",
                           Acct_Session_Id=f"burst-{i}") for i in range(n)]
    raws = [pkt.RequestPacket() for pkt in packets]
    by_ident = {}
    for pkt, raw in zip(packets, raws, strict=True):
        by_ident.setdefault(raw[1], []).append((pkt, raw))
    answered: set[bytes] = set()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        for _attempt in range(5):  # as a NAS does: what is unanswered is sent again
            for raw in raws:
                if raw[4:20] not in answered:
                    sock.sendto(raw, ("127.0.0.1", ACCT_PORT))
            try:
                while len(answered) < n:
                    data = sock.recv(4096)
                    for pkt, raw in by_ident[data[1]]:
                        if pkt.VerifyReply(pkt.CreateReply(packet=data), data):
                            answered.add(raw[4:20])
            except TimeoutError:
                pass
            if len(answered) == n:
                break
    assert len(answered) == n
    assert HotspotSession.objects.filter(acct_session_id__startswith="burst-").count() == n


@needs_radclient
@pytest.mark.slow
def test_unknown_senders_are_dropped_and_garbage_survived(live):
    nas, plan, alice, server = live
    Nas.objects.filter(pk=nas.pk).update(address="10.1.2.3")
    server.server.handler.refresh(force=True)
    ok, out = run_radclient("auth", 'User-Name = alice, User-Password = "alice-secret-1"' + MA,
                            timeout=1)
    assert not ok
    Nas.objects.filter(pk=nas.pk).update(address="127.0.0.1")
    server.server.handler.refresh(force=True)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for blob in (b"", b"\x01", os.urandom(19), os.urandom(5000), b"\x01\x02\x00\x14"
                     + bytes(16) + b"\x1a\x03\x00"):
            sock.sendto(blob, ("127.0.0.1", AUTH_PORT))
    ok, out = run_radclient("auth", 'User-Name = alice, User-Password = "alice-secret-1"' + MA)
    assert ok and "Access-Accept" in out
    server.server.handler.flush()
    assert UnknownSource.objects.get(address="127.0.0.1").dropped >= 1


@pytest.mark.slow
def test_serve_runs_the_radius_server_and_stops_it(tmp_path):
    from .test_cli_serve import FICHA, _env, _start, _stop

    auth, acct = free_ports(2, udp=True)
    ports = {"FICHA_RADIUS_AUTH_ADDR": f"127.0.0.1:{auth}",
             "FICHA_RADIUS_ACCT_ADDR": f"127.0.0.1:{acct}"}
    data = tmp_path / "data"
    proc, _port, _health = _start(data, **ports)
    try:
        subprocess.run(
            [*FICHA, "manage", "shell", "-c",
             "from ficha.core import audit; from ficha.hotspot import services as hs;"
             "hs.create_nas(audit.SYSTEM, name='lo', address='127.0.0.1',"
             " secret='testing123')"],
            env=_env(data), check=True, capture_output=True, timeout=60)
        req = rp.AuthPacket(code=rp.StatusServer, secret=SECRET, dict=radius.dictionary())
        req.add_message_authenticator()
        raw = req.RequestPacket()
        reply = None
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(1)
            for _ in range(15):  # the server reloads its NAS list every few seconds
                sock.sendto(raw, ("127.0.0.1", auth))
                try:
                    reply = sock.recv(4096)
                    break
                except TimeoutError:
                    continue
        assert reply is not None and decode_reply(req, reply).code == rp.AccessAccept
    finally:
        out = _stop(proc)
    assert proc.returncode == 0, out
    assert f"RADIUS auth on 127.0.0.1:{auth}" in out and "Stopped." in out
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", auth))  # released


@pytest.mark.slow
def test_ficha_radiusd_answers_and_stops_on_ctrl_c(tmp_path):
    import signal
    import time

    from .test_cli_serve import FICHA, _env

    env = _env(tmp_path / "r")
    subprocess.run([*FICHA, "manage", "migrate", "-v0"], env=env, check=True, timeout=180)
    subprocess.run(
        [*FICHA, "manage", "shell", "-c",
         "from ficha.core import audit; from ficha.hotspot import services as hs;"
         "hs.create_nas(audit.SYSTEM, name='lo', address='127.0.0.1', secret='testing123')"],
        env=env, check=True, capture_output=True, timeout=60)
    port = free_ports(udp=True)[0]
    proc = subprocess.Popen([*FICHA, "radiusd", "--auth", f"127.0.0.1:{port}", "--acct", "off"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        req = rp.AuthPacket(code=rp.StatusServer, secret=SECRET, dict=radius.dictionary())
        req.add_message_authenticator()
        raw = req.RequestPacket()
        reply = None
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(1)
            deadline = time.monotonic() + 60
            while reply is None and time.monotonic() < deadline:
                sock.sendto(raw, ("127.0.0.1", port))
                try:
                    reply = sock.recv(4096)
                except TimeoutError:
                    pass
        assert reply is not None and decode_reply(req, reply).code == rp.AccessAccept
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert f"RADIUS auth on 127.0.0.1:{port}" in out and "Stopped." in out


@pytest.mark.slow
def test_several_radiusd_processes_share_the_ports_on_postgresql(transactional_db,
                                                                  make_customer, tmp_path):
    import signal
    import time

    from django.db import connection

    from .test_cli_serve import FICHA, _env

    if connection.vendor == "sqlite":
        out = subprocess.run([*FICHA, "radiusd", "--processes", "2", "--auth",
                              f"127.0.0.1:{AUTH_PORT}", "--acct", "off"], env=_env(tmp_path / "p"),
                             capture_output=True, text=True, timeout=60)
        assert out.returncode != 0 and "needs PostgreSQL" in out.stderr
        return
    make_nas(address="127.0.0.1")
    make_plan(price_per_hour=3600)
    alice = make_customer("alice")
    give_credit(alice, 10_000)
    s = connection.settings_dict
    url = f"postgres://{s['USER']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"
    env = _env(tmp_path / "data", FICHA_DATABASE_URL=url)
    auth, acct = free_ports(2, udp=True)
    proc = subprocess.Popen([*FICHA, "radiusd", "--processes", "2", "--auth",
                             f"127.0.0.1:{auth}", "--acct", f"127.0.0.1:{acct}"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        pkt = acct_packet(User_Name="alice", Acct_Status_Type="Stop", Acct_Session_Id="mp",
                          Acct_Session_Time=600)
        raw = pkt.RequestPacket()
        answered = 0
        deadline = time.monotonic() + 60
        socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(8)]
        try:
            for sock in socks:  # eight senders: the kernel spreads them over the processes
                sock.settimeout(1)
                while time.monotonic() < deadline:
                    sock.sendto(raw, ("127.0.0.1", acct))
                    try:
                        decode_reply(pkt, sock.recv(4096))
                        answered += 1
                        break
                    except TimeoutError:
                        continue
        finally:
            for sock in socks:
                sock.close()
        assert answered == 8
        assert accounts.balance(alice) == 10_000 - 600  # eight copies, one debit
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "2 processes share the ports" in out and "Stopped." in out


@pytest.mark.slow
def test_drops_counted_just_before_a_stop_are_saved(transactional_db):
    """The counters are written every few seconds and once more when the server stops
    (from a worker thread: the event loop's thread may not use the database)."""
    import socket
    import time

    nas = make_nas(vendor="mikrotik", address="127.0.0.0/8")
    server = radius.ServerThread(("127.0.0.1", 0), ("127.0.0.1", 0)).start()
    try:
        req = auth_packet(secret=b"not-the-secret", User_Name="alice", User_Password="x")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(req.RequestPacket(), server.addresses["auth"])
        deadline = time.monotonic() + 10
        while not server.server.handler.drops and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.server.handler.drops  # counted, not yet written
        assert Nas.objects.get(pk=nas.pk).dropped_bad_authenticator == 0
    finally:
        server.stop()
    assert Nas.objects.get(pk=nas.pk).dropped_bad_authenticator == 1
