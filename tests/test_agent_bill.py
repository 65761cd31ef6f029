"""The station agent shows how the charge was computed (issue 9): the ``bill`` request over
the live link gives the same lines and total as ``stations.services.bill``; the final bill
of a session that just ended; no bill of another station's session; offline, the agent
says the bill is unavailable."""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import time

from django.test import override_settings

from ficha.core import clock
from ficha.stations import services as st
from ficha.stations.link import ServerThread
from ficha.stations.models import CafeSession
from ficha.stations.services.sessions import FINAL_BILL_SECONDS
from ficha_agent import i18n
from ficha_agent.cli import main as agent_main
from ficha_agent.machine import LOGIN, SESSION, Machine, bill_of
from ficha_agent.net import Bridge
from ficha_protocol import client
from tests.stations_support import OWNER, give_credit, make_station
from tests.test_agent import offline_link, wait_for


# --- without a display or a server -----------------------------------------------------------
def test_an_exact_amount_finer_than_the_currency_keeps_its_digits():
    from ficha.tariffs import cafe

    hour = 3600
    # 21 min at 701 an hour is 245.35 exactly: shown so, not "245" (then "245 → 245")
    assert cafe.format_exact(21 * 60 * 701, "XOF") == "F\u202fCFA\xa0245.35"
    assert cafe.format_exact(21 * 60 * 701, "EUR") == "€2.4535"
    assert cafe.format_exact(21 * 60 * 700, "XOF") == "F\u202fCFA\xa0245"
    assert cafe.format_exact(245 * hour + hour // 10, "XOF") == "F\u202fCFA\xa0245.1"


def test_the_machine_names_the_session_that_just_ended_once():
    link, now = offline_link(600)
    mach = Machine(link)
    mach.set_online(True)
    mach.step()
    assert mach.take_ended() is None  # running: no final bill yet
    link._set_state({"mode": "free", "session": None})  # logged out through the server
    assert mach.step() == [("screen", LOGIN)]
    assert mach.take_ended() == 7
    assert mach.take_ended() is None  # asked for once


def test_a_bill_answer_and_the_offline_answer():
    reply = {
        "ok": True,
        "req": 3,
        "bill": {"session": 7, "final": False, "lines": ["a", "b"], "total": 120, "currency": ""},
    }
    bill = bill_of(reply, {"currency": "XOF"})
    assert bill.lines == ("a", "b") and bill.total == 120 and bill.currency == "XOF"
    assert not bill.final and bill.problem() == ""
    offline = bill_of({"ok": False, "code": "offline", "message": ""})
    assert offline.error == "offline" and offline.total is None and not offline.lines
    try:
        assert offline.problem() == "The bill is unavailable offline."
        i18n.activate("fr")
        assert offline.problem() == "La facture n'est pas disponible hors ligne."
        assert i18n._("Details") == "Détails"
    finally:
        i18n.activate("en")
    refused = bill_of({"ok": False, "code": "no_session", "message": "Nothing here."})
    assert refused.problem() == "Nothing here."


def test_offline_the_bridge_says_the_bill_is_unavailable():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    bridge = Bridge(client.Credentials(f"ws://127.0.0.1:{port}/agent", 1, "s"), power=False)
    bridge.start()
    try:
        state = {"mode": "session", "session": {"id": 5, "remaining": 900}}
        bridge.loop.call_soon_threadsafe(bridge.link._set_state, state)
        bridge.submit("bill")
        reply = wait_for(bridge, lambda m: m[0] == "result" and m[1] == "bill")[2]
        assert bill_of(reply).problem() == "The bill is unavailable offline."
    finally:
        bridge.stop()


# --- the real link thread against a live door ------------------------------------------------
def _texts(charge):
    return [line.text for line in charge.lines]


@override_settings(FICHA_CAFE_PRICE_PER_HOUR=701)
def test_the_agent_gets_the_same_bill_as_the_console_and_only_its_own(
    transactional_db, make_customer, tmp_path
):
    alice = make_customer("alice")
    bob = make_customer("bob")
    give_credit(alice, 5000)
    give_credit(bob, 5000)
    pc, other = make_station(), make_station()
    start = clock.now()
    offset = [0.0]

    def mono():
        return time.monotonic() + offset[0]

    with contextlib.ExitStack() as stack:

        def at(seconds):  # the server's clock and the agent's move together
            stack.enter_context(clock.frozen(start + dt.timedelta(seconds=seconds)))
            offset[0] = seconds

        at(0)
        door = ServerThread(("127.0.0.1", 0), heartbeat=1).start()
        stack.callback(door.stop)
        server = f"127.0.0.1:{door.address[1]}"
        code = st.issue_pairing_code(OWNER, pc)
        assert agent_main(["--config", str(tmp_path / "agent.toml"), "pair", server, code]) == 0
        creds = client.Credentials.load(tmp_path / "secret.json")
        bridge = Bridge(creds, monotonic=mono, power=False).start()
        stack.callback(bridge.stop)
        mach = Machine(bridge.link)
        wait_for(bridge, lambda m: m == ("online", True))
        mach.set_online(True)

        bridge.submit("bill")  # no session yet: refused with a message, not an error
        reply = wait_for(bridge, lambda m: m[0] == "result" and m[1] == "bill")[2]
        assert reply["ok"] is False and reply["code"] == "no_session" and reply["message"]

        bridge.submit("login", "alice", "pw-alice")
        assert wait_for(bridge, lambda m: m[0] == "result" and m[1] == "login")[2]["ok"]
        assert mach.step() == [("screen", SESSION)]
        session = CafeSession.objects.get(station=pc)
        at(1234)  # 20 min 34 s used: time lines and a rounding line
        st.meter(session.pk)
        bridge.submit("bill")
        reply = wait_for(bridge, lambda m: m[0] == "result" and m[1] == "bill")[2]
        charge = st.bill(CafeSession.objects.get(pk=session.pk))
        assert reply["ok"] is True
        got = reply["bill"]
        assert got["lines"] == _texts(charge) and len(got["lines"]) >= 2
        assert got["total"] == charge.total > 0 and got["final"] is False
        assert got["session"] == session.pk
        assert any("20 min 34 s" in line for line in got["lines"])
        # the one rounding travels too (21 min × 701 XOF an hour = 245.35 XOF)
        rounding = [line.text for line in charge.lines if line.kind == "rounding"]
        assert rounding and rounding[0] in got["lines"]
        assert "245.35" in rounding[0]

        # another station's session: refused like a missing one
        theirs = st.start_prepaid(OWNER, other, bob)
        bridge.submit("bill", theirs.pk)
        reply = wait_for(bridge, lambda m: m[0] == "result" and m[1] == "bill")[2]
        assert reply["ok"] is False and reply["code"] == "no_session" and "bill" not in reply

        # logging out: the final bill of the ended session, for the lock screen
        at(1300)
        bridge.submit("logout")
        assert wait_for(bridge, lambda m: m[0] == "result" and m[1] == "logout")[2]["ok"]
        assert mach.step() == [("screen", LOGIN)]
        ended = mach.take_ended()
        assert ended == session.pk
        bridge.submit("bill", ended)
        reply = wait_for(bridge, lambda m: m[0] == "result" and m[1] == "bill")[2]
        session.refresh_from_db()
        assert session.status == CafeSession.Status.ENDED
        final = bill_of(reply, bridge.link.venue)
        assert final.final and final.lines == tuple(_texts(st.bill(session)))
        assert final.total == session.charged == st.bill(session).total

        # long after the end, the next customer at this PC cannot read it
        at(1300 + FINAL_BILL_SECONDS + 1)
        bridge.submit("bill", ended)
        reply = wait_for(bridge, lambda m: m[0] == "result" and m[1] == "bill")[2]
        assert reply["ok"] is False and reply["code"] == "no_session"
