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
        coa_jobs.forget_online()  # the hook's 2 s view of who is online predates alice
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


@pytest.mark.django_db(transaction=True)
def test_a_top_up_at_the_counter_reaches_the_gateway_at_once(make_customer, gateway, settings):
    """No test shortcut: the ledger hook runs after commit and a background thread sends
    the CoA while the worker sleeps."""
    settings.HOTSPOT_COA_SEND_NOW = True
    settings.HOTSPOT_COA_TIMEOUT = 2
    alice = make_customer("alice", password="alice-secret-1")
    nas = make_nas(vendor="coovachilli", secret="testing123", coa_port=gateway.port)
    make_plan(price_per_hour=3600, increment_seconds=60)
    give_credit(alice, 600)  # nobody online yet: nothing to send
    d = hs.authorize(nas, hs.AuthRequest(username="alice", password="alice-secret-1",
                                         mac="AA:BB:CC:00:00:01"))
    hs.account(nas, acct("start", klass=dict(d.attributes)["Class"]))
    threads = []
    real = coa_jobs.send_soon
    monkey = pytest.MonkeyPatch()
    monkey.setattr(coa_jobs, "send_soon", lambda jobs: threads.append(real(jobs)))
    coa_jobs.forget_online()  # the hook's 2 s view of who is online predates alice
    try:
        give_credit(alice, 600)
    finally:
        monkey.undo()
    [thread] = [t for t in threads if t is not None]
    thread.join(10)
    [request] = gateway.received
    assert request["code"] == rp.CoARequest and request["Session-Timeout"] == 1200
    assert request["Calling-Station-Id"] == "AA-BB-CC-00-00-01"  # chilli's spelling
    assert CoaJob.objects.get().state == "acked"


@pytest.mark.parametrize("door", ["console", "api"])
def test_a_deposit_at_any_door_queues_a_coa(online, door, client, cashier, open_shift,
                                            django_capture_on_commit_callbacks):
    """The doors know nothing of the hotspot: the ledger hook tells it."""
    nas, alice, cls = online
    client.force_login(cashier)
    coa_jobs.forget_online()
    with clock.frozen(T0 + dt.timedelta(seconds=60)), \
            django_capture_on_commit_callbacks(execute=True):
        if door == "console":
            r = client.post(f"/console/customers/{alice.pk}/deposit/", {"amount": "600"})
            assert r.status_code in (200, 302)
        else:
            r = client.post(f"/api/v1/customers/{alice.pk}/deposits",
                            {"amount_minor": 600}, content_type="application/json")
            assert r.status_code == 201, r.content
    job = CoaJob.objects.get()
    assert (job.kind, job.reason, job.session_timeout) == ("coa", "topup", 1200)
