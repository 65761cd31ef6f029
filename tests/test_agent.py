"""The station agent (``ficha_agent``): Django-free, its state machine (warnings at 5 and
1 minutes, the lock at zero, offline counting), and the real link thread against a live
``ficha stationd`` door: offline lock at zero, then reconciliation without double debit."""

from __future__ import annotations

import contextlib
import datetime as dt
import queue
import subprocess
import sys
import time

import pytest
from django.test import override_settings

from ficha.core import clock
from ficha.stations import services as st
from ficha.stations.link import ServerThread
from ficha.stations.models import CafeSession, StationEvent
from ficha_agent import config, i18n, machine
from ficha_agent.cli import main as agent_main
from ficha_agent.machine import BLOCKED, LOGIN, PAUSED, SESSION, Machine
from ficha_agent.net import Bridge
from ficha_protocol import client
from tests.stations_support import OWNER, balance, give_credit, ledger_sum, make_station

AGENT_MODULES = [
    "ficha_agent",
    "ficha_agent.catalog",
    "ficha_agent.cli",
    "ficha_agent.config",
    "ficha_agent.i18n",
    "ficha_agent.machine",
    "ficha_agent.net",
    "ficha_agent.gui",
    "ficha_agent.__main__",
]


def test_importing_every_agent_module_pulls_in_no_django():
    code = (
        "import sys, importlib\n"
        "sys.argv = ['ficha-agent', 'where']\n"
        f"for name in {AGENT_MODULES!r}:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'ficha'))\n"
        "print(','.join(bad) or 'clean')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "clean", out.stdout + out.stderr


# --- the state machine, without a display or a server ---------------------------------------
def offline_link(remaining=600, now=None):
    now = now if now is not None else [1000.0]
    link = client.AgentLink(client.Credentials("ws://x/agent", 1, "s"), monotonic=lambda: now[0])
    link._set_state(
        {
            "mode": "session",
            "session": {"id": 7, "remaining": remaining, "balance": 250, "currency": "XOF"},
        }
    )
    return link, now


def test_warnings_come_once_at_5_and_1_minutes_then_the_lock_at_zero():
    link, now = offline_link(6 * 60)
    mach = Machine(link)
    mach.set_online(True)
    assert mach.step() == [("screen", SESSION)]
    now[0] += 59
    assert mach.step() == []  # 5 min 1 s left
    now[0] += 2
    assert mach.step() == [("warn", 5)]
    now[0] += 10
    assert mach.step() == []  # once
    now[0] += 4 * 60
    assert mach.step() == [("warn", 1)]
    assert mach.view().remaining == 49 and mach.view().balance == 250
    now[0] += 49
    assert mach.step() == [("screen", LOGIN)]  # at zero, before the server says so
    assert mach.time_up and mach.view().screen == LOGIN


def test_a_session_starting_near_the_end_warns_once_and_an_extension_rearms():
    link, now = offline_link(45)
    mach = Machine(link)
    assert mach.step() == [("screen", SESSION), ("warn", 1)]
    # a code extends it to 10 minutes: the warnings come again at 5 and 1
    link._set_state({"mode": "session", "session": {"id": 7, "remaining": 600}})
    assert mach.step() == []
    now[0] += 301
    assert mach.step() == [("warn", 5)]
    # the server's own warning for the same threshold is not shown twice
    assert mach.server_warning({"warn": 5}) == []
    assert mach.server_warning({"warn": 1}) == [("warn", 1)]


def test_offline_the_link_locks_at_zero_and_the_screen_says_time_is_up():
    link, now = offline_link(30)
    mach = Machine(link)
    mach.set_online(False)
    assert mach.step() == [("screen", SESSION), ("warn", 1)]
    now[0] += 31
    link.tick()  # what AgentLink.run does every second while offline
    assert link.mode == "locked" and [e.kind for e in link.queue] == ["session_end"]
    assert mach.step() == [("screen", LOGIN)]
    assert mach.time_up


def test_console_lock_pause_and_offline_logout():
    link, now = offline_link(600)
    mach = Machine(link)
    mach.set_online(True)
    mach.step()
    link._set_state({**link.state, "mode": "paused"})
    assert mach.step() == [("screen", PAUSED)]
    link._set_state({"mode": "locked", "session": None})
    assert mach.step() == [("screen", BLOCKED)]
    assert not mach.time_up  # locked by the staff, not time up
    link._set_state({"mode": "session", "session": {"id": 8, "remaining": None}})
    assert mach.step() == [("screen", SESSION)]
    assert mach.view().remaining is None  # postpaid: no limit, never locks by itself
    now[0] += 10**6
    assert mach.step() == []
    # logging out while the server is unreachable ends it here and queues the event
    assert machine.logout_offline(link) is True
    assert [(e.kind, e.session) for e in link.queue] == [("logout", 8)]
    assert mach.step() == [("screen", LOGIN)] and not mach.time_up
    assert machine.logout_offline(link) is False


def test_clock_and_money_texts():
    assert machine.clock_text(3909) == "1:05:09" and machine.clock_text(724) == "12:04"
    assert machine.money_text(1500, "XOF", 0) == "1\u202f500 XOF"
    assert machine.money_text(-1250, "EUR", 2) == "-12.50 EUR"


def test_french_strings_and_english_fallback():
    try:
        assert i18n.activate("fr-FR") == "fr"
        assert i18n._("Log out") == "Se déconnecter"
        i18n.activate("sw")
        assert i18n._("Log out") == "Log out"
    finally:
        i18n.activate("en")


def test_the_configuration_file(tmp_path):
    path = tmp_path / "agent.toml"
    cfg = config.Config.load(path)  # missing: defaults
    assert cfg.secret_path == tmp_path / "secret.json"
    cfg.write_new("10.0.0.2:8765")
    cfg = config.Config.load(path)
    assert cfg.server == "10.0.0.2:8765" and cfg.debug_exit is False
    path.write_text("server = 3\n")
    with pytest.raises(config.ConfigError):
        config.Config.load(path)
    path.write_text('server = "x"\nsecret_file = "/var/lib/ficha/s.json"\npower_commands = false\n')
    cfg = config.Config.load(path)
    assert str(cfg.secret_path) == "/var/lib/ficha/s.json" and cfg.extra["power_commands"] is False


def test_restarts_since_boot_are_counted(tmp_path):
    path = tmp_path / "agent-state.json"
    boot, restarts = config.count_start(path)
    assert restarts == 0 and boot == config.boot_marker()
    assert config.count_start(path) == (boot, 1)
    path.write_text('{"boot": "another boot", "starts": 7}')
    assert config.count_start(path) == (boot, 0)


def test_logging_out_with_the_server_unreachable_ends_the_session_on_the_pc():
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    bridge = Bridge(client.Credentials(f"ws://127.0.0.1:{port}/agent", 1, "s"), power=False)
    bridge.start()
    try:
        state = {"mode": "session", "session": {"id": 5, "remaining": 900}}
        bridge.loop.call_soon_threadsafe(bridge.link._set_state, state)
        wait_for(bridge, lambda m: m[0] == "state" and m[1]["mode"] == "session")
        bridge.logout()
        msg = wait_for(bridge, lambda m: m[0] == "state" and m[1]["mode"] == "free")
        assert msg[1]["session"] is None
        assert [(e.kind, e.session) for e in bridge.link.queue] == [("logout", 5)]
        bridge.submit("redeem", "1234")  # logging in needs the server: said so, not hung
        reply = wait_for(bridge, lambda m: m[0] == "result")[2]
        assert reply == {"ok": False, "code": "offline", "message": ""}
    finally:
        bridge.stop()
    assert not bridge.thread.is_alive()


# --- the real link thread against a live door ------------------------------------------------
def wait_for(bridge, what, timeout=10.0):
    """Drain the bridge's inbox until a message ``what`` comes (like the GUI's poll)."""
    end = time.monotonic() + timeout
    seen = []
    while time.monotonic() < end:
        try:
            msg = bridge.inbox.get(timeout=0.1)
        except queue.Empty:
            continue
        seen.append(msg)
        if what(msg):
            return msg
    raise AssertionError(f"not received; got {seen}")


def until(predicate, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@override_settings(FICHA_CAFE_PRICE_PER_HOUR=600)
def test_the_agent_locks_offline_at_zero_and_reconciles_once(
    transactional_db, make_customer, tmp_path
):
    alice = make_customer("alice")
    give_credit(alice, 600)  # one hour
    pc = make_station()
    start = clock.now()
    offset = [0.0]  # the agent's monotonic clock, jumped forward with the server's

    def mono():
        return time.monotonic() + offset[0]

    with contextlib.ExitStack() as stack:

        def at(seconds):  # the server's clock and the agent's move together
            stack.enter_context(clock.frozen(start + dt.timedelta(seconds=seconds)))
            offset[0] = seconds

        at(0)
        door = ServerThread(("127.0.0.1", 0), heartbeat=1).start()
        cfg = tmp_path / "agent.toml"
        assert (
            agent_main(
                [
                    "--config",
                    str(cfg),
                    "pair",
                    f"127.0.0.1:{door.address[1]}",
                    st.issue_pairing_code(OWNER, pc),
                ]
            )
            == 0
        )
        creds = client.Credentials.load(tmp_path / "secret.json")
        bridge = Bridge(creds, monotonic=mono, power=False).start()
        mach = Machine(bridge.link)
        try:
            wait_for(bridge, lambda m: m == ("online", True))
            mach.set_online(True)
            assert bridge.link.venue["currency"] and "exponent" in bridge.link.venue
            bridge.submit("login", "alice", "nope")
            reply = wait_for(bridge, lambda m: m[0] == "result")[2]
            assert reply["ok"] is False and reply["code"] == "wrong" and reply["message"]
            bridge.submit("login", "alice", "pw-alice")
            assert wait_for(bridge, lambda m: m[0] == "result")[2]["ok"]
            assert mach.step() == [("screen", SESSION)]
            assert mach.view().balance == 600
            at(3600 - 280)
            assert mach.step() == [("warn", 5)]
            at(3600 - 50)
            assert mach.step() == [("warn", 1)]
            door.stop()  # the server goes away with 50 s left
            wait_for(bridge, lambda m: m == ("online", False))
            mach.set_online(False)
            assert mach.step() == [] and mach.view().screen == SESSION  # still counting
            at(3600 + 3)  # paid time over while offline: locked, the end queued
            assert until(lambda: bridge.link.queue)
            assert mach.step() == [("screen", LOGIN)] and mach.time_up
            sent = list(bridge.link.queue)
            assert [e.kind for e in sent] == ["session_end"]
            # the server comes back (another port); the agent reconnects and reconciles
            at(3600 + 60)
            door = ServerThread(("127.0.0.1", 0), heartbeat=1).start()
            bridge.link.creds.url = client.agent_url(f"127.0.0.1:{door.address[1]}")
            wait_for(bridge, lambda m: m == ("online", True), 15)
            assert until(lambda: not bridge.link.queue)
            session = CafeSession.objects.get()
            assert session.status == CafeSession.Status.ENDED
            assert session.charged == 600 and balance(alice) == 0 and ledger_sum() == 0
            # the same queue sent again changes nothing (no double debit)
            bridge.loop.call_soon_threadsafe(bridge.link.queue.extend, sent)
            bridge.loop.call_soon_threadsafe(
                lambda: bridge.loop.create_task(bridge.link.flush_events())
            )
            assert until(lambda: not bridge.link.queue)
            assert balance(alice) == 0 and ledger_sum() == 0
            assert StationEvent.objects.count() <= 1
            assert mach.step() == [] and mach.view().screen == LOGIN
        finally:
            bridge.stop()
            door.stop()
