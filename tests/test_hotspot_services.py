"""Hotspot decisions as plain functions: who gets on, for how long, and what is debited."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ficha.accounts import services as accounts
from ficha.core import audit, clock, codes
from ficha.core.models import Alert
from ficha.hotspot import services as hs
from ficha.hotspot.models import AccountingRecord, HotspotSession, Nas, UnknownSource
from ficha.recharges import services as rs
from ficha.recharges.models import Recharge, RedeemAttempt
from ficha.tariffs import pricing

from .hotspot_support import acct, give_credit, hotspot_revenue, ledger_sum, make_nas, make_plan

T0 = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)


def pap(username, password, mac="AA:BB:CC:00:00:01"):
    return hs.AuthRequest(username=username, password=password, mac=mac)


def chap(username, secret, chap_id=7, challenge=b"0123456789abcdef", mac="AA:BB:CC:00:00:01"):
    response = hashlib.md5(bytes([chap_id]) + secret.encode() + challenge).digest()
    return hs.AuthRequest(username=username, chap_id=chap_id, chap_response=response,
                          chap_challenge=challenge, mac=mac)


def attrs(decision) -> dict:
    out = {}
    for name, value in decision.attributes:
        out.setdefault(name, value)
    return out


@pytest.fixture
def alice(make_customer):
    return make_customer("alice", password="alice-secret-1")


@pytest.fixture
def sold_code(office, desk):
    def make(amount=1000, **kw):
        batch = rs.generate(office, count=1, amount=amount, **kw)
        row = batch.recharges.get()
        rs.sell(desk, [row])
        return row.code
    return make


# --- authorization ------------------------------------------------------------------------
def test_session_timeout_is_what_the_credit_buys(db, alice):
    nas = make_nas(vendor="generic")
    make_plan(price_per_hour=600, increment_seconds=300, minimum_charge=100,
              idle_timeout=600, interim_interval=90)
    give_credit(alice, 1000)
    d = hs.authorize(nas, pap("alice", "alice-secret-1"))
    assert d.accept, d.message
    a = attrs(d)
    assert a["Session-Timeout"] == 6000  # 1000 at 600 an hour
    assert a["Idle-Timeout"] == 600
    assert a["Acct-Interim-Interval"] == 90
    assert hs.parse_class(a["Class"]) == (alice.pk, d.plan.pk)


def test_increment_and_minimum_shape_the_timeout(db, alice):
    nas = make_nas(vendor="generic")
    make_plan(price_per_hour=500, increment_seconds=300, minimum_charge=100)
    give_credit(alice, 1040)
    d = hs.authorize(nas, pap("alice", "alice-secret-1"))
    assert d.session_timeout == 7200  # 7500 s would cost 1042
    assert pricing.charge(d.plan.tariff, d.session_timeout) <= 1040
    accounts.adjust(hs_actor(), alice, -1040 + 99, "spend")  # 99 left: below the minimum
    d = hs.authorize(nas, pap("alice", "alice-secret-1"))
    assert not d.accept and d.reason == "credit"
    assert "recharge code" in d.message
    assert attrs(d) == {"Reply-Message": d.message}


def hs_actor():
    return audit.Actor(source="test")


def test_mikrotik_caps_the_timeout_and_gets_its_own_attributes(db, alice):
    nas = make_nas(vendor="mikrotik")
    make_plan(price_per_hour=1, rate_up_kbps=512, rate_down_kbps=2048,
              quota_bytes=5 * 2**32 + 7)
    give_credit(alice, 10**9)
    a = attrs(hs.authorize(nas, pap("alice", "alice-secret-1")))
    assert a["Session-Timeout"] == hs.MIKROTIK_MAX_TIMEOUT
    assert a["Mikrotik-Rate-Limit"] == "512k/2048k"  # rx (client upload) / tx
    assert a["Mikrotik-Total-Limit"] == 7 and a["Mikrotik-Total-Limit-Gigawords"] == 5
    assert not any(name.startswith("WISPr") for name in a)


def test_coovachilli_gets_wispr_bandwidth_and_chillispot_quota(db, alice):
    nas = make_nas(vendor="coovachilli")
    make_plan(price_per_hour=600, price_per_mb=2, rate_up_kbps=256, rate_down_kbps=1024)
    give_credit(alice, 100)
    d = hs.authorize(nas, pap("alice", "alice-secret-1"))
    a = attrs(d)
    assert a["WISPr-Bandwidth-Max-Up"] == 256_000  # bit/s
    assert a["WISPr-Bandwidth-Max-Down"] == 1_024_000
    # 100 buys 50 MB (a little more before rounding up): the quota is what credit buys
    assert a["ChilliSpot-Max-Total-Octets"] == pricing.octets_for(d.plan.tariff, 100)
    assert 50_000_000 <= a["ChilliSpot-Max-Total-Octets"] < 50_300_000
    assert "Mikrotik-Rate-Limit" not in a
    assert a["Session-Timeout"] == 600


def test_validity_from_first_login_caps_and_then_ends_access(db, alice):
    nas = make_nas(vendor="coovachilli")
    make_plan(price_per_hour=60, validity_seconds=3600)
    with clock.frozen(T0 - dt.timedelta(minutes=1)):
        give_credit(alice, 10_000)
    with clock.frozen(T0):
        a = attrs(hs.authorize(nas, pap("alice", "alice-secret-1")))
        assert a["Session-Timeout"] == 3600
        assert a["WISPr-Session-Terminate-Time"] == "2026-12-01T11:00:00+00:00"
    with clock.frozen(T0 + dt.timedelta(minutes=45)):
        assert attrs(hs.authorize(nas, pap("alice", "alice-secret-1")))[
            "Session-Timeout"] == 900
    with clock.frozen(T0 + dt.timedelta(hours=1)):
        d = hs.authorize(nas, pap("alice", "alice-secret-1"))
        assert not d.accept and d.reason == "expired"
    # a plan without a minimum charge: a recharge after the end starts a new period
    with clock.frozen(T0 + dt.timedelta(hours=3)):
        give_credit(alice, 100)
    with clock.frozen(T0 + dt.timedelta(hours=4)):
        a = attrs(hs.authorize(nas, pap("alice", "alice-secret-1")))
        assert a["Session-Timeout"] == 3600
        assert a["WISPr-Session-Terminate-Time"] == "2026-12-01T15:00:00+00:00"


def test_a_24_hour_pass_sold_as_a_code_is_paid_once_per_period(db, sold_code):
    """Price 0 an hour, minimum 500, valid 24 h: a code of 500 buys a day of Wi-Fi, not
    its first session — reconnecting within the day costs nothing and the gateway is
    given the rest of the day; after the day a new code buys a new one."""
    from ficha.accounts import services as accounts

    nas = make_nas(vendor="coovachilli")
    make_plan(name="Day pass", price_per_hour=0, minimum_charge=500, validity_seconds=86400)
    with clock.frozen(T0 - dt.timedelta(minutes=5)):
        code = sold_code(500)
    with clock.frozen(T0):
        d = hs.authorize(nas, pap(code, code))
        assert d.accept and attrs(d)["Session-Timeout"] == 86400
        customer = d.customer
        hs.account(nas, acct("start", sid="a", user=code))
    with clock.frozen(T0 + dt.timedelta(minutes=10)):
        assert hs.account(nas, acct("stop", sid="a", t=600, user=code)).debit == 500
    assert accounts.balance(customer) == 0
    with clock.frozen(T0 + dt.timedelta(hours=2)):
        assert hs.status(customer).remaining_seconds == 22 * 3600  # offline, on the portal
        d = hs.authorize(nas, pap(code, code))
        assert d.accept, d.message
        assert attrs(d)["Session-Timeout"] == 22 * 3600  # the rest of the day
        hs.account(nas, acct("start", sid="b", user=code))
    with clock.frozen(T0 + dt.timedelta(hours=5)):
        second = hs.account(nas, acct("stop", sid="b", t=3 * 3600, user=code))
        assert second.debit == 0 and second.session.pass_paid
    assert accounts.balance(customer) == 0
    with clock.frozen(T0 + dt.timedelta(hours=25)):
        d = hs.authorize(nas, pap(code, code))
        assert not d.accept and d.reason == "expired"
        give_credit(customer, 500)  # a new pass bought at the counter
    with clock.frozen(T0 + dt.timedelta(hours=26)):
        d = hs.authorize(nas, pap(code, code))
        assert d.accept and attrs(d)["Session-Timeout"] == 86400
        hs.account(nas, acct("start", sid="c", user=code))
    with clock.frozen(T0 + dt.timedelta(hours=27)):
        third = hs.account(nas, acct("stop", sid="c", t=3600, user=code))
        assert third.debit == 500 and not third.session.pass_paid  # the new day's price
    assert accounts.balance(customer) == 0


def test_wrong_password_is_rejected_and_throttled(db, alice):
    nas = make_nas()
    make_plan()
    give_credit(alice, 1000)
    mac = "AA:BB:CC:00:00:09"
    for _ in range(3):
        d = hs.authorize(nas, pap("alice", "nope", mac=mac))
        assert not d.accept and d.reason == "password"
    # later guesses from that device must wait
    for _ in range(3):
        d = hs.authorize(nas, pap("alice", "nope", mac=mac))
    assert d.reason.startswith("throttled:") and "Wait" in d.message
    # guessing names from another device costs the same
    for _ in range(6):
        d = hs.authorize(nas, pap("nobody", "x", mac="AA:BB:CC:00:00:10"))
    assert not d.accept and d.reason.startswith("throttled:")


def test_reject_message_is_in_the_nas_language(db, alice):
    from django.utils import translation
    from django.utils.translation import gettext

    nas = make_nas(language="fr")
    make_plan()
    d = hs.authorize(nas, pap("alice", "wrong"))
    with translation.override("fr"):
        french = gettext("Wrong username or password.")
    assert french != "Wrong username or password."
    assert not d.accept and d.message == french
    assert translation.get_language() == "en"  # the request's language is left alone


def test_chap_needs_a_ticket_for_password_accounts(db, alice):
    nas = make_nas()
    make_plan()
    give_credit(alice, 1000)
    assert not hs.authorize(nas, chap("alice", "alice-secret-1")).accept  # never stored
    ticket = hs.issue_ticket(alice)
    assert hs.authorize(nas, chap("alice", ticket.secret)).accept
    assert not hs.authorize(nas, chap("alice", ticket.secret)).accept  # one time only
    ticket = hs.issue_ticket(alice)
    with clock.frozen(clock.now() + dt.timedelta(seconds=hs.TICKET_SECONDS + 1)):
        assert not hs.authorize(nas, pap("alice", ticket.secret)).accept  # expired


def test_chap_with_a_real_password_says_so_and_is_not_counted_as_a_guess(db, alice):
    """A gateway left on CHAP with its own login page: every password customer is refused
    (nothing readable is stored), told where to log in, and not throttled for it — their
    PAP login right after still works."""
    nas = make_nas()
    make_plan()
    give_credit(alice, 1000)
    for n in range(8):
        d = hs.authorize(nas, chap("alice", "alice-secret-1", mac=f"AA:BB:CC:00:03:{n:02X}"))
        assert not d.accept and d.reason == "chap"
        assert "login page" in d.message and "recharge code" in d.message
    nobody = hs.authorize(nas, chap("nobody", "whatever"))  # the same answer for any name
    assert (nobody.reason, nobody.message) == (d.reason, d.message)
    assert hs.authorize(nas, pap("alice", "alice-secret-1", mac="AA:BB:CC:00:03:FF")).accept


def test_a_code_alone_opens_an_account_through_redemption(db, sold_code):
    nas = make_nas(vendor="mikrotik")
    make_plan(price_per_hour=600)
    code = sold_code(1000)
    d = hs.authorize(nas, chap(code, code))
    assert d.accept, d.message
    assert d.customer.username == code and accounts.balance(d.customer) == 1000
    assert attrs(d)["Session-Timeout"] == 6000
    # the same code logs in again (PAP, empty password, grouped) without crediting twice
    again = hs.authorize(nas, pap(codes.group(code), ""))
    assert again.accept and again.customer == d.customer
    assert accounts.balance(d.customer) == 1000
    assert RedeemAttempt.objects.filter(door="hotspot", mac="aa:bb:cc:00:00:01").count() == 2


def test_wrong_and_unsold_codes_are_refused_throttled_and_alerted(db, office, sold_code):
    nas = make_nas()
    make_plan()
    unsold = rs.generate(office, count=1, amount=500).recharges.get().code
    d = hs.authorize(nas, pap(unsold, unsold, mac="AA:BB:CC:00:00:77"))
    assert not d.accept and d.reason == "code:invalid"
    alert = Alert.objects.get()
    assert "aa:bb:cc:00:00:77" in alert.message and "hotspot" in alert.message
    for _ in range(5):
        guess = codes.random_code(len(unsold), codes.damm_valid(unsold))
        d = hs.authorize(nas, pap(guess, "", mac="AA:BB:CC:00:00:77"))
    assert d.reason == "code:throttled"
    # another device is not locked out by that one's guesses
    code = sold_code(500)
    assert hs.authorize(nas, pap(code, code, mac="AA:BB:CC:00:00:78")).accept


def test_code_with_a_wrong_chap_secret_is_not_redeemed(db, sold_code):
    nas = make_nas()
    make_plan()
    code = sold_code(500)
    d = hs.authorize(nas, chap(code, "something-else"))
    assert not d.accept
    assert Recharge.objects.get(code=code).status == Recharge.Status.SOLD


def test_simultaneous_devices(db, alice):
    nas = make_nas()
    make_plan(devices=1)
    give_credit(alice, 1000)
    assert hs.authorize(nas, pap("alice", "alice-secret-1", mac="AA:00:00:00:00:01")).accept
    hs.account(nas, acct("start", user="alice", mac="AA:00:00:00:00:01"))
    d = hs.authorize(nas, pap("alice", "alice-secret-1", mac="AA:00:00:00:00:02"))
    assert not d.accept and d.reason == "devices"
    # the same device may log in again
    assert hs.authorize(nas, pap("alice", "alice-secret-1", mac="aa-00-00-00-00-01")).accept


def test_disabled_customer_and_no_plan(db, alice):
    nas = make_nas()
    give_credit(alice, 1000)
    d = hs.authorize(nas, pap("alice", "alice-secret-1"))
    assert not d.accept and d.reason == "plan"
    make_plan()
    accounts.set_customer_status(hs_actor(), alice, False)
    d = hs.authorize(nas, pap("alice", "alice-secret-1"))
    assert not d.accept and d.reason == "disabled"


def test_price_group_plan_and_account_override(db, make_customer):
    default = make_plan(name="Guest", price_per_hour=600)
    members = make_plan(name="Members", price_per_hour=300, price_group="member",
                        is_default=False)
    vip = make_plan(name="VIP", price_per_hour=0, is_default=False)
    bob = make_customer("bob", price_group="member")
    carl = make_customer("carl")
    assert hs.plan_for(bob) == members
    assert hs.plan_for(carl) == default
    hs.set_customer_plan(hs_actor(), carl, vip)
    assert hs.plan_for(carl, carl.hotspot) == vip


# --- accounting ---------------------------------------------------------------------------
@pytest.fixture
def online(db, alice):
    """alice accepted on a MikroTik at 3600 an hour, billed per minute, 10 000 credit."""
    nas = make_nas(vendor="mikrotik")
    make_plan(price_per_hour=3600, increment_seconds=60)
    give_credit(alice, 10_000)
    d = hs.authorize(nas, pap("alice", "alice-secret-1"))
    assert d.accept
    return nas, alice, attrs(d)["Class"]


def test_interims_debit_the_usage_since_the_last_record(online):
    nas, alice, cls = online
    assert hs.account(nas, acct("start", klass=cls)).debit == 0
    assert hs.account(nas, acct("interim", t=61, klass=cls)).debit == 120  # 2 minutes
    assert hs.account(nas, acct("interim", t=120, klass=cls)).debit == 0
    r = hs.account(nas, acct("stop", t=300, klass=cls, terminate_cause="User-Request"))
    assert r.debit == 180
    s = r.session
    assert (s.status, s.charged, s.debited, s.terminate_cause) == ("closed", 300, 300,
                                                                    "User-Request")
    assert accounts.balance(alice) == 10_000 - 300
    assert hotspot_revenue() == 300
    assert ledger_sum() == 0


def test_retransmits_duplicates_and_reordering_never_debit_twice(online):
    nas, alice, cls = online
    seq = [acct("start", klass=cls), acct("interim", t=600, i=10, o=20, klass=cls),
           acct("interim", t=600, i=10, o=20, klass=cls),  # retransmit
           acct("interim", t=1200, klass=cls, i=30, o=40),
           acct("interim", t=900, klass=cls, i=20, o=30),  # late, older
           acct("stop", t=1500, klass=cls, i=40, o=50),
           acct("stop", t=1500, klass=cls, i=40, o=50),  # retransmit
           acct("interim", t=1320, klass=cls, i=35, o=45)]  # after the Stop, older
    results = [hs.account(nas, r) for r in seq]
    assert [r.duplicate for r in results] == [False, False, True, False, False, False, True,
                                              False]
    assert sum(r.debit for r in results) == 1500
    assert accounts.balance(alice) == 10_000 - 1500
    session = HotspotSession.objects.get()
    assert session.status == "closed" and session.session_time == 1500
    assert AccountingRecord.objects.count() == 6


def test_stop_without_start_debits_the_whole_session(online):
    nas, alice, cls = online
    with clock.frozen(T0):
        r = hs.account(nas, acct("stop", sid="lost-start", t=3600, klass=cls))
    assert r.debit == 3600 and r.session.status == "closed"
    assert accounts.balance(alice) == 6400
    # the console shows when it began: an hour before the Stop, not at it
    session = HotspotSession.objects.get(pk=r.session.pk)
    assert (session.started_at, session.stopped_at) == (T0 - dt.timedelta(hours=1), T0)


def test_a_gateways_minus_one_session_time_is_refused_not_charged(online):
    nas, alice, cls = online
    hs.account(nas, acct("start", sid="s9", klass=cls))
    for status in ("interim", "stop"):  # 2**32 - 1: a signed -1
        with pytest.raises(hs.AccountingError, match="Acct-Session-Time"):
            hs.account(nas, acct(status, sid="s9", t=4_294_967_295, klass=cls))
        with pytest.raises(hs.AccountingError):  # and without a Start
            hs.account(nas, acct(status, sid="no-start", t=2**31, klass=cls))
    assert accounts.balance(alice) == 10_000
    assert hs.account(nas, acct("stop", sid="s9", t=60, klass=cls)).debit == 60


def test_a_session_without_start_began_no_earlier_than_its_customer(db, make_customer):
    nas = make_nas()
    make_plan(price_per_hour=3600, increment_seconds=1)
    with clock.frozen(T0 - dt.timedelta(minutes=10)):
        dave = make_customer("dave")
    give_credit(dave, 100_000)
    with clock.frozen(T0):  # a gateway reporting 30 days for a 10-minute-old account
        r = hs.account(nas, acct("interim", sid="d1", user="dave", t=30 * 86400))
    assert r.session.started_at == T0 - dt.timedelta(minutes=10)


def test_gigawords_count_past_four_gibibytes(db, alice):
    nas = make_nas(vendor="generic")
    make_plan(price_per_hour=0, price_per_mb=1)  # 1 per MB
    give_credit(alice, 100_000)
    hs.account(nas, acct("start"))
    r1 = hs.account(nas, acct("interim", t=60, i=4_294_000_000))
    assert r1.debit == 4294
    r2 = hs.account(nas, acct("interim", t=120, i=1_000_000, ig=1))  # wrapped, +Gigawords
    assert r2.session.input_octets == 2**32 + 1_000_000
    assert r1.debit + r2.debit == round((2**32 + 1_000_000) / 1_000_000)
    assert accounts.balance(alice) == 100_000 - 4296


def test_the_balance_never_goes_below_zero_and_the_rest_stays_unpaid(online):
    nas, alice, cls = online
    with clock.frozen(T0):
        hs.account(nas, acct("start", klass=cls))
    with clock.frozen(T0 + dt.timedelta(hours=4)):  # 14 400 owed, 10 000 there
        r = hs.account(nas, acct("stop", t=4 * 3600, klass=cls))
        assert r.debit == 10_000 and accounts.balance(alice) == 0
        assert r.session.unpaid == 4_400
        give_credit(alice, 5_000)  # a late record for the session takes what was owed
        r = hs.account(nas, acct("interim", t=4 * 3600 + 1, klass=cls))
        assert r.debit == 4_460 and accounts.balance(alice) == 540


def test_a_session_time_beyond_what_the_session_can_have_lasted_is_not_charged(online):
    nas, alice, cls = online
    with clock.frozen(T0):
        hs.account(nas, acct("start", klass=cls))
    with clock.frozen(T0 + dt.timedelta(minutes=10)):  # a gateway reporting 3 hours
        r = hs.account(nas, acct("interim", t=3 * 3600, klass=cls))
    # charged for what the session can have lasted (10 min, plus an hour for a Start
    # that reached us late), not for 3 hours
    assert r.debit == 4_200 and r.session.session_time == 70 * 60
    with clock.frozen(T0 + dt.timedelta(hours=3)):  # later, the same counter is real
        r = hs.account(nas, acct("stop", t=3 * 3600, klass=cls))
    assert accounts.balance(alice) == 10_000 - 10_000  # 3 h = 10 800, all it had


def test_accounting_without_class_finds_the_customer_by_name(db, alice):
    nas = make_nas()
    make_plan(price_per_hour=3600)
    give_credit(alice, 1000)
    r = hs.account(nas, acct("stop", t=100))
    assert r.session.customer == alice and r.debit == 120


def test_unknown_user_accounting_is_recorded_without_money(db):
    nas = make_nas()
    make_plan()
    r = hs.account(nas, acct("stop", user="ghost", t=100))
    assert r.session.customer is None and r.debit == 0 and ledger_sum() == 0


def test_coovachilli_octets_are_swapped_to_the_clients_view(db, alice):
    nas = make_nas(vendor="coovachilli")
    make_plan()
    r = hs.account(nas, acct("interim", t=60, i=100, o=5))
    assert (r.session.input_octets, r.session.output_octets) == (5, 100)


def test_accounting_on_closes_the_nas_sessions(online):
    nas, alice, cls = online
    hs.account(nas, acct("start", klass=cls))
    r = hs.account(nas, hs.AcctRequest(status="on"))
    assert r.closed == 1 and HotspotSession.objects.get().status == "stale"


def test_a_session_closed_without_a_stop_opens_again_when_the_gateway_reports_it(online):
    """Closed by an Accounting-On (or as stale) while the gateway still had it: its next
    Interim opens it again, so the run-out check and the device count see it; its Stop
    ends it with the gateway's own cause; a late copy of an older record changes nothing."""
    nas, alice, cls = online
    with clock.frozen(T0):
        hs.account(nas, acct("start", klass=cls))
        hs.account(nas, hs.AcctRequest(status="on"))
    with clock.frozen(T0 + dt.timedelta(seconds=30)):
        hs.account(nas, acct("start", klass=cls))  # a late copy of its Start: still closed
        assert HotspotSession.objects.get().status == "stale"
    with clock.frozen(T0 + dt.timedelta(minutes=10)):
        r = hs.account(nas, acct("interim", t=600, klass=cls))
    session = HotspotSession.objects.get()
    assert r.debit == 600 and (session.status, session.stopped_at) == ("open", None)
    assert [s.pk for s in hs.open_sessions()] == [session.pk]
    with clock.frozen(T0 + dt.timedelta(minutes=12)):
        hs.account(nas, acct("stop", t=720, klass=cls, terminate_cause="User-Request"))
    session.refresh_from_db()
    assert (session.status, session.terminate_cause, session.charged) == (
        "closed", "User-Request", 720)


def test_worker_closes_stale_sessions(online):
    nas, alice, cls = online
    with clock.frozen(T0):
        hs.account(nas, acct("start", klass=cls))
        hs.account(nas, acct("start", sid="s2", klass=cls))
    with clock.frozen(T0 + dt.timedelta(minutes=20)):
        hs.account(nas, acct("interim", sid="s2", t=60, klass=cls))
        assert hs.close_stale_sessions() == 1  # s1 sent nothing for 20 minutes
    statuses = dict(HotspotSession.objects.values_list("acct_session_id", "status"))
    assert statuses == {"s1": "stale", "s2": "open"}
    from ficha.core import jobs
    assert "hotspot.close_stale_sessions" in dict(jobs.registered())


def test_drop_counters_per_nas_and_unknown_sources(db):
    nas = make_nas()
    hs.record_drops({nas.pk: {hs.DROP_BAD_AUTHENTICATOR: 2, hs.DROP_MISSING_MA: 1}},
                    {"10.9.9.9": 3})
    hs.record_drops({nas.pk: {hs.DROP_MALFORMED: 1}}, {"10.9.9.9": 1})
    nas = Nas.objects.get()
    assert (nas.dropped_bad_authenticator, nas.dropped_missing_authenticator,
            nas.dropped_malformed, nas.dropped) == (2, 1, 1, 4)
    assert UnknownSource.objects.get().dropped == 4


def test_nas_lookup_prefers_the_most_specific_entry(db):
    net = make_nas(name="lan", address="10.0.0.0/24")
    one = make_nas(name="ap", address="10.0.0.7/32")
    table = hs.nas_table()
    assert hs.find_nas(table, "10.0.0.7") == one
    assert hs.find_nas(table, "10.0.0.8") == net
    assert hs.find_nas(table, "::ffff:10.0.0.9") == net
    assert hs.find_nas(table, "10.0.1.1") is None
    assert hs.find_nas(table, "junk") is None
    assert one.address == "10.0.0.7"


@pytest.mark.parametrize("first, second", [
    ("127.0.0.1", "127.0.0.1"), ("127.0.0.1", "127.0.0.1/32"), ("127.0.0.1/32", " 127.0.0.1"),
    ("10.0.0.0/24", "10.0.0.5/24"), ("2001:db8::1", "2001:DB8:0::1/128"),
])
def test_a_second_nas_at_the_same_address_is_refused(db, first, second):
    """Two active NAS at one address: only one would get the packets, the other's would
    fail as a wrong secret. Refused, naming the NAS that has the address."""
    hall = make_nas(name="hall", address=first)
    with pytest.raises(hs.HotspotError) as refused:
        make_nas(name="n3", address=second)
    assert "“hall”" in str(refused.value) and hall.address in str(refused.value)
    assert refused.value.errors == {"address": str(refused.value)}
    assert list(Nas.objects.values_list("name", flat=True)) == ["hall"]


def test_a_nas_cannot_be_changed_to_an_other_nas_address(db):
    hall = make_nas(name="hall", address="127.0.0.1")
    n3 = make_nas(name="n3", address="127.0.0.2", secret="sssssssssss")
    for address in ("127.0.0.1", "127.0.0.1/32"):
        with pytest.raises(hs.HotspotError, match="hall"):
            hs.update_nas(audit.SYSTEM, n3, address=address)
    n3.refresh_from_db()
    assert n3.address == "127.0.0.2"
    # its own address, in any spelling, and any other change: fine
    hs.update_nas(audit.SYSTEM, hall, address="127.0.0.1/32", secret="a-long-shared-secret")
    hs.update_nas(audit.SYSTEM, n3, name="n3", address="127.0.0.2", coa_port=1700)
    assert hs.find_nas(hs.nas_table(), "127.0.0.1") == hall


def test_an_inactive_nas_may_share_an_address_but_not_be_made_active(db):
    """A replaced gateway, switched off, keeps its address; switching it back on while the
    new one is active would bring the clash back."""
    old = make_nas(name="old", address="10.1.1.1")
    hs.update_nas(audit.SYSTEM, old, active=False)
    new = make_nas(name="new", address="10.1.1.1/32")
    assert hs.find_nas(hs.nas_table(), "10.1.1.1") == new
    with pytest.raises(hs.HotspotError, match="new"):
        hs.update_nas(audit.SYSTEM, old, active=True)
    old.refresh_from_db()
    assert old.active is False
    make_nas(name="spare", address="10.1.1.1", active=False)


def test_overlapping_networks_of_different_sizes_are_allowed_the_most_specific_wins(db):
    net = make_nas(name="z-lan", address="10.0.0.0/24")
    wide = make_nas(name="a-wide", address="10.0.0.0/16")
    one = make_nas(name="b-ap", address="10.0.0.7")
    table = hs.nas_table()
    assert [e.nas for e in table] == [one, net, wide]
    assert hs.find_nas(table, "10.0.0.7") == one
    assert hs.find_nas(table, "10.0.0.8") == net
    assert hs.find_nas(table, "10.0.9.9") == wide


def test_a_nas_network_may_be_as_wide_as_a_slash_8_and_no_wider(db):
    assert make_nas(name="corp", address="10.0.0.0/8").address == "10.0.0.0/8"
    # (an IPv6 /32 is a network: it was stored as the one address 2001:db8::)
    assert make_nas(name="v6", address="2001:db8::/32").address == "2001:db8::/32"
    assert make_nas(name="ap", address="2001:db8:1::7/128").address == "2001:db8:1::7"
    assert make_nas(name="ap4", address="192.0.2.7/32").address == "192.0.2.7"
    # an IPv4-mapped IPv6 address is the IPv4 address its packets come from
    assert make_nas(name="mapped", address="::ffff:192.0.2.9").address == "192.0.2.9"
    with pytest.raises(hs.HotspotError):  # every IPv4 address
        make_nas(name="all4", address="::ffff:0.0.0.0/96")
    with pytest.raises(hs.HotspotError) as refused:
        make_nas(name="any", address="0.0.0.0/0")
    assert "too wide" in str(refused.value.errors["address"])


def test_nas_table_breaks_ties_by_id_not_by_name(db):
    """Older data may hold two active NAS at one address: the older one answers, whatever
    the names (the database's order by name once decided)."""
    first = make_nas(name="zz", address="192.0.2.1")
    second = make_nas(name="aa", address="192.0.2.2")
    Nas.objects.filter(pk=second.pk).update(address="192.0.2.1/32")
    assert hs.find_nas(hs.nas_table(), "192.0.2.1") == first


@pytest.mark.parametrize("fields", [
    {"address": "10.0.0.300"}, {"secret": "short"}, {"vendor": "cisco"}, {"name": " "},
    {"coa_port": 70000}, {"language": "klingon"}, {"language": "xx"},
    {"address": "0.0.0.0/0"}, {"address": "10.0.0.0/7"}, {"address": "::/0"},
    {"address": "2001:db8::/31"},
])
def test_bad_nas_settings_are_refused(db, fields):
    with pytest.raises(hs.HotspotError):
        make_nas(**fields)


def test_a_nas_language_is_a_console_language_or_the_venues(db):
    nas = make_nas(language="fr")
    assert nas.language == "fr"
    assert hs.update_nas(audit.SYSTEM, nas, language="").language == ""
    with pytest.raises(hs.HotspotError) as refused:
        hs.update_nas(audit.SYSTEM, nas, language="tlh")
    assert "language" in refused.value.errors
    nas.refresh_from_db()
    assert nas.language == ""


@pytest.mark.parametrize("fields", [
    {"interim_interval": 30}, {"devices": 0}, {"price_per_hour": -5},
    {"increment_seconds": 0}, {"quota_bytes": "lots"},
])
def test_bad_plan_settings_are_refused(db, fields):
    with pytest.raises(hs.HotspotError):
        make_plan(**fields)


# --- property: money through hotspot use --------------------------------------------------
records = st.lists(
    st.tuples(st.sampled_from(["start", "interim", "interim", "stop"]),
              st.sampled_from(["a", "b"]), st.integers(0, 20_000),
              st.integers(0, 3 * 10**9), st.integers(0, 2)),
    min_size=1, max_size=12)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records, st.integers(0, 20_000), st.integers(1, 5_000),
       st.sampled_from([1, 60, 300]), st.integers(0, 3))
def test_debits_never_exceed_usage_cost_or_credit(db, make_customer, seq, credit, price,
                                                  increment, per_mb):
    nas = make_nas()
    plan = make_plan(price_per_hour=price, increment_seconds=increment, price_per_mb=per_mb,
                     minimum_charge=price // 10)
    customer = make_customer()
    if credit:
        give_credit(customer, credit)
    before = ledger_sum()
    total = 0
    for status, sid, t, octets, gw in seq:
        r = hs.account(nas, acct(status, sid=sid, t=t, i=octets, ig=gw,
                                 user=customer.username))
        total += r.debit
        assert accounts.balance(customer) >= 0
    cost = 0
    for session in HotspotSession.objects.filter(nas=nas):
        # what the highest counters seen cost: never less than what was taken
        cost += pricing.charge(plan.tariff, session.session_time, session.octets)
        assert session.debited <= session.charged
    assert total <= cost
    assert total <= credit
    assert accounts.balance(customer) == credit - total
    assert ledger_sum() == before == 0


def test_a_start_with_an_ended_sessions_key_opens_a_new_session(online):
    """A NAS that rebooted uses its session ids again: a Start with the key of a session
    that ended a while ago is a new session, charged from zero, and the old one keeps its
    history; a Start retransmitted right after the Stop is still a duplicate."""
    nas, alice, cls = online
    with clock.frozen(T0):
        hs.account(nas, acct("start", klass=cls))
        assert hs.account(nas, acct("stop", t=600, klass=cls)).debit == 600
    with clock.frozen(T0 + dt.timedelta(seconds=30)):  # a late copy of the first Start
        assert hs.account(nas, acct("start", klass=cls)).duplicate
    assert HotspotSession.objects.count() == 1
    with clock.frozen(T0 + dt.timedelta(hours=2)):
        r = hs.account(nas, acct("start", klass=cls))
        assert not r.duplicate and r.session.status == "open"
        assert hs.account(nas, acct("interim", t=300, klass=cls)).debit == 300
    old, new = HotspotSession.objects.order_by("pk")
    assert (old.status, old.session_time, old.debited) == ("closed", 600, 600)
    assert old.session_key == f"s1/alice#{old.pk}" and old.records.count() == 2
    assert (new.status, new.session_time, new.debited, new.session_key) == (
        "open", 300, 300, "s1/alice")
    assert accounts.balance(alice) == 10_000 - 900 and ledger_sum() == 0


def test_a_start_after_a_stale_session_in_one_batch_with_its_interim(online):
    """The stale sweep closed a silent session; the NAS starts the same key again, its
    Start and first Interim arriving in one batch: both belong to the new session."""
    nas, alice, cls = online
    with clock.frozen(T0):
        hs.account(nas, acct("start", klass=cls))
        hs.account(nas, acct("interim", t=120, klass=cls))
    with clock.frozen(T0 + dt.timedelta(minutes=30)):
        assert hs.close_stale_sessions() == 1
    with clock.frozen(T0 + dt.timedelta(hours=1)):
        results = hs.account_many([(nas, acct("start", klass=cls)),
                                   (nas, acct("interim", t=60, klass=cls))])
    assert [r.debit for r in results] == [0, 60]
    assert results[0].session.pk == results[1].session.pk
    statuses = list(HotspotSession.objects.order_by("pk").values_list("status", "debited"))
    assert statuses == [("stale", 120), ("open", 60)]
    assert accounts.balance(alice) == 10_000 - 180


def test_credit_below_the_minimum_is_refused_saying_so(db, alice):
    nas = make_nas()
    make_plan(price_per_hour=600, minimum_charge=50)
    give_credit(alice, 40)
    d = hs.authorize(nas, pap("alice", "alice-secret-1"))
    assert not d.accept and d.reason == "credit"
    assert d.message == ("Your credit (F\u202fCFA\xa040) is less than the Wi-Fi's "
                          "minimum charge (F\u202fCFA\xa050): enter a recharge code.")
    give_credit(alice, 10)
    assert hs.authorize(nas, pap("alice", "alice-secret-1")).accept


def test_a_new_price_is_for_new_sessions_never_for_time_already_used(online):
    """Sessions already open keep the plan they started with: its prices too. The
    owner's new price must not re-price the minutes a customer already used."""
    nas, alice, cls = online  # 3600 an hour, per minute
    with clock.frozen(T0):
        hs.account(nas, acct("start", sid="old", klass=cls))
    with clock.frozen(T0 + dt.timedelta(minutes=10)):
        assert hs.account(nas, acct("interim", sid="old", t=600, klass=cls)).debit == 600
        the_plan = HotspotSession.objects.get(acct_session_id="old").plan
        hs.update_plan(hs_actor(), the_plan, price_per_hour=7200)
        r = hs.account(nas, acct("interim", sid="old", t=660, klass=cls))
    assert r.debit == 60 and r.session.charged == 660  # one more minute at the old price
    session = HotspotSession.objects.get(acct_session_id="old")
    assert hs.charge_so_far(session).total == 660
    # what the gateway is told (CoA) is what the credit buys at the session's prices
    old, new = (pricing.Tariff(price_per_hour=p, increment=60) for p in (3600, 7200))
    timeout = hs.limits(session, T0 + dt.timedelta(minutes=11)).timeout
    assert timeout == pricing.seconds_for(old, 10_000) != pricing.seconds_for(new, 10_000)
    with clock.frozen(T0 + dt.timedelta(minutes=12)):  # a new session: the new price
        hs.account(nas, acct("start", sid="new", klass=cls))
    with clock.frozen(T0 + dt.timedelta(minutes=13)):
        assert hs.account(nas, acct("interim", sid="new", t=60, klass=cls)).debit == 120


def test_an_ended_session_does_not_grow_after_its_end(online):
    """After our Disconnect was acknowledged (or the session's Stop), a gateway that goes
    on reporting adds at most its last minute (its own Stop, arriving late), not more."""
    nas, alice, cls = online
    with clock.frozen(T0):
        hs.account(nas, acct("start", klass=cls))
    with clock.frozen(T0 + dt.timedelta(minutes=6)):
        hs.account(nas, acct("interim", t=360, klass=cls))
        HotspotSession.objects.update(status="closed", stopped_at=clock.now(),
                                      terminate_cause="Disconnected")  # the ACK came
    with clock.frozen(T0 + dt.timedelta(minutes=7)):
        r = hs.account(nas, acct("stop", t=390, klass=cls))  # its Stop: the last seconds
    assert r.debit == 60 and r.session.session_time == 390
    with clock.frozen(T0 + dt.timedelta(minutes=9)):  # a gateway that went on reporting
        r = hs.account(nas, acct("interim", t=540, klass=cls))
    assert r.session.session_time == 420 and r.session.charged == 420
