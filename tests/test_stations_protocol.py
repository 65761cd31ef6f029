"""The agent protocol (pure) and the link door with real WebSocket clients: pairing,
authentication, replay and tampering refused, commands delivered, state pushed, offline
events reconciled once."""

from __future__ import annotations

import asyncio
import json

import pytest
from django.test import override_settings

from ficha.stations import services as st
from ficha.stations.link import ServerThread
from ficha.stations.models import CafeSession, Station, StationCommand
from ficha_protocol import client
from ficha_protocol import messages as m
from tests.stations_support import OWNER, balance, give_credit, ledger_sum, make_station


# --- the envelope, without a server ---------------------------------------------------------
def pair_of_signers(secret="s3cret"):
    link = m.link_id("n1", "n2")
    return (m.Signer(secret, link, sending=m.TO_SERVER),
            m.Signer(secret, link, sending=m.TO_AGENT))


def test_signed_frames_are_accepted_once_in_order():
    agent, server = pair_of_signers()
    f1 = m.decode(agent.seal(m.HEARTBEAT, {"boot_id": "b"}))
    f2 = m.decode(agent.seal(m.LOGOUT, {}))
    assert server.check(f1).kind == m.HEARTBEAT
    assert server.check(f2).kind == m.LOGOUT
    with pytest.raises(m.ProtocolError) as err:
        server.check(f1)  # replayed on the same connection
    assert err.value.code == "replay"


def test_tampered_reflected_or_foreign_frames_are_refused():
    agent, server = pair_of_signers()
    raw = json.loads(agent.seal(m.CODE, {"code": "1234"}))
    raw["b"]["code"] = "9999"
    with pytest.raises(m.ProtocolError, match="signature"):
        server.check(m.decode(json.dumps(raw)))
    # a frame the server sent cannot be played back to it (the direction is signed)
    other_agent = m.Signer("s3cret", m.link_id("n1", "n2"), sending=m.TO_AGENT)
    with pytest.raises(m.ProtocolError):
        server.check(m.decode(other_agent.seal(m.HEARTBEAT, {})))
    # a frame from another connection (another link id) is refused
    old = m.Signer("s3cret", m.link_id("old", "n2"), sending=m.TO_SERVER)
    with pytest.raises(m.ProtocolError):
        server.check(m.decode(old.seal(m.HEARTBEAT, {})))
    # the wrong secret
    with pytest.raises(m.ProtocolError):
        server.check(m.decode(m.Signer("other", m.link_id("n1", "n2"),
                                       sending=m.TO_SERVER).seal(m.HEARTBEAT, {})))
    with pytest.raises(m.ProtocolError):
        server.check(m.decode(m.encode(m.HEARTBEAT, {})))  # unsigned


@pytest.mark.parametrize("raw", ["", "[]", "{", '{"t": 3}', '{"t": "hb", "s": -1}',
                                 '{"t": "hb", "b": []}', b"\xff", "x" * (m.MAX_FRAME + 1)])
def test_malformed_frames_raise_protocol_errors(raw):
    with pytest.raises(m.ProtocolError):
        m.decode(raw)


def test_agent_url_never_carries_secrets():
    assert client.agent_url("10.0.0.2:8765") == "ws://10.0.0.2:8765/agent"
    assert client.agent_url("https://cafe.example") == "wss://cafe.example/agent"


def test_agent_counts_down_offline_and_queues_the_end_with_its_time():
    now = [100.0]
    link = client.AgentLink(client.Credentials("ws://x/agent", 1, "s"),
                            monotonic=lambda: now[0])
    link._set_state({"mode": "session", "session": {"id": 7, "remaining": 90}})
    now[0] += 60
    link.tick()
    assert link.remaining() == 30 and not link.queue
    now[0] += 45
    link.tick()
    assert link.mode == "locked"
    assert [e.wire(now[0]) for e in link.queue] == [
        {"id": link.queue[0].id, "kind": "session_end", "session": 7, "ago": 15}]


# --- against the real door --------------------------------------------------------------------
@pytest.fixture
def door(transactional_db):
    server = ServerThread(("127.0.0.1", 0)).start()
    try:
        yield f"ws://127.0.0.1:{server.address[1]}"
    finally:
        server.stop()


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def _closing(fn, *args, **kwargs):
    from django.db import connections

    try:
        return fn(*args, **kwargs)
    finally:
        connections.close_all()  # the thread's own connection (PostgreSQL counts them)


async def orm(fn, *args, **kwargs):
    """An ORM call from the test's event loop, in a thread that closes its connection."""
    return await asyncio.to_thread(_closing, fn, *args, **kwargs)


async def paired(url, station):
    code = await orm(st.issue_pairing_code, OWNER, station)
    return await client.pair(url, code, hostname="pc-test")


async def until(predicate, timeout=5.0):
    for _n in range(int(timeout / 0.05)):
        if await orm(predicate):
            return True
        await asyncio.sleep(0.05)
    return False


@override_settings(FICHA_CAFE_PRICE_PER_HOUR=600)
def test_pairing_login_state_commands_and_events_over_the_link(door, make_customer):
    alice = make_customer("alice", pin="4821")
    give_credit(alice, 300)
    pc = make_station(name="PC-01")

    async def scenario():
        creds = await paired(door, pc)
        assert creds.station == pc.pk and creds.url.endswith("/agent")
        with pytest.raises(client.LinkError):  # the code works once
            await client.pair(door, "AAAAA-AAAAA")
        link = client.AgentLink(creds)
        state = await link.connect()
        assert state["mode"] == "free" and "server_time" in state
        reader = asyncio.ensure_future(link.receive_forever())
        reply = await link.login("alice", "0000")
        assert reply["ok"] is False and reply["code"] == "wrong"
        reply = await link.login("alice", "4821")
        assert reply["ok"] is True
        assert link.state["mode"] == "session"
        assert 30 * 60 - 5 <= link.state["session"]["remaining"] <= 30 * 60  # money's worth
        hb = await link.heartbeat()
        assert hb["session"]["customer"] == "alice"
        # a console command reaches the agent within 2 s
        await orm(st.run, OWNER, pc, "message", text="Closing at 22:00")
        assert await until(lambda: bool(link.commands), 2.0)
        assert link.commands[0]["action"] == "message"
        assert await until(lambda: StationCommand.objects.filter(
            action="message", acked_at__isnull=False, ok=True).exists())
        # a state change made at the console is pushed
        await orm(st.run, OWNER, pc, "lock")
        assert await until(lambda: link.mode == "locked" or link.mode == "paused", 2.0)
        await orm(st.run, OWNER, pc, "unlock")
        assert await until(lambda: link.mode == "session", 2.0)
        # offline: the customer logs out while the link is down; reconciled once
        session_id = link.state["session"]["id"]
        link.queue_event("logout", session_id)
        ids = await link.flush_events()
        assert len(ids) == 1 and not link.queue
        assert await until(lambda: link.mode == "free", 2.0)
        reader.cancel()
        await link.close()

    run(scenario())
    session = CafeSession.objects.get()
    assert session.status == CafeSession.Status.ENDED and session.end_reason == "offline_logout"
    assert balance(alice) == 300 - session.charged
    assert ledger_sum() == 0
    assert Station.objects.get(pk=pc.pk).hostname == "pc-test"


def test_wrong_secret_unknown_station_and_revoked_station_are_refused(door):
    pc = make_station()

    async def scenario():
        creds = await paired(door, pc)
        bad = client.Credentials(creds.url, creds.station, "not-the-secret")
        with pytest.raises(client.LinkError) as err:
            await client.AgentLink(bad).connect()
        assert err.value.code == "auth_failed"
        with pytest.raises(client.LinkError) as err:
            await client.AgentLink(client.Credentials(creds.url, 9999, "x")).connect()
        assert err.value.code == "unknown_station"
        link = client.AgentLink(creds)
        await link.connect()
        reader = asyncio.ensure_future(link.receive_forever())
        await orm(lambda: st.revoke(OWNER, Station.objects.get(pk=pc.pk)))
        with pytest.raises(ConnectionError):
            await asyncio.wait_for(reader, 3)
        with pytest.raises(client.LinkError):
            await client.AgentLink(creds).connect()

    run(scenario())


def test_a_replayed_or_tampered_frame_closes_the_link_and_changes_nothing(door, make_customer):
    alice = make_customer("alice")
    give_credit(alice, 500)
    pc = make_station()

    async def scenario():
        creds = await paired(door, pc)
        link = client.AgentLink(creds)
        await link.connect()
        reader = asyncio.ensure_future(link.receive_forever())
        await link.heartbeat()
        # replay: send a frame with a sequence number already used
        link._signer.sent -= 1
        await link._ws.send(link._signer.seal(m.LOGIN, {"username": "alice",
                                                        "secret": "pw-alice", "req": 99}))
        with pytest.raises(ConnectionError):
            await asyncio.wait_for(reader, 3)
        # tampering: a stolen login frame with another body, on a new connection
        link2 = client.AgentLink(creds)
        await link2.connect()
        reader = asyncio.ensure_future(link2.receive_forever())
        frame = json.loads(link2._signer.seal(m.HEARTBEAT, {"req": 1}))
        frame["t"], frame["b"] = m.LOGIN, {"username": "alice", "secret": "pw-alice"}
        await link2._ws.send(json.dumps(frame))
        with pytest.raises(ConnectionError):
            await asyncio.wait_for(reader, 3)

    run(scenario())
    assert not CafeSession.objects.exists()  # a stolen message cannot start free time


@override_settings(FICHA_CAFE_PRICE_PER_HOUR=600)
def test_a_code_alone_logs_in_at_the_station_and_another_extends_the_session(
        door, office, desk):
    from ficha.recharges import services as recharges

    batch = recharges.generate(office, count=2, amount=120)
    recharges.sell_batch(desk, batch)
    codes = list(recharges.Recharge.objects.filter(batch=batch).values_list("code", flat=True))
    pc = make_station()

    async def scenario():
        link = client.AgentLink(await paired(door, pc))
        await link.connect()
        reader = asyncio.ensure_future(link.receive_forever())
        reply = await link.redeem(codes[0])
        assert reply["ok"], reply
        assert 12 * 60 - 5 <= link.state["session"]["remaining"] <= 12 * 60
        reply = await link.redeem(codes[1])
        assert reply["ok"] and reply["credited"] == 120
        assert await until(lambda: link.state["session"]["remaining"] >= 23 * 60, 3)
        reader.cancel()
        await link.close()

    run(scenario())


@override_settings(FICHA_CAFE_PRICE_PER_HOUR=600)
def test_warnings_then_the_session_ends_at_zero_and_the_agent_is_told(door, make_customer):
    import datetime as dt

    from ficha.core import clock

    alice = make_customer("alice")
    give_credit(alice, 60)  # 6 minutes
    pc = make_station()
    start = clock.now()

    async def scenario():
        link = client.AgentLink(await paired(door, pc))
        await link.connect()
        reader = asyncio.ensure_future(link.receive_forever())
        warnings = []
        link.on_state = lambda state: warnings.append(state.get("warn"))
        with clock.frozen(start):
            assert (await link.login("alice", "pw-alice"))["ok"]
        with clock.frozen(start + dt.timedelta(seconds=61)):
            assert await until(lambda: 5 in warnings, 3)
        with clock.frozen(start + dt.timedelta(seconds=5 * 60 + 1)):
            assert await until(lambda: 1 in warnings, 3)
        with clock.frozen(start + dt.timedelta(seconds=6 * 60 + 30)):
            assert await until(lambda: link.mode == "free", 4)
        reader.cancel()
        await link.close()

    run(scenario())
    session = CafeSession.objects.get()
    assert session.end_reason == "credit" and session.seconds == 360
    assert balance(alice) == 0 and ledger_sum() == 0


@override_settings(FICHA_CAFE_PRICE_PER_HOUR=600)
def test_a_restarted_door_gives_the_reconnecting_agent_its_full_state(transactional_db,
                                                                      make_customer):
    import datetime as dt

    from ficha.core import clock

    alice = make_customer("alice")
    give_credit(alice, 600)  # an hour
    pc = make_station()
    start = clock.now()
    first = ServerThread(("127.0.0.1", 0)).start()
    url = f"ws://127.0.0.1:{first.address[1]}"

    async def before():
        link = client.AgentLink(await paired(url, pc), boot_id="boot-1")
        await link.connect()
        reader = asyncio.ensure_future(link.receive_forever())
        with clock.frozen(start):
            assert (await link.login("alice", "pw-alice"))["ok"]
        reader.cancel()
        return link.creds

    try:
        creds = run(before())
    finally:
        first.stop()  # the server goes down mid-session
    assert Station.objects.get(pk=pc.pk).connected is False
    second = ServerThread(("127.0.0.1", 0)).start()
    try:
        creds.url = client.agent_url(f"127.0.0.1:{second.address[1]}")

        async def after():
            link = client.AgentLink(creds, boot_id="boot-1", restarts=1)
            with clock.frozen(start + dt.timedelta(minutes=20)):
                state = await link.connect()
            await link.close()
            return state

        state = run(after())
    finally:
        second.stop()
    assert state["mode"] == "session" and state["session"]["customer"] == "alice"
    assert state["session"]["remaining"] == 40 * 60  # the 20 minutes down were used
    assert Station.objects.get(pk=pc.pk).restarts == 1


def test_pair_from_the_command_line_saves_a_private_secret(door, tmp_path):
    import stat

    from ficha_protocol.__main__ import main

    pc = make_station(name="PC-CLI")
    code = st.issue_pairing_code(OWNER, pc)
    path = tmp_path / "agent.json"
    assert main(["pair", door, code, "--save", str(path)]) == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    creds = client.Credentials.load(path)
    assert creds.station == pc.pk and creds.secret == Station.objects.get(pk=pc.pk).secret
    assert main(["pair", door, code, "--save", str(tmp_path / "x.json")]) == 1  # once


def test_a_command_queued_while_away_reaches_the_reconnecting_agent_once(
    transactional_db, monkeypatch
):
    """Found trying the café: a message sent to a PC whose agent was down reached it twice
    when it came back (once with the welcome, once more by the door's next poll). A
    repeated 'restart' or 'shutdown' would reboot the PC twice."""
    import ficha.stations.link as door_module

    monkeypatch.setattr(door_module, "POLL_SECONDS", 3600)  # the test runs the poll itself
    pc = make_station()
    thread = ServerThread(("127.0.0.1", 0)).start()
    url = f"ws://127.0.0.1:{thread.address[1]}"
    try:

        async def scenario():
            creds = await paired(url, pc)
            await orm(st.run, OWNER, pc, "message", text="Back soon?")  # the PC is away
            link = client.AgentLink(creds)
            await link.connect()
            reader = asyncio.ensure_future(link.receive_forever())
            assert await until(lambda: bool(link.commands), 2.0)  # with the welcome
            polled = asyncio.run_coroutine_threadsafe(thread.server.poll(), thread._loop)
            await asyncio.wrap_future(polled)
            await asyncio.sleep(0.5)
            reader.cancel()
            await link.close()
            return link.commands

        commands = run(scenario())
    finally:
        thread.stop()
    assert [c["text"] for c in commands] == ["Back soon?"]


def test_pairing_a_pc_again_does_not_blame_the_old_agent_for_its_silence(door):
    """Found trying the café: after *Pair again*, the old agent the door disconnected left
    the station 'PC on, agent silent' (the fraud alarm) until the new PC came up."""
    from ficha.core import clock
    from ficha.stations.services.roommap import OFFLINE, link_state

    pc = make_station()

    async def scenario():
        link = client.AgentLink(await paired(door, pc))
        await link.connect()
        reader = asyncio.ensure_future(link.receive_forever())
        await paired(door, pc)  # the owner pairs the PC again (a new secret)
        with pytest.raises(ConnectionError):
            await asyncio.wait_for(reader, 3)
        assert await until(lambda: not Station.objects.get(pk=pc.pk).connected, 3)

    run(scenario())
    station = Station.objects.get(pk=pc.pk)
    assert link_state(station, clock.now(), door_up=True) == OFFLINE
