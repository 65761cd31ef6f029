"""CoA and Disconnect (RFC 5176): which live sessions are told what, retries, answers."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ficha.accounts import services as accounts
from ficha.core import clock
from ficha.core.models import Alert, AuditLog
from ficha.hotspot import coa_sender
from ficha.hotspot import services as hs
from ficha.hotspot.models import CoaJob, HotspotSession
from ficha.hotspot.services import coa_jobs
from ficha.tariffs import pricing

from .hotspot_support import OWNER, acct, give_credit, make_nas, make_plan

T0 = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)


def login(nas, name="alice", password="alice-secret-1", mac="AA:BB:CC:00:00:01"):
    d = hs.authorize(nas, hs.AuthRequest(username=name, password=password, mac=mac))
    assert d.accept, d.reason
    return d


def klass(decision):
    return dict(decision.attributes)["Class"]


@pytest.fixture(autouse=True)
def _not_in_a_thread(settings):
    settings.HOTSPOT_COA_SEND_NOW = False  # tests send (or fake sending) themselves


@pytest.fixture(autouse=True)
def _one_minute_in():
    """Unless a test says otherwise, it is one minute after the sessions started."""
    with clock.frozen(T0 + dt.timedelta(seconds=60)):
        yield


@pytest.fixture
def alice(make_customer):
    return make_customer("alice", password="alice-secret-1")


@pytest.fixture
def online(db, alice):
    """alice online on a MikroTik at 3600/hour (1 a second), per minute, 600 credit."""
    nas = make_nas(vendor="mikrotik")
    make_plan(price_per_hour=3600, increment_seconds=60)
    give_credit(alice, 600)
    with clock.frozen(T0):
        d = login(nas)
        hs.account(nas, acct("start", klass=klass(d), framed_ip="10.5.50.7"))
    return nas, alice, klass(d)


def session():
    return HotspotSession.objects.get()


# --- decisions ----------------------------------------------------------------------------
def test_a_top_up_mid_session_queues_a_coa_with_the_new_total_timeout(online):
    nas, alice, cls = online
    with clock.frozen(T0 + dt.timedelta(seconds=120)):
        hs.account(nas, acct("interim", t=120, klass=cls))  # 120 debited, 480 left
        give_credit(alice, 600)
        jobs = hs.credit_changed(alice)
    assert len(jobs) == 1
    job = jobs[0]
    assert job.kind == "coa" and job.reason == "topup" and job.state == "pending"
    # 480 + 600 left after 120 s: the session may last 1200 s from its start
    assert job.session_timeout == 1200
    s = session()
    assert s.decided_credit == 1200 and s.decided_timeout == 1200
    # telling it again changes nothing: the decision already counts that credit
    with clock.frozen(T0 + dt.timedelta(seconds=121)):
        assert hs.credit_changed(alice) == []


def test_credit_changed_takes_a_customer_its_id_or_its_ledger_account(online):
    nas, alice, cls = online
    give_credit(alice, 60)
    assert len(hs.credit_changed(alice.credit_account)) == 1
    give_credit(alice, 60)
    assert len(hs.credit_changed(alice.pk)) == 1
    # the second one replaced the first, which had not been sent yet
    states = sorted(CoaJob.objects.values_list("state", flat=True))
    assert states == ["pending", "superseded"]


def test_nothing_is_queued_for_customers_who_are_not_online(db, make_customer):
    bob = make_customer("bob", password="bob-secret-12")
    give_credit(bob, 500)
    assert hs.credit_changed(bob) == []


def test_worker_disconnects_when_the_credit_runs_out(online):
    nas, alice, cls = online
    with clock.frozen(T0 + dt.timedelta(seconds=300)):
        hs.account(nas, acct("interim", t=300, klass=cls))
        assert hs.review_sessions() == 0  # 300 of 600 used: nothing to do
        assert not CoaJob.objects.exists()
    with clock.frozen(T0 + dt.timedelta(seconds=629)):
        assert hs.review_sessions() == 0  # the gateway's own timeout may still come
    with clock.frozen(T0 + dt.timedelta(seconds=631)):
        # no interim since 300 s, but 601 s online cost more than the 600 credit
        assert hs.review_sessions() == 1
        assert hs.review_sessions() == 0  # one Disconnect, not one per run
    job = CoaJob.objects.get()
    assert (job.kind, job.reason, job.state) == ("disconnect", "credit", "pending")


def test_worker_disconnects_when_the_validity_ends(db, alice):
    nas = make_nas(vendor="coovachilli")
    make_plan(price_per_hour=0, validity_seconds=3600)
    with clock.frozen(T0):
        d = login(nas)
        hs.account(nas, acct("start", klass=klass(d)))
    with clock.frozen(T0 + dt.timedelta(minutes=59)):
        assert hs.review_sessions() == 0
    with clock.frozen(T0 + dt.timedelta(minutes=61)):
        assert hs.review_sessions() == 1
    assert CoaJob.objects.get().reason == "validity"


def test_worker_catches_a_top_up_no_door_reported(online):
    nas, alice, cls = online
    with clock.frozen(T0 + dt.timedelta(seconds=60)):
        assert hs.review_sessions() == 0  # first look: remembers the credit
        accounts.adjust(OWNER, alice, 300, "silent door")
        assert hs.review_sessions() == 1
    job = CoaJob.objects.get()
    assert (job.kind, job.session_timeout) == ("coa", 900)


def test_a_reduction_is_not_pushed_by_the_worker_but_by_a_door(online):
    nas, alice, cls = online
    with clock.frozen(T0 + dt.timedelta(seconds=60)):
        assert hs.review_sessions() == 0
        accounts.adjust(OWNER, alice, -300, "correction")
        assert hs.review_sessions() == 0  # the run-out check covers less credit
        jobs = hs.credit_changed(alice)
    assert [(j.kind, j.reason, j.session_timeout) for j in jobs] == [("coa", "reduced", 300)]


def test_openNDS_and_pfsense_jobs_are_recorded_as_skipped(db, alice):
    make_plan(price_per_hour=3600)
    give_credit(alice, 600)
    for vendor in ("opennds", "pfsense"):
        nas = make_nas(vendor=vendor)
        d = login(nas, mac="")
        hs.account(nas, acct("start", sid=vendor, klass=klass(d), mac=""))
    assert hs.credit_changed(alice) == []  # the credit each Access-Accept counted on
    give_credit(alice, 100)  # a top-up: each gateway is to be told, neither can be
    hs.credit_changed(alice)
    jobs = list(CoaJob.objects.filter(kind="coa"))
    assert {j.state for j in jobs} == {"skipped"} and len(jobs) == 2
    # run out: one skipped Disconnect each, not one per worker run
    with clock.frozen(T0 + dt.timedelta(hours=1)):
        assert hs.review_sessions() == 2
        assert hs.review_sessions() == 0
    assert CoaJob.objects.filter(kind="disconnect", state="skipped").count() == 2


def test_kick_is_audited_and_refused_for_ended_sessions(online):
    nas, alice, cls = online
    job = hs.kick(session().pk, OWNER)
    assert (job.kind, job.reason, job.requested_by) == ("disconnect", "kick", "test")
    assert AuditLog.objects.filter(action="hotspot.kick").count() == 1
    with pytest.raises(hs.HotspotError):
        hs.kick(session().pk, OWNER)  # already being disconnected
    # once the gateway refused or did not answer, staff may try again
    CoaJob.objects.update(state="failed")
    assert hs.kick(session().pk, OWNER).state == "pending"
    hs.account(nas, acct("stop", t=30, klass=cls))
    with pytest.raises(hs.HotspotError):
        hs.kick(session().pk, OWNER)


# --- sending, answers, back-off -------------------------------------------------------------
def answers(*results):
    seq = list(results)

    def fake(requests, timeout=3.0):
        return [seq.pop(0) for _r in requests]
    return fake


def test_request_attributes_identify_the_session_per_vendor(online):
    nas, alice, cls = online
    give_credit(alice, 60)
    job = hs.credit_changed(alice)[0]
    attrs = dict(coa_jobs.request_attributes(job))
    assert attrs["User-Name"] == "alice" and attrs["Acct-Session-Id"] == "s1"
    assert attrs["Calling-Station-Id"] == "AA:BB:CC:00:00:01"
    assert attrs["Framed-IP-Address"] == "10.5.50.7"
    assert attrs["Session-Timeout"] == 660


def test_a_disconnect_ack_ends_the_session_and_its_stop_still_debits(online, monkeypatch):
    """The gateway acknowledged the kick: the session is over at once (not online, not
    kicked again, no CoA for a later top-up, the device free for a new login); the Stop
    the gateway sends afterwards still debits the last usage."""
    nas, alice, cls = online
    hs.kick(session().pk, OWNER)
    monkeypatch.setattr(coa_sender, "send", answers(coa_sender.Answer("ack")))
    assert coa_jobs.send_due() == 1
    s = session()
    assert (s.status, s.terminate_cause) == ("closed", "Admin-Reset")
    assert s.stopped_at == T0 + dt.timedelta(seconds=60)
    assert not hs.open_sessions()
    with pytest.raises(hs.HotspotError):
        hs.kick(s.pk, OWNER)
    give_credit(alice, 100)
    assert hs.credit_changed(alice) == []
    r = hs.account(nas, acct("stop", t=90, klass=cls))
    assert r.debit == 120 and r.session.status == "closed"  # 2 started minutes
    assert accounts.balance(alice) == 600 + 100 - 120


def test_a_disconnect_for_used_up_credit_ends_the_session_when_acked(online, monkeypatch):
    nas, alice, cls = online
    monkeypatch.setattr(coa_sender, "send", answers(coa_sender.Answer("ack")))
    with clock.frozen(T0 + dt.timedelta(seconds=631)):
        assert hs.review_sessions() == 1  # 601 s online cost more than the 600 credit
        assert coa_jobs.send_due() == 1
        assert hs.review_sessions() == 0
    s = session()
    assert (s.status, s.terminate_cause) == ("closed", "Disconnected")


def test_ack_is_recorded(online, monkeypatch):
    nas, alice, cls = online
    hs.kick(session().pk, OWNER)
    monkeypatch.setattr(coa_sender, "send", answers(coa_sender.Answer("ack")))
    assert coa_jobs.send_due() == 1
    job = CoaJob.objects.get()
    assert (job.state, job.attempts, job.last_answer) == ("acked", 1, "ack")
    assert coa_jobs.send_due() == 0


def test_timeouts_back_off_then_fail(online, monkeypatch):
    nas, alice, cls = online
    with clock.frozen(T0):
        hs.kick(session().pk, OWNER)
    monkeypatch.setattr(coa_sender, "send", lambda reqs, timeout=3.0: [
        coa_sender.Answer("timeout")] * len(reqs))
    now = T0
    waits = []
    for _attempt in range(coa_jobs.MAX_ATTEMPTS):
        with clock.frozen(now):
            assert coa_jobs.send_due() == 1
            assert coa_jobs.send_due() == 0  # not due again yet
        job = CoaJob.objects.get()
        waits.append(int((job.next_try_at - now).total_seconds()))
        now = job.next_try_at
    assert job.state == "failed" and job.attempts == coa_jobs.MAX_ATTEMPTS
    assert waits[:-1] == list(coa_jobs.BACKOFF)


def test_a_claimed_job_is_sent_by_one_worker_only(online):
    nas, alice, cls = online
    hs.kick(session().pk, OWNER)
    first = coa_jobs.claim_due()
    assert len(first) == 1 and coa_jobs.claim_due() == []
    # a worker that died mid-send leaves a lease; after it the job is free again
    with clock.frozen(T0 + dt.timedelta(seconds=61) + coa_jobs.LEASE):
        again = coa_jobs.claim_due()
    assert len(again) == 1 and again[0].attempts == 2


def test_nak_session_not_found_closes_our_session(online, monkeypatch):
    nas, alice, cls = online
    hs.kick(session().pk, OWNER)
    monkeypatch.setattr(coa_sender, "send", answers(coa_sender.Answer("nak", 503)))
    coa_jobs.send_due()
    job = CoaJob.objects.get()
    assert (job.state, job.error_cause) == ("naked", 503)
    assert session().status == "stale" and session().terminate_cause == "Not-On-NAS"


def test_a_refused_coa_that_shortens_falls_back_to_disconnect(online, monkeypatch):
    nas, alice, cls = online
    hs.review_sessions()
    accounts.adjust(OWNER, alice, -300, "correction")
    hs.credit_changed(alice)
    monkeypatch.setattr(coa_sender, "send", answers(coa_sender.Answer("nak", 401)))
    coa_jobs.send_due()
    kinds = list(CoaJob.objects.order_by("pk").values_list("kind", "state", "reason"))
    assert kinds == [("coa", "naked", "reduced"), ("disconnect", "pending", "fallback")]


def test_a_refused_coa_that_extends_does_not_cut_the_customer_off(online, monkeypatch):
    nas, alice, cls = online
    give_credit(alice, 600)
    hs.credit_changed(alice)
    monkeypatch.setattr(coa_sender, "send", answers(coa_sender.Answer("nak", 401)))
    coa_jobs.send_due()
    assert list(CoaJob.objects.values_list("kind", "state")) == [("coa", "naked")]
    assert session().status == "open"


def test_a_job_for_a_session_that_stopped_meanwhile_is_not_sent(online, monkeypatch):
    nas, alice, cls = online
    hs.kick(session().pk, OWNER)
    hs.account(nas, acct("stop", t=30, klass=cls))
    monkeypatch.setattr(coa_sender, "send", answers())
    coa_jobs.send_due()
    assert CoaJob.objects.get().state == "superseded"


def test_a_nas_given_as_a_network_needs_a_coa_address(db):
    net = make_nas(address="10.0.0.0/24")
    assert coa_jobs.destination(net) is None
    net.coa_address = "10.0.0.1"
    assert coa_jobs.destination(net) == "10.0.0.1"
    assert coa_jobs.destination(make_nas(address="192.0.2.9")) == "192.0.2.9"


def test_the_worker_runs_the_coa_jobs():
    from ficha.core import jobs
    names = dict(jobs.registered())
    assert {"hotspot.review_sessions", "hotspot.send_coa"} <= set(names)


# --- money: the timeout never promises more than the credit buys ------------------------------
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(price=st.integers(1, 50_000), inc=st.sampled_from([1, 30, 60, 300]),
       minimum=st.integers(0, 500), used=st.integers(0, 20_000),
       topup=st.integers(1, 100_000))
def test_coa_timeout_is_exactly_what_the_credit_buys(db, make_customer, price, inc, minimum,
                                                     used, topup):
    HotspotSession.objects.all().delete()
    customer = make_customer()
    nas = make_nas(vendor="generic")
    plan = make_plan(price_per_hour=price, increment_seconds=inc, minimum_charge=minimum)
    accounts.adjust(OWNER, customer, 10_000, "credit")
    d = hs.authorize(nas, hs.AuthRequest(username=customer.username, password="pw-secret-123"))
    if not d.accept:
        return
    hs.account(nas, acct("start", sid=f"h{customer.pk}", user=customer.username,
                         klass=klass(d)))
    hs.account(nas, acct("interim", sid=f"h{customer.pk}", t=used, user=customer.username,
                         klass=klass(d)))
    accounts.adjust(OWNER, customer, topup, "top-up")
    jobs = hs.credit_changed(customer)
    s = HotspotSession.objects.get(customer=customer)
    credit = accounts.balance(customer) + s.debited
    assert s.debited <= 10_000
    if not jobs or jobs[0].kind == "disconnect":
        assert pricing.charge(plan.tariff, used) >= credit or not jobs
        return
    timeout = jobs[0].session_timeout
    assert pricing.charge(plan.tariff, timeout) <= credit
    assert pricing.charge(plan.tariff, timeout + inc) > credit


# --- MAC login ----------------------------------------------------------------------------
@pytest.mark.parametrize("spelling", ["AA:BB:CC:00:00:01", "aa-bb-cc-00-00-01",
                                      "aabb.cc00.0001", "AABBCC000001"])
def test_a_returning_device_logs_in_by_mac_when_the_plan_allows(online, spelling):
    nas, alice, cls = online
    hs.account(nas, acct("stop", t=60, klass=cls))
    plan = session().plan
    by_mac = hs.AuthRequest(username=spelling, password="", mac="AA:BB:CC:00:00:01")
    assert not hs.authorize(nas, by_mac).accept  # off by default
    hs.update_plan(OWNER, plan, mac_login=True)
    d = hs.authorize(nas, by_mac)
    assert d.accept and d.customer == alice
    assert dict(d.attributes)["Session-Timeout"] == 540  # alice's credit, not a new one


def test_mac_login_needs_a_known_mac_matching_the_calling_station(online):
    nas, alice, cls = online
    hs.update_plan(OWNER, session().plan, mac_login=True)
    other = hs.AuthRequest(username="AA:BB:CC:00:00:09", password="", mac="AA:BB:CC:00:00:09")
    assert not hs.authorize(nas, other).accept  # never seen
    spoof = hs.AuthRequest(username="AA:BB:CC:00:00:01", password="", mac="AA:BB:CC:00:00:09")
    assert not hs.authorize(nas, spoof).accept  # User-Name is not the device's MAC
    accounts.adjust(OWNER, alice, -accounts.balance(alice), "empty")
    mine = hs.AuthRequest(username="AA:BB:CC:00:00:01", password="", mac="AA:BB:CC:00:00:01")
    d = hs.authorize(nas, mine)
    assert not d.accept and d.reason == "credit"


def test_the_ledger_hook_costs_no_query_for_customers_who_are_not_online(
        online, make_customer, django_assert_num_queries, django_capture_on_commit_callbacks):
    nas, alice, cls = online
    bob = make_customer("bob", password="bob-secret-12")
    coa_jobs.forget_online()
    coa_jobs.online_credit_accounts()
    with django_assert_num_queries(0):
        coa_jobs.on_ledger_posted("deposit", [bob.credit_account_id])
    with django_capture_on_commit_callbacks(execute=True):
        give_credit(alice, 60)  # alice is online: her gateway is told
    assert CoaJob.objects.get().session_timeout == 660


def test_a_review_with_nothing_to_do_reads_twice_and_writes_nothing(
        online, make_customer, django_assert_num_queries):
    nas, alice, cls = online
    for n in range(3):
        c = make_customer(f"c{n}", password="pw-secret-123")
        give_credit(c, 600)
        hs.account(nas, acct("start", sid=f"x{n}", user=c.username))
    assert hs.review_sessions() == 0  # first look: baselines written
    with django_assert_num_queries(2):  # the sessions, their balances: no transaction
        assert hs.review_sessions() == 0


def test_a_nak_resources_unavailable_is_retried(online, monkeypatch):
    nas, alice, cls = online
    hs.kick(session().pk, OWNER)
    monkeypatch.setattr(coa_sender, "send", answers(coa_sender.Answer("nak", 506),
                                                    coa_sender.Answer("ack")))
    coa_jobs.send_due()
    job = CoaJob.objects.get()
    assert (job.state, job.error_cause, job.attempts) == ("pending", 506, 1)
    with clock.frozen(job.next_try_at):
        coa_jobs.send_due()
    job.refresh_from_db()
    assert (job.state, job.attempts) == ("acked", 2)


def test_credit_changed_hands_its_jobs_to_the_sender(online, monkeypatch):
    nas, alice, cls = online
    handed = []
    monkeypatch.setattr(coa_jobs, "send_soon", handed.append)
    give_credit(alice, 60)
    jobs = hs.credit_changed(alice)
    assert handed == [jobs] and len(jobs) == 1
    assert hs.credit_changed(alice) == []  # nothing new to tell


# --- races a new user met (helper walk-through) ---------------------------------------------
def test_a_top_up_while_the_run_out_disconnect_waits_cancels_it_and_sends_a_coa(online):
    """The gateway did not answer the run-out Disconnect yet; the customer tops up: the
    Disconnect is void (not sent later), the gateway gets the new Session-Timeout."""
    nas, alice, cls = online
    with clock.frozen(T0 + dt.timedelta(seconds=631)):
        hs.account(nas, acct("interim", t=631, klass=cls))
        assert hs.review_sessions() == 1
        give_credit(alice, 600)
        jobs = hs.credit_changed(alice)
    assert [(j.kind, j.reason) for j in jobs] == [("coa", "topup")]
    states = dict(CoaJob.objects.values_list("kind", "state"))
    assert states == {"disconnect": "superseded", "coa": "pending"}


def test_an_unanswered_coa_is_not_sent_again_after_a_newer_one(online, monkeypatch):
    """Two top-ups: the first CoA times out while the second is queued; retrying the
    first would give the gateway the shorter Session-Timeout back."""
    nas, alice, cls = online
    give_credit(alice, 600)
    first = hs.credit_changed(alice)[0]
    claimed = coa_jobs.claim_due()  # being sent (no answer yet)
    assert [j.pk for j in claimed] == [first.pk]
    give_credit(alice, 600)
    second = hs.credit_changed(alice)[0]
    assert second.session_timeout > first.session_timeout
    coa_jobs.record(claimed[0], coa_sender.Answer("timeout"))  # the first one's answer
    first.refresh_from_db()
    assert first.state == "superseded"
    monkeypatch.setattr(coa_sender, "send", answers(coa_sender.Answer("ack")))
    with clock.frozen(T0 + dt.timedelta(hours=1)):
        assert coa_jobs.send_due() == 1
    assert dict(CoaJob.objects.values_list("pk", "state")) == {
        first.pk: "superseded", second.pk: "acked"}


def test_a_refused_run_out_disconnect_is_asked_again_later(online, monkeypatch):
    """Expiry that really ends live sessions: a gateway that refused (or never answered)
    the Disconnect is asked again after a few minutes while the session goes on."""
    nas, alice, cls = online
    monkeypatch.setattr(coa_sender, "send", answers(coa_sender.Answer("nak", 404)))
    at = T0 + dt.timedelta(seconds=700)
    with clock.frozen(at):
        hs.account(nas, acct("interim", t=700, klass=cls))
        assert hs.review_sessions() == 1
        coa_jobs.send_due()
    with clock.frozen(at + dt.timedelta(minutes=1)):
        assert hs.review_sessions() == 0  # refused just now: not at every worker run
    with clock.frozen(at + hs.coa.DISCONNECT_AGAIN_AFTER + dt.timedelta(seconds=1)):
        assert hs.review_sessions() == 1
    states = list(CoaJob.objects.order_by("pk").values_list("kind", "state"))
    assert states == [("disconnect", "naked"), ("disconnect", "pending")]
    alert = Alert.objects.get(kind="gateway")  # the owner is told
    assert "refused it (Error-Cause 404)" in alert.message and "alice" in alert.message


def test_a_top_up_between_the_access_accept_and_the_start_reaches_the_gateway(db, alice):
    """The Access-Accept gave 600 s for 600; a recharge lands before the Start (the
    ledger hook does not know the session yet): the worker's first look sees the credit
    differs from what the Access-Accept counted on (its Class says) and sends a CoA."""
    nas = make_nas(vendor="mikrotik")
    make_plan(price_per_hour=3600, increment_seconds=60)
    give_credit(alice, 600)
    with clock.frozen(T0):
        d = login(nas)
        assert d.session_timeout == 600
        give_credit(alice, 600)
        hs.account(nas, acct("start", klass=klass(d)))
    with clock.frozen(T0 + dt.timedelta(seconds=30)):
        assert hs.review_sessions() == 1
    job = CoaJob.objects.get()
    assert (job.kind, job.reason, job.session_timeout) == ("coa", "topup", 1200)
