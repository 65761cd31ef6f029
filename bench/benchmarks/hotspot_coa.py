"""Hotspot CoA/Disconnect: what telling gateways costs.

``hotspot.coa_hook``
    ``ledger.post`` of a customer credit movement (2 lines) with the hotspot's after-commit
    listener installed and 200 other customers online, against the same posting with no
    listener: the hook must cost (almost) nothing for customers who are not online.
    Target ≥ 0.8×.
``hotspot.coa_send``
    Disconnect jobs queued and sent per second through ``coa_jobs.send_due`` (claim
    with a conditional UPDATE, encode, UDP to a local responder, verify its ACK, record
    it), up to 50 per call, against ``coa_sender.send`` of the same requests alone
    (encode, UDP, verify; no database). Target ≥ 0.05×: the worker pays one conditional
    UPDATE per job to claim it (so two workers never send one twice) and a commit per
    batch, where the baseline pays nothing; a venue sends a few requests a minute.
"""

from __future__ import annotations

import secrets
import socket
import threading

from pyrad import packet as rp

from ficha.accounts import services as accounts
from ficha.core import audit
from ficha.hotspot import coa_sender
from ficha.hotspot import services as hs
from ficha.hotspot.models import CoaJob, HotspotSession, Nas
from ficha.hotspot.radius import dictionary
from ficha.hotspot.services import coa_jobs
from ficha.ledger import services as ledger

from ..runner import Context, Measurement, register

ONLINE = 200
BATCH = 50
SECRET = "bench-secret-1"


def _setup(tag: str, port: int = 3799):
    for old in Nas.objects.filter(active=True, address="127.0.0.1"):  # another benchmark's:
        hs.update_nas(audit.SYSTEM, old, active=False)  # one active NAS per address
    nas = hs.create_nas(audit.SYSTEM, name=f"bench-{tag}", address="127.0.0.1",
                        secret=SECRET, vendor="mikrotik", coa_port=port)
    plan = hs.create_plan(audit.SYSTEM, name=f"bench-{tag}", price_per_hour=3600,
                          is_default=True)
    return nas, plan


def _online(nas, plan, tag: str, count: int) -> list:
    sessions = []
    for n in range(count):
        customer = accounts.create_customer(audit.SYSTEM, f"b{tag}{n}")
        sessions.append(HotspotSession.objects.create(
            nas=nas, session_key=f"{tag}-{n}", acct_session_id=f"{tag}-{n}",
            username=customer.username, customer=customer, plan=plan,
            mac=f"02:00:00:00:{n // 256:02x}:{n % 256:02x}"))
    return sessions


@register("hotspot.coa_hook", "ledger.post with the hotspot's listener vs without")
def hook(ctx: Context) -> list[Measurement]:
    tag = secrets.token_hex(2)
    nas, plan = _setup(tag)
    _online(nas, plan, tag, ONLINE)
    offline = accounts.create_customer(audit.SYSTEM, f"off{tag}")
    lines = [(ledger.ADJUSTMENTS, 5), (offline.credit_account_id, -5)]
    listeners = list(ledger._listeners)

    def post(n: int) -> None:
        for _ in range(n):
            ledger.post("adjustment", lines, memo="bench", reference="bench")

    def with_hook(n: int) -> None:
        ledger._listeners[:] = listeners
        post(n)

    def without(n: int) -> None:
        ledger._listeners[:] = []
        try:
            post(n)
        finally:
            ledger._listeners[:] = listeners

    return [ctx.compare("hotspot.coa_hook", with_hook, without, unit="postings/s",
                        target=0.8, subject_label="with hook",
                        baseline_label="no listener")]


class _Responder:
    """A gateway's CoA port that ACKs everything (pyrad, verifying nothing)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.is_set():
            try:
                data, addr = self.sock.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            pkt = rp.CoAPacket(packet=data, secret=SECRET.encode(), dict=dictionary())
            self.sock.sendto(pkt.CreateReply().ReplyPacket(), addr)

    def close(self):
        self.stop.set()
        self.thread.join(2)
        self.sock.close()


@register("hotspot.coa_send", "Disconnect jobs sent via the worker vs the bare UDP sender")
def send(ctx: Context) -> list[Measurement]:
    responder = _Responder()
    try:
        tag = secrets.token_hex(2)
        nas, plan = _setup(tag, responder.port)
        sessions = _online(nas, plan, tag, BATCH)
        requests = [coa_sender.Request("127.0.0.1", responder.port, SECRET, "disconnect",
                                       [("User-Name", s.username),
                                        ("Acct-Session-Id", s.acct_session_id)])
                    for s in sessions]

        def worker(n: int) -> None:
            done = 0
            while done < n:
                take = min(BATCH, n - done)
                # queue the batch (part of the timed work: a job is queued, then sent)
                CoaJob.objects.bulk_create([CoaJob(
                    session=s, nas=nas, kind="disconnect", reason="kick")
                    for s in sessions[:take]])
                done += coa_jobs.send_due(limit=take, timeout=2)

        def bare(n: int) -> None:
            done = 0
            while done < n:
                take = min(BATCH, n - done)
                done += len(coa_sender.send(requests[:take], 2))

        return [ctx.compare("hotspot.coa_send", worker, bare, unit="requests/s",
                            target=0.05, subject_label="send_due",
                            baseline_label="coa_sender.send")]
    finally:
        responder.close()
