"""The RADIUS benchmark works end to end (bench/ measures speed by hand; nothing here is
timed): both servers answer every request of a tiny run, and Ficha's books check passes.

Needs PostgreSQL (FICHA_TEST_DATABASE_URL) and Debian's freeradius + freeradius-postgresql;
skipped cleanly without them."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import struct
import time
from pathlib import Path

import pytest
from django.db import connection

from bench import radload
from bench.benchmarks import radius as rb
from bench.runner import Context, discover

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_the_radius_benchmark_is_registered():
    assert "radius.servers" in discover()


def test_packets_carry_the_right_authenticators():
    secret = b"s3cret-s3cret"
    pkt = radload.access_request(7, secret, "alice", "pw", mac="02-00-00-00-00-01")
    assert pkt[0] == radload.ACCESS_REQUEST and pkt[1] == 7
    assert struct.unpack("!H", pkt[2:4])[0] == len(pkt)
    # Message-Authenticator: HMAC-MD5 over the packet with the attribute zeroed
    import hmac

    at = pkt.index(bytes([80, 18]))
    zeroed = pkt[:at + 2] + b"\0" * 16 + pkt[at + 18:]
    assert hmac.new(secret, zeroed, hashlib.md5).digest() == pkt[at + 2:at + 18]
    acct = radload.accounting_request(9, secret, radload.INTERIM, "s1", "alice",
                                      session_time=60, input_octets=5 << 32)
    assert hashlib.md5(acct[:4] + b"\0" * 16 + acct[20:] + secret).digest() == acct[4:20]
    # a reply is checked against its request
    body = bytes([5, 9]) + struct.pack("!H", 20)
    reply = body + hashlib.md5(body + acct[4:20] + secret).digest()
    assert radload.reply_ok(reply, acct, secret)
    assert not radload.reply_ok(reply, acct, b"other-secret")


def test_the_password_is_hidden_as_rfc_2865_says():
    from pyrad import packet as rp

    from ficha.hotspot import radius

    secret = b"s3cret-s3cret"
    raw = radload.access_request(1, secret, "alice", "a-rather-long-password-1",
                                 mac="02-00-00-00-00-01")
    pkt = rp.AuthPacket(packet=raw, secret=secret, dict=radius.dictionary())
    assert pkt.PwDecrypt(pkt[2][0]) == "a-rather-long-password-1"
    assert pkt.verify_message_authenticator()


def test_the_generator_runs_without_garbage_collection_and_restores_it():
    """A full collection in the generator's process (which holds every packet and result
    of a run) took 60-170 ms: the answers waiting meanwhile were timed as the server's
    latency. The loops run with the collector off, and leave it as they found it."""
    seen: list[bool] = []

    class Sink(asyncio.DatagramProtocol):
        def datagram_received(self, data, addr):
            seen.append(gc.isenabled())

    async def run(loop_kind):
        loop = asyncio.get_running_loop()
        transport, _p = await loop.create_datagram_endpoint(Sink, local_addr=("127.0.0.1", 0))
        target = transport.get_extra_info("sockname")[:2]
        packets = [radload.accounting_request(k, b"s", radload.INTERIM, f"s{k}", "u")
                   for k in range(5)]
        try:
            if loop_kind == "open":
                return await radload.open_loop(target, packets, b"s", rate=500, seconds=0.01,
                                               sockets=1, timeout=0.05)
            return await radload.closed_loop(target, packets, b"s", concurrency=5,
                                             seconds=0.05, sockets=1, timeout=0.05)
        finally:
            transport.close()

    assert gc.isenabled()
    for kind in ("open", "closed"):
        seen.clear()
        result = asyncio.run(run(kind))
        assert result.sent and result.lost == result.sent  # the sink never answers
        assert seen and not any(seen), kind  # received while the generator ran
        assert gc.isenabled(), kind
    gc.disable()
    try:
        asyncio.run(run("open"))
        assert not gc.isenabled()  # left as it was found
    finally:
        gc.enable()


def test_a_checkpoint_during_a_phase_is_counted():
    """A phase during which PostgreSQL begins a checkpoint is marked in the log and the
    JSON (its full-page writes slow every commit for a while, whichever server runs)."""
    if connection.vendor != "postgresql":
        pytest.skip("radius.servers needs PostgreSQL (FICHA_TEST_DATABASE_URL)")
    import psycopg

    before = rb._checkpoints()
    with rb._pg_admin() as conn:
        try:
            conn.execute("CHECKPOINT")
        except psycopg.errors.InsufficientPrivilege:
            pytest.skip("CHECKPOINT needs a superuser or pg_checkpoint")
    # the checkpointer reports its statistics a moment after CHECKPOINT returns (seen late
    # on a busy machine); another checkpoint may also have begun meanwhile
    deadline = time.monotonic() + 10
    while rb._checkpoints()[0] == before[0] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert rb._checkpoints()[0] >= before[0] + 1


def test_the_machine_busy_share_sees_a_busy_core():
    """A phase's ``machine_busy``: the share of every core's time spent busy between two
    readings of /proc/stat — one core kept busy on an otherwise quiet machine is at least
    a share of 1/cores."""
    if not Path("/proc/stat").exists():
        pytest.skip("Linux /proc only")
    before = rb._machine_jiffies()
    end = time.process_time() + 0.3
    while time.process_time() < end:
        pass
    busy = rb._busy(before, rb._machine_jiffies())
    assert busy is not None and 0.8 / rb._cores() <= busy <= 1
    assert rb._busy(before, before) is None


def test_a_tiny_run_answers_everything_and_the_books_add_up():
    if connection.vendor != "postgresql":
        pytest.skip("radius.servers needs PostgreSQL (FICHA_TEST_DATABASE_URL)")
    why = rb.missing_freeradius()
    if why:
        pytest.skip(why)
    ctx = Context(db="postgres", vendor="postgresql", fixed_ops=3, repeats=1,
                  verbose=False)
    # Enough users that one user's logins are never many at once: a login proves one of
    # the customer's five newest unused tickets (as a portal issues one just before its
    # gateway asks); with 8 users at thousands of logins a second, the two radiusd
    # processes sometimes handled one user's logins more than five apart (rejects).
    rows = rb.servers(ctx, users=48, sessions=16, concurrency=4)
    assert [m.name.split(" = ")[0] for m in rows] == [
        "radius[Access-Accept]", "radius[Interim-Update]",
        "radius[Access-Accept] p99 at 80%", "radius[Interim-Update] p99 at 80%",
        "radius[Access-Accept] p99 at FreeRADIUS' 80% load",
        "radius[Interim-Update] p99 at FreeRADIUS' 80% load"]
    assert all(m.value > 0 and m.baseline > 0 for m in rows)
    details = rows[0].details
    books = details["books"]
    assert books["problem_count"] == 0 and books["sessions_checked"] == 16
    assert books["debit_postings"] > 0
    for server in ("ficha", "freeradius"):
        for phase, runs in details["servers"][server]["runs"].items():
            assert all(r["checkpoints"]["begun"] >= 0 and r["checkpoints"]["pages"] >= 0
                       for r in runs), (server, phase)
            # the whole machine's busy share and the generator's own CPU, per phase
            assert all(0 < r["machine_busy"] <= 1 and r["generator_cpu_ms_per_request"] > 0
                       for r in runs), (server, phase)
        for phase, counts in details["losses"][server].items():
            assert counts["duplicates"] == counts["bad"] == counts["rejects"] == 0, (
                server, phase, counts)
