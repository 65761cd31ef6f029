"""CoA/Disconnect over real UDP: a test gateway (pyrad, verifying the authenticator with
the NAS secret) receives a Disconnect-Request when credit runs out and a CoA-Request when
a code is redeemed mid-session; its ACK or NAK (Error-Cause) is recorded."""

from __future__ import annotations

import datetime as dt

import pytest
from pyrad import packet as rp

from ficha.core import clock
from ficha.hotspot import services as hs
from ficha.hotspot.models import CoaJob, HotspotSession
from ficha.hotspot.services import coa_jobs
from ficha.recharges import services as rs

from .coa_listener import CoaListener
from .hotspot_support import acct, give_credit, make_nas, make_plan

T0 = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _not_in_a_thread(settings):
    settings.HOTSPOT_COA_SEND_NOW = False  # the test sends, in its own transaction


@pytest.fixture
def gateway():
    with CoaListener(secret="testing123") as listener:
        yield listener


@pytest.fixture
def online(db, make_customer, gateway):
    alice = make_customer("alice", password="alice-secret-1")
    nas = make_nas(vendor="mikrotik", secret="testing123", coa_port=gateway.port)
    make_plan(price_per_hour=3600, increment_seconds=60)
    give_credit(alice, 600)
    with clock.frozen(T0):
        d = hs.authorize(nas, hs.AuthRequest(username="alice", password="alice-secret-1",
                                             mac="AA:BB:CC:00:00:01"))
        cls = dict(d.attributes)["Class"]
        hs.account(nas, acct("start", klass=cls, framed_ip="10.5.50.7"))
    return nas, alice, cls


def test_credit_running_out_sends_a_verified_disconnect_request(online, gateway):
    nas, alice, cls = online
    with clock.frozen(T0 + dt.timedelta(seconds=650)):
        assert hs.review_sessions() == 1
        assert coa_jobs.send_due(timeout=2) == 1
    [request] = gateway.received
    assert request["code"] == rp.DisconnectRequest
    assert request["User-Name"] == "alice" and request["Acct-Session-Id"] == "s1"
    assert request["Calling-Station-Id"] == "AA:BB:CC:00:00:01"
    assert request["Framed-IP-Address"] == "10.5.50.7"
    assert gateway.rejected == 0
    job = CoaJob.objects.get()
    assert (job.state, job.last_answer, job.reason) == ("acked", "ack", "credit")


def test_a_code_redeemed_mid_session_sends_a_coa_with_the_new_timeout(
        online, gateway, office, desk, django_capture_on_commit_callbacks):
    nas, alice, cls = online
    batch = rs.generate(office, count=1, amount=1200)
    row = batch.recharges.get()
    rs.sell(desk, [row])
    with clock.frozen(T0 + dt.timedelta(seconds=120)):
        hs.account(nas, acct("interim", t=120, klass=cls))
        # the portal's redemption says nothing to the hotspot: the ledger hook does
        with django_capture_on_commit_callbacks(execute=True):
            rs.redeem(row.code, customer=alice, source=rs.Source(door="portal"))
        assert CoaJob.objects.count() == 1
        assert coa_jobs.send_due(timeout=2) == 1
    [request] = gateway.received
    assert request["code"] == rp.CoARequest
    # 480 left + 1200 redeemed after 120 s online: 1800 s from the start
    assert request["Session-Timeout"] == 1800
    assert CoaJob.objects.get().state == "acked"


def test_a_nak_with_error_cause_is_recorded(online, gateway):
    nas, alice, cls = online
    gateway.answer_nak = 503
    hs.kick(HotspotSession.objects.get().pk, hs_actor())
    coa_jobs.send_due(timeout=2)
    job = CoaJob.objects.get()
    assert (job.state, job.error_cause) == ("naked", 503)
    assert len(gateway.received) == 1


def test_a_wrong_secret_gets_no_answer_and_is_retried(online, gateway):
    nas, alice, cls = online
    nas.secret = "not-the-gateways"
    nas.save()
    hs.kick(HotspotSession.objects.get().pk, hs_actor())
    coa_jobs.send_due(timeout=0.5)
    job = CoaJob.objects.get()
    assert gateway.rejected == 1 and gateway.received == []
    assert (job.state, job.attempts, job.last_answer) == ("pending", 1, "timeout")


def hs_actor():
    from .hotspot_support import OWNER
    return OWNER
