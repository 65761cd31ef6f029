"""Micro-batching in the RADIUS door: packets of one kind handed to the services together
get the same answers as one by one, and one bad packet or failed item never costs the
others their answer."""

from __future__ import annotations

import asyncio
import socket
import sys

from pyrad import packet as rp

from ficha.hotspot import radius
from ficha.hotspot import services as hs
from ficha.hotspot.models import HotspotSession

from .hotspot_support import give_credit, make_nas, make_plan
from .test_hotspot_radius import acct_packet, auth_packet, decode_reply


def _setup(make_customer):
    nas = make_nas(vendor="mikrotik", address="127.0.0.1")
    make_plan(price_per_hour=3600, increment_seconds=60)
    people = [make_customer(f"user{i}", password="pass-word-1") for i in range(4)]
    for i, person in enumerate(people):
        give_credit(person, 600 * (i + 1))
    return nas, people


def test_a_batch_answers_each_packet_as_alone(db, make_customer):
    nas, people = _setup(make_customer)
    handler = radius.Handler()
    requests = [
        auth_packet(
            User_Name=p.username,
            User_Password=hs.issue_ticket(p).secret,
            Calling_Station_Id=f"AA-BB-CC-00-00-0{i}",
        )
        for i, p in enumerate(people)
    ]
    wrong_secret = auth_packet(
        secret=b"not-the-secret", User_Name="user0", User_Password="pass-word-1"
    )
    no_ma = auth_packet(ma=False, User_Name="user1", User_Password="pass-word-1")
    wrong_password = auth_packet(User_Name="user2", User_Password="guess-guess")
    items = [(r.RequestPacket(), nas, "127.0.0.1") for r in requests]
    items[2:2] = [
        (wrong_secret.RequestPacket(), nas, "127.0.0.1"),
        (b"\x01" * 19, nas, "127.0.0.1"),
        (no_ma.RequestPacket(), nas, "127.0.0.1"),
    ]
    items.append((wrong_password.RequestPacket(), nas, "127.0.0.1"))
    replies = handler.handle_many("auth", items)
    assert [r is None for r in replies] == [False, False, True, True, True, False, False, False]
    accepted = [
        decode_reply(req, data)
        for req, data in zip(
            requests, [replies[0], replies[1], replies[5], replies[6]], strict=True
        )
    ]
    assert [r.code for r in accepted] == [rp.AccessAccept] * 4
    # each its own credit: 10, 20, 30, 40 minutes
    assert [r["Session-Timeout"][0] for r in accepted] == [600, 1200, 1800, 2400]
    assert decode_reply(wrong_password, replies[7]).code == rp.AccessReject
    drops, _unknown, _seen = handler.take_counts()
    assert drops[nas.pk] == {
        hs.DROP_BAD_AUTHENTICATOR: 1,
        hs.DROP_MALFORMED: 1,
        hs.DROP_MISSING_MA: 1,
    }


def test_one_failing_item_never_fails_the_others(db, make_customer, monkeypatch):
    nas, people = _setup(make_customer)
    real = hs.authorize

    def flaky(nas_, req):
        if req.username == "user1":
            raise RuntimeError("database went away")
        return real(nas_, req)

    monkeypatch.setattr(sys.modules["ficha.hotspot.services.authorize"], "authorize", flaky)
    items = [(nas, hs.AuthRequest(p.username, password="pass-word-1")) for p in people]
    decisions = hs.authorize_many(items)
    assert isinstance(decisions[1], RuntimeError)
    assert [d.accept for i, d in enumerate(decisions) if i != 1] == [True, True, True]
    handler = radius.Handler()
    requests = [auth_packet(User_Name=p.username, User_Password="pass-word-1") for p in people]
    replies = handler.handle_many("auth", [(r.RequestPacket(), nas, "127.0.0.1") for r in requests])
    assert replies[1] is None  # not answered: the gateway retries, never rejected
    assert [
        decode_reply(r, d).code for r, d in zip(requests, replies, strict=True) if d is not None
    ] == [rp.AccessAccept] * 3


def test_accounting_batch_of_one_session_in_order(db, make_customer):
    nas, people = _setup(make_customer)
    handler = radius.Handler()
    packets = [
        acct_packet(
            User_Name="user3", Acct_Session_Id="b1", Acct_Status_Type=status, Acct_Session_Time=t
        )
        for status, t in (
            ("Start", 0),
            ("Interim-Update", 60),
            ("Interim-Update", 120),
            ("Stop", 180),
        )
    ]
    replies = handler.handle_many("acct", [(p.RequestPacket(), nas, "127.0.0.1") for p in packets])
    assert all(
        decode_reply(p, r).code == rp.AccountingResponse
        for p, r in zip(packets, replies, strict=True)
    )
    s = HotspotSession.objects.get(acct_session_id="b1")
    assert s.status == HotspotSession.Status.CLOSED and s.debited == 180  # 3 minutes


def test_the_server_batches_what_waits_and_answers_everything(
    transactional_db, make_customer, monkeypatch
):
    """Many requests at once on UDP with one worker thread: handed over in batches (more
    than one packet per call), every one answered."""
    nas, people = _setup(make_customer)
    sizes = []
    real = hs.authorize_many

    def counting(items):
        sizes.append(len(items))
        return real(items)

    monkeypatch.setattr(hs, "authorize_many", counting)
    requests = [
        auth_packet(User_Name=people[k % 4].username, User_Password="pass-word-1")
        for k in range(40)
    ]
    for k, r in enumerate(requests):
        r.id = k

    async def run():
        server = radius.RadiusServer(("127.0.0.1", 0), None, threads=1)
        await server.start()
        try:
            loop = asyncio.get_running_loop()
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setblocking(False)
            sock.connect(server.addresses["auth"])
            for r in requests:
                sock.send(r.RequestPacket())
            answers = {}
            while len(answers) < len(requests):
                data = await asyncio.wait_for(loop.sock_recv(sock, 4096), 60)
                answers[data[1]] = data
            sock.close()
            return answers
        finally:
            await server.stop()

    answers = asyncio.run(run())
    assert sorted(answers) == list(range(40))
    assert all(decode_reply(r, answers[r.id]).code == rp.AccessAccept for r in requests)
    assert sum(sizes) == 40 and max(sizes) > 1


def test_a_busy_reader_waits_a_moment_for_more_and_an_idle_one_never(settings):
    """While busy (its last batch had more than one packet), a reader that finds nothing
    more waiting waits up to FICHA_RADIUS_GATHER_MICROSECONDS for more packets; after a
    lone packet it handles the next one at once, alone. (A wide window and 50 ms gaps:
    what is asserted is which packets share a batch, not how fast.)"""
    import queue
    import time

    settings.RADIUS_GATHER_MICROSECONDS = 300_000
    inbox = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    inbox.bind(("127.0.0.1", 0))
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    batches: queue.Queue = queue.Queue()

    class Handler:
        def handle_many(self, kind, items):
            batches.put([data for data, _nas, _address in items])
            return [None] * len(items)

    class Server:
        stopping = False
        handler = Handler()

        def _take(self, kind, sock, data, addr, batch):
            batch.append((data, addr, data, None, addr[0]))

        def _answer(self, sock, batch, replies):
            pass

    def send(*names):
        for name in names:
            out.sendto(name.encode(), inbox.getsockname())

    server = Server()
    send("p1", "p2")  # waiting together: one batch, and the reader is busy
    reader = radius._Reader(server, "acct", inbox, 0)
    reader.start()
    try:
        assert batches.get(timeout=10) == [b"p1", b"p2"]
        send("p3")
        time.sleep(0.05)
        send("p4")  # arrives while the busy reader waits for more: same batch
        assert batches.get(timeout=10) == [b"p3", b"p4"]
        send("p5")  # alone in its window: a batch of one, and the reader is idle
        assert batches.get(timeout=10) == [b"p5"]
        send("p6")
        time.sleep(0.05)
        send("p7")  # the idle reader did not wait: p6 went alone
        assert batches.get(timeout=10) == [b"p6"]
        assert batches.get(timeout=10) == [b"p7"]
    finally:
        server.stopping = True
        send("stop")
        reader.join(10)
        inbox.close()
        out.close()
    assert not reader.is_alive()
