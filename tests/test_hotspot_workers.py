"""`ficha radiusd` worker processes (FICHA_RADIUS_WORKERS): on PostgreSQL several processes
share the RADIUS ports (SO_REUSEPORT) and every one of them answers; on SQLite one process
keeps every write, and asking for more is refused with a message."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ficha.accounts import services as accounts

from .hotspot_support import give_credit, make_nas, make_plan
from .ports import free_ports
from .test_cli_serve import FICHA, _env
from .test_hotspot_radius import acct_packet, decode_reply

pytestmark = pytest.mark.slow

AUTH_PORT, ACCT_PORT = free_ports(2, udp=True)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _answers(n_senders: int, start: int, timeout: float = 1.5) -> int:
    """Accounting-Starts from ``n_senders`` fresh source ports; how many were answered."""
    answered = 0
    socks = []
    try:
        for i in range(n_senders):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.settimeout(timeout)
            socks.append(sock)
            pkt = acct_packet(User_Name="alice", Acct_Status_Type="Start",
                              Acct_Session_Id=f"w{start + i}")
            sock.sendto(pkt.RequestPacket(), ("127.0.0.1", ACCT_PORT))
            try:
                decode_reply(pkt, sock.recv(4096))
                answered += 1
            except TimeoutError:
                pass
    finally:
        for sock in socks:
            sock.close()
    return answered


def test_more_than_one_worker_is_refused_on_sqlite(tmp_path):
    out = subprocess.run([*FICHA, "radiusd", "--auth", f"127.0.0.1:{AUTH_PORT}", "--acct",
                          "off"], env=_env(tmp_path, FICHA_RADIUS_WORKERS="2"),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "needs PostgreSQL" in out.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_two_workers_share_the_ports_and_both_answer(transactional_db, make_customer,
                                                       tmp_path):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("several RADIUS processes need PostgreSQL (FICHA_TEST_DATABASE_URL)")
    make_nas(address="127.0.0.1")
    make_plan(price_per_hour=3600)
    alice = make_customer("alice")
    give_credit(alice, 10_000)
    s = connection.settings_dict
    url = f"postgres://{s['USER']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"
    env = _env(tmp_path / "data", FICHA_DATABASE_URL=url, FICHA_RADIUS_WORKERS="2")
    proc = subprocess.Popen([*FICHA, "radiusd", "--auth", f"127.0.0.1:{AUTH_PORT}",
                             "--acct", f"127.0.0.1:{ACCT_PORT}"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (_children(proc.pid)
                                                    and _answers(1, 0, timeout=0.5)):
            assert proc.poll() is None, proc.stdout.read()
        (child,) = _children(proc.pid)
        time.sleep(1)  # the child binds after the first process
        answered_by = {}
        for n, (stopped, name) in enumerate(((proc.pid, "child"), (child, "first"))):
            # With one process stopped, only the other can answer: from sixteen source
            # ports, the kernel sends some to it (all to one process: odds 2^-15).
            os.kill(stopped, signal.SIGSTOP)
            try:
                answered_by[name] = _answers(16, 100 * (n + 1))
            finally:
                os.kill(stopped, signal.SIGCONT)
        assert answered_by["child"] > 0 and answered_by["first"] > 0, answered_by
        assert answered_by["child"] + answered_by["first"] <= 32
        assert accounts.balance(alice) == 10_000  # Starts cost nothing
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "2 processes share the ports" in out and "Stopped." in out
    assert not _children(proc.pid)
