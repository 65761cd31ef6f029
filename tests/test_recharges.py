"""Recharges: generation, selling, unselling, deleting, voiding, redeeming, expiry."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models import Sum

from ficha.accounts import services as accounts
from ficha.accounts.models import Customer
from ficha.core import audit, clock, codes, throttle
from ficha.core import services as core_services
from ficha.core.models import Alert, AuditLog, Throttle
from ficha.ledger import services as ledger
from ficha.ledger.models import Entry, Transaction
from ficha.recharges import services as rs
from ficha.recharges.models import Batch, Recharge, RedeemAttempt

from .conftest import actor_for
from .recharges_support import assert_books_balanced, fresh_source

S = Recharge.Status
T0 = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)




@pytest.fixture
def batch(office):
    return rs.generate(office, count=20, amount=500, label="B500")


def codes_of(batch, n=None, status=None):
    qs = batch.recharges.order_by("id")
    if status:
        qs = qs.filter(status=status)
    rows = list(qs)
    return rows if n is None else rows[:n]


def reason_of(excinfo) -> str:
    return excinfo.value.reason


# --- generation -------------------------------------------------------------------------
def test_generate_stores_unique_unsold_codes_and_audits(db, office):
    seen = []
    batch = rs.generate(office, count=1234, amount=1000, label="Week 48", progress=seen.append)
    rows = list(batch.recharges.all())
    assert len(rows) == batch.count == 1234
    assert len({r.code for r in rows}) == 1234
    assert all(len(r.code) == 8 and r.code.isdigit() for r in rows)
    assert {r.status for r in rows} == {S.UNSOLD}
    assert {r.amount for r in rows} == {1000}
    assert {r.currency for r in rows} == {core_services.currency()}
    assert batch.created_by == office.user and batch.label == "Week 48"
    # progress is cumulative, never goes back, and ends at the count
    assert seen == sorted(seen) and seen[-1] == 1234
    log = AuditLog.objects.get(action="recharges.generate")
    assert log.actor == office.user and log.after["count"] == 1234
    assert rs.totals()["unsold"] == {"count": 1234, "value": 1234 * 1000}
    assert not Entry.objects.exists()  # unsold codes are worth nothing yet


def test_generate_default_label_and_display_grouping(db, office):
    batch = rs.generate(office, count=1, amount=100)
    assert batch.label.endswith(f"-{batch.pk}")
    r = batch.recharges.get()
    assert r.display_code == f"{r.code[:4]} {r.code[4:]}"


@pytest.mark.parametrize("kwargs", [
    {"count": 0, "amount": 100},
    {"count": 100_001, "amount": 100},
    {"count": 5, "amount": 0},
    {"count": 5, "amount": -100},
    {"count": "many", "amount": 100},
    {"count": 5, "amount": 100, "valid_days": 0},
    {"count": 5, "amount": 100, "valid_days": 30, "expires_at": T0 + dt.timedelta(days=60)},
    {"count": 5, "amount": 100, "expires_at": dt.datetime(2020, 1, 1, tzinfo=dt.UTC)},
])
def test_generate_refuses_bad_input(db, office, kwargs):
    with pytest.raises(rs.RechargeError) as exc:
        rs.generate(office, **kwargs)
    assert reason_of(exc) == "input"
    assert not Recharge.objects.exists() and not Batch.objects.exists()


def test_generate_refuses_a_taken_label(db, office, batch):
    with pytest.raises(rs.RechargeError, match="B500"):
        rs.generate(office, count=1, amount=100, label="B500")


def test_valid_days_and_dates_mean_the_end_of_a_venue_day(db, office):
    core_services.update_settings(office, currency_locked=False, time_zone="Africa/Abidjan")
    with clock.frozen(T0):
        b = rs.generate(office, count=1, amount=100, valid_days=30)
        assert b.expires_at == dt.datetime(2026, 12, 25, 23, 59, 59, tzinfo=dt.UTC)
        b2 = rs.generate(office, count=1, amount=100, expires_at=dt.date(2027, 1, 31))
        assert b2.expires_at == dt.datetime(2027, 1, 31, 23, 59, 59, tzinfo=dt.UTC)
        assert b2.recharges.get().expires_at == b2.expires_at


def test_check_digit_and_length_follow_the_settings(db, office):
    core_services.update_settings(office, currency_locked=False, code_length=10,
                                  code_check_digit=True)
    batch = rs.generate(office, count=200, amount=100)
    assert batch.code_length == 10 and batch.check_digit
    assert all(len(c) == 10 and codes.damm_valid(c)
               for c in batch.recharges.values_list("code", flat=True))


def test_collisions_are_drawn_again_and_deleted_codes_are_never_reissued(
        db, office, monkeypatch):
    first = rs.generate(office, count=3, amount=100)
    old = sorted(first.recharges.values_list("code", flat=True))
    rs.delete(office, first.recharges.all()[:1])
    deleted = first.recharges.get(status=S.DELETED).code
    # The generator is made to propose every old code (deleted one included) first.
    proposals = iter(old + [deleted] * 3 + ["55555555", "66666666", "77777777"])
    monkeypatch.setattr(codes, "random_code", lambda length, check: next(proposals))
    second = rs.generate(office, count=3, amount=100)
    assert sorted(second.recharges.values_list("code", flat=True)) == [
        "55555555", "66666666", "77777777"]
    assert Recharge.objects.filter(code=deleted).count() == 1


def test_generation_refuses_to_crowd_the_code_space(db, office, monkeypatch):
    monkeypatch.setattr(rs.issue, "MAX_SPACE_SHARE", 1e-7)  # 10 codes of 8 digits
    rs.generate(office, count=10, amount=100)
    with pytest.raises(rs.RechargeError, match="longer codes"):
        rs.generate(office, count=1, amount=100)


# --- selling ----------------------------------------------------------------------------
def test_sale_needs_the_sellers_open_shift(db, cashier, batch):
    with pytest.raises(rs.RechargeError) as exc:
        rs.sell(actor_for(cashier), codes_of(batch, 1))
    assert reason_of(exc) == "shift"
    assert not batch.recharges.exclude(status=S.UNSOLD).exists()


def test_sale_posts_cash_against_liability_and_records_the_seller(
        db, cashier, desk, open_shift, batch):
    picked = codes_of(batch, 3)
    sale = rs.sell(desk, picked)
    # the sale says what it did: no door re-reads the ledger to learn it
    assert (sale.count, sale.paid, sale.face, sale.method) == (3, 1_500, 1_500, "cash")
    assert sale.shift_id == open_shift.pk and sale.transaction.kind == "recharge.sale"
    for r in picked:
        r.refresh_from_db()
        assert r.status == S.SOLD and r.sold_by == cashier and r.sold_shift == open_shift
        assert r.sale_price == 500 and r.payment_method == "cash" and r.sold_at
        assert r.sale_transaction is not None
    assert ledger.shift_cash(open_shift) == 10_000 + 1_500
    assert ledger.balance(ledger.RECHARGE_LIABILITY) == 1_500
    log = AuditLog.objects.get(action="recharges.sell")
    assert log.actor == cashier and log.after["count"] == 3
    assert sorted(log.after["codes"]) == sorted(r.code for r in picked)
    assert_books_balanced()


def test_discounted_sale_keeps_the_liability_at_face_value(db, desk, open_shift, batch):
    sale = rs.sell(desk, codes_of(batch, 4), price=400)
    assert (sale.count, sale.paid, sale.face) == (4, 1_600, 2_000)
    assert ledger.balance(ledger.RECHARGE_LIABILITY) == 2_000
    assert ledger.shift_cash(open_shift) == 10_000 + 1_600
    assert ledger.balance(ledger.ADJUSTMENTS) == 400  # the discount
    assert_books_balanced()


def test_price_needs_codes_of_one_amount(db, office, desk, batch):
    other = rs.generate(office, count=2, amount=1000)
    with pytest.raises(rs.RechargeError) as exc:
        rs.sell(desk, codes_of(batch, 1) + codes_of(other), price=300)
    assert reason_of(exc) == "input"
    assert not Recharge.objects.filter(status=S.SOLD).exists()
    assert not Transaction.objects.filter(kind="recharge.sale").exists()


def test_non_cash_sale_goes_to_its_payment_account(db, desk, open_shift, batch):
    rs.sell(desk, codes_of(batch, 2), payment_method="mobile_money")
    assert ledger.shift_cash(open_shift) == 10_000
    assert ledger.balance("payment:mobile_money") == 1_000
    with pytest.raises(rs.RechargeError) as exc:
        rs.sell(desk, codes_of(batch, 3)[2:], payment_method="seashells")
    assert reason_of(exc) == "input"
    assert_books_balanced()


def test_selling_a_sold_or_expired_code_is_refused(db, office, desk, batch):
    first = codes_of(batch, 1)
    rs.sell(desk, first)
    with pytest.raises(rs.RechargeError) as exc:
        rs.sell(desk, first)
    assert reason_of(exc) == "state"
    short = rs.generate(office, count=1, amount=100, valid_days=1)
    with clock.frozen(clock.now() + dt.timedelta(days=3)):
        with pytest.raises(rs.RechargeError) as exc:
            rs.sell(desk, short.recharges.all())
    assert reason_of(exc) == "state"
    assert ledger.balance(ledger.RECHARGE_LIABILITY) == 500


def test_sell_range_follows_print_order_within_one_batch(db, office, desk, batch):
    rows = codes_of(batch)
    # given backwards and typed with spaces, like from a printed sheet
    assert rs.sell_range(desk, codes.group(rows[9].code), rows[5].code).count == 5
    sold = set(Recharge.objects.filter(status=S.SOLD).values_list("pk", flat=True))
    assert sold == {r.pk for r in rows[5:10]}
    other = rs.generate(office, count=1, amount=500)
    with pytest.raises(rs.RechargeError):
        rs.sell_range(desk, rows[0].code, other.recharges.get().code)
    with pytest.raises(rs.RechargeError):
        rs.sell_range(desk, rows[0].code, "0000 0000")


def test_sell_batch_sells_what_is_left(db, desk, batch):
    rs.sell(desk, codes_of(batch, 5))
    assert rs.sell_batch(desk, "B500").count == 15
    assert not batch.recharges.filter(status=S.UNSOLD).exists()
    assert ledger.balance(ledger.RECHARGE_LIABILITY) == 20 * 500
    with pytest.raises(rs.RechargeError):
        rs.sell_batch(desk, batch)
    with pytest.raises(rs.RechargeError):
        rs.sell_batch(desk, "no such batch")


# --- unselling --------------------------------------------------------------------------
def test_unsell_in_the_same_shift_reverses_the_sale(db, desk, open_shift, batch):
    picked = codes_of(batch, 2)
    rs.sell(desk, picked)
    sale = Transaction.objects.get(kind="recharge.sale")
    undone = rs.unsell(desk, picked)
    assert (undone.count, undone.refund, undone.refunds) == (2, 1_000, {"cash": 1_000})
    for r in picked:
        r.refresh_from_db()
        assert r.status == S.UNSOLD and r.sold_at is None and r.sold_shift is None
        assert r.sale_transaction is None and r.sale_price is None
    assert Transaction.objects.get(kind="recharge.unsell").reverses == sale
    assert ledger.shift_cash(open_shift) == 10_000
    assert ledger.balance(ledger.RECHARGE_LIABILITY) == 0
    assert AuditLog.objects.filter(action="recharges.unsell").count() == 1
    # it can be sold again
    assert rs.sell(desk, picked).count == 2
    assert_books_balanced()


def test_partial_unsell_gives_back_only_those_codes(db, desk, open_shift, batch):
    picked = codes_of(batch, 4)
    rs.sell(desk, picked, price=450)
    assert rs.unsell(desk, picked[:1]).refund == 450
    assert ledger.balance(ledger.RECHARGE_LIABILITY) == 1_500
    assert ledger.shift_cash(open_shift) == 10_000 + 3 * 450
    assert rs.unsell(desk, picked[1:]).count == 3
    assert ledger.balance(ledger.RECHARGE_LIABILITY) == 0
    assert ledger.shift_cash(open_shift) == 10_000
    assert ledger.balance(ledger.ADJUSTMENTS) == 0
    assert_books_balanced()


def test_unsell_is_refused_after_the_shift_or_by_someone_else(db, cashier, manager, batch):
    desk = actor_for(cashier)
    shift = ledger.open_shift(desk, 0)
    picked = codes_of(batch, 1)
    rs.sell(desk, picked)
    other = actor_for(manager)
    ledger.open_shift(other, 0)
    with pytest.raises(rs.RechargeError) as exc:
        rs.unsell(other, picked)
    assert reason_of(exc) == "state"
    ledger.close_shift(desk, shift, counted=500)
    ledger.open_shift(desk, 0)
    with pytest.raises(rs.RechargeError) as exc:
        rs.unsell(desk, picked)
    assert reason_of(exc) == "state"
    picked[0].refresh_from_db()
    assert picked[0].status == S.SOLD
    assert_books_balanced()


def test_unsell_without_a_shift_and_of_a_used_code(db, cashier, desk, open_shift, batch,
                                                    make_customer):
    picked = codes_of(batch, 1)
    rs.sell(desk, picked)
    rs.redeem(picked[0].code, customer=make_customer(), source=fresh_source())
    with pytest.raises(rs.RechargeError) as exc:
        rs.unsell(desk, picked)
    assert reason_of(exc) == "state"
    ledger.close_shift(desk, open_shift, counted=ledger.shift_cash(open_shift))
    with pytest.raises(rs.RechargeError) as exc:
        rs.unsell(desk, picked)
    assert reason_of(exc) == "shift"


# --- deleting ---------------------------------------------------------------------------
def test_delete_keeps_a_tombstone_and_only_takes_unsold_codes(db, office, desk, batch,
                                                               make_customer):
    rows = codes_of(batch, 3)
    rs.sell(desk, rows[2:])
    assert rs.delete(office, rows) == 2  # the sold one is skipped
    assert Recharge.objects.filter(status=S.DELETED).count() == 2
    gone = Recharge.objects.get(pk=rows[0].pk)
    assert gone.deleted_by == office.user and gone.deleted_at
    assert not rs.search().filter(pk=rows[0].pk).exists()
    assert rs.search(status="deleted").filter(pk=rows[0].pk).exists()
    with pytest.raises(rs.RechargeError) as exc:
        rs.delete(office, rows[2:])
    assert reason_of(exc) == "state"
    with pytest.raises(rs.RechargeError) as exc:
        rs.redeem(rows[0].code, customer=make_customer(), source=fresh_source())
    assert str(exc.value) == "Invalid code."
    assert Alert.objects.filter(kind="fraud", message__contains="deleted").exists()
    assert AuditLog.objects.get(action="recharges.delete").after["count"] == 2


# --- voiding ----------------------------------------------------------------------------
def test_void_refunds_from_the_voiding_owners_shift(db, owner, cashier, desk, open_shift,
                                                    batch):
    rows = codes_of(batch, 1)
    rs.sell(desk, rows, price=450)
    ledger.close_shift(desk, open_shift, counted=10_450)
    office = actor_for(owner)
    with pytest.raises(rs.RechargeError) as exc:
        rs.void(office, rows[0], "")
    assert reason_of(exc) == "input"
    with pytest.raises(rs.RechargeError) as exc:
        rs.void(office, rows[0], "customer lost the card")
    assert reason_of(exc) == "shift"
    owners_shift = ledger.open_shift(office, 1_000)
    voided = rs.void(office, rows[0], "customer lost the card")
    assert voided.status == S.VOID and voided.voided_by == owner
    assert voided.void_reason == "customer lost the card"
    assert ledger.shift_cash(owners_shift) == 1_000 - 450
    assert ledger.balance(ledger.RECHARGE_LIABILITY) == 0
    assert ledger.balance(ledger.ADJUSTMENTS) == 0
    assert AuditLog.objects.get(action="recharges.void").after["refund"] == 450
    with pytest.raises(rs.RechargeError) as exc:
        rs.void(office, rows[0], "again")
    assert reason_of(exc) == "state"
    assert_books_balanced()


def test_void_refuses_unsold_used_and_expired_codes(db, owner, desk, batch, make_customer):
    office = actor_for(owner)
    ledger.open_shift(office, 0)
    rows = codes_of(batch, 3)
    with pytest.raises(rs.RechargeError, match="delete"):
        rs.void(office, rows[0], "x")
    rs.sell(desk, rows[1:])
    rs.redeem(rows[1].code, customer=make_customer(), source=fresh_source())
    with pytest.raises(rs.RechargeError, match="used"):
        rs.void(office, rows[1], "x")
    Recharge.objects.filter(pk=rows[2].pk).update(expires_at=clock.now())
    with pytest.raises(rs.RechargeError, match="expired"):
        rs.void(office, rows[2], "x")


# --- redeeming --------------------------------------------------------------------------
def test_redeem_credits_the_customer_once(db, desk, batch, make_customer):
    row = codes_of(batch, 1)[0]
    rs.sell(desk, [row])
    alice = make_customer("alice")
    src = fresh_source(account="alice")
    got = rs.redeem(codes.group(row.code), customer=alice, source=src)
    assert (got.amount, got.balance, got.created_account) == (500, 500, False)
    assert got.customer == alice and got.recharge.status == S.USED
    assert got.recharge.used_by == alice and got.recharge.used_at
    assert got.recharge.used_door == "portal"
    assert accounts.balance(alice) == 500
    assert ledger.balance(ledger.RECHARGE_LIABILITY) == 0
    attempt = RedeemAttempt.objects.get()
    assert attempt.outcome == "success" and attempt.recharge_id == row.pk
    # the attempt was forgiven: no failures remain on the source
    assert not Throttle.objects.filter(failures__gt=0).exists()
    with pytest.raises(rs.RechargeError) as exc:
        rs.redeem(row.code, customer=alice, source=src)
    assert reason_of(exc) == "used" and "already" in str(exc.value)
    assert accounts.balance(alice) == 500
    assert_books_balanced()


def test_unknown_and_unsold_codes_say_the_same_and_unsold_alerts_the_owner(
        db, batch, make_customer):
    bob = make_customer("bob")
    unsold = codes_of(batch, 1)[0]
    unknown = next(c for c in ("12345678", "87654321") if c != unsold.code)
    messages = []
    for code in (unknown, unsold.code):
        with pytest.raises(rs.RechargeError) as exc:
            rs.redeem(code, customer=bob, source=rs.Source(ip="10.9.9.9", station="PC-3",
                                                             door="station"))
        assert reason_of(exc) == "invalid"
        messages.append(str(exc.value))
    assert messages == ["Invalid code.", "Invalid code."]
    alert = Alert.objects.get(kind="fraud")
    assert codes.group(unsold.code) in alert.message
    assert "PC-3" in alert.message and "10.9.9.9" in alert.message
    assert alert.data["recharge"] == unsold.pk
    assert accounts.balance(bob) == 0
    # the log keeps a hint of the unknown guess, never all of it
    hints = dict(RedeemAttempt.objects.values_list("outcome", "code_hint"))
    assert hints == {"unknown": unknown[:4], "unsold": ""}
    assert AuditLog.objects.filter(action="alert.raise").count() == 1


def test_expired_code_says_when_in_the_venue_time_zone(db, office, desk, make_customer):
    core_services.update_settings(office, currency_locked=False, time_zone="America/Lima")
    with clock.frozen(T0):
        b = rs.generate(office, count=1, amount=300, expires_at=dt.date(2026, 12, 1))
        rs.sell(desk, b.recharges.all())
    code = b.recharges.get().code
    with clock.frozen(dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)):
        with pytest.raises(rs.RechargeError) as exc:
            rs.redeem(code, customer=make_customer(), source=fresh_source())
    assert reason_of(exc) == "expired"
    assert exc.value.expired_at == dt.datetime(2026, 12, 2, 4, 59, 59, tzinfo=dt.UTC)
    assert "01/12/2026 23:59" in str(exc.value)  # venue time, day first
    assert ledger.balance(ledger.RECHARGE_LIABILITY) == 300


def test_typos_are_refused_before_costing_an_attempt(db, office, make_customer):
    core_services.update_settings(office, currency_locked=False, code_check_digit=True)
    b = rs.generate(office, count=1, amount=100)
    good = b.recharges.get().code
    typo = good[:3] + str((int(good[3]) + 1) % 10) + good[4:]  # one digit wrong
    swap = good[:2] + good[3] + good[2] + good[4:]
    cust = make_customer()
    for attempt in [typo, swap if swap != good else typo, good[:-1], good + "1", "", "abc"]:
        with pytest.raises(rs.RechargeError) as exc:
            rs.redeem(attempt, customer=cust, source=rs.Source(ip="10.1.1.1"))
        assert reason_of(exc) == "format"
    assert not Throttle.objects.exists()  # nothing was claimed
    assert not RedeemAttempt.objects.exists()


def test_throttling_locks_a_guessing_source_out(db, desk, batch, make_customer):
    row = codes_of(batch, 1)[0]
    rs.sell(desk, [row])
    mallory = make_customer("mallory")
    src = rs.Source(ip="10.6.6.6", mac="AA-BB-CC-00-11-22", door="hotspot")
    assert src.keys() == ["ip:10.6.6.6", "mac:aa:bb:cc:00:11:22"]
    wrong = [f"{n:08d}" for n in range(1000, 1020) if f"{n:08d}" != row.code]
    reasons = []
    with clock.frozen(T0):
        for guess in wrong:
            with pytest.raises(rs.RechargeError) as exc:
                rs.redeem(guess, customer=mallory, source=src)
            reasons.append(reason_of(exc))
        evaluated = reasons.count("invalid")
        assert evaluated == throttle.policy("redeem").free + 1
        assert set(reasons[evaluated:]) == {"throttled"}
        # even the right code is not evaluated while locked out
        with pytest.raises(rs.RechargeError) as exc:
            rs.redeem(row.code, customer=mallory, source=src)
        assert reason_of(exc) == "throttled" and exc.value.retry_after > 0
        assert "Wait" in str(exc.value)
        # the MAC alone is enough to stay locked out from another IP
        with pytest.raises(rs.RechargeError) as exc:
            rs.redeem(row.code, customer=mallory,
                      source=rs.Source(ip="10.7.7.7", mac="aa:bb:cc:00:11:22"))
        assert reason_of(exc) == "throttled"
    assert RedeemAttempt.objects.count() == evaluated
    with clock.frozen(T0 + dt.timedelta(hours=2)):
        assert rs.redeem(row.code, customer=mallory, source=src).amount == 500


def test_disabled_customer_cannot_redeem(db, desk, batch, make_customer):
    row = codes_of(batch, 1)[0]
    rs.sell(desk, [row])
    cust = make_customer()
    accounts.set_customer_status(audit.SYSTEM, cust, False)
    cust.refresh_from_db()
    with pytest.raises(rs.RechargeError) as exc:
        rs.redeem(row.code, customer=cust, source=fresh_source())
    assert reason_of(exc) == "disabled"
    row.refresh_from_db()
    assert row.status == S.SOLD


def test_staff_redeeming_for_a_customer_is_audited(db, cashier, desk, batch, make_customer):
    row = codes_of(batch, 1)[0]
    rs.sell(desk, [row])
    cust = make_customer("carla")
    got = rs.redeem(row.code, customer=cust, actor=desk,
                    source=rs.Source(ip="10.0.0.5", door="console", account="carla"))
    assert got.balance == 500
    log = AuditLog.objects.get(action="recharges.redeem")
    assert log.actor == cashier and log.after["customer"] == cust.pk
    assert RedeemAttempt.objects.get().staff == cashier
    assert Transaction.objects.get(kind="recharge.redeem").staff == cashier


def test_a_code_alone_at_login_opens_an_account(db, desk, batch):
    row = codes_of(batch, 1)[0]
    rs.sell(desk, [row])
    got = rs.redeem_for_login(codes.group(row.code), source=fresh_source("portal_login"))
    assert got.created_account and got.amount == 500 and got.balance == 500
    assert got.customer.username == row.code
    assert got.customer.origin == Customer.Origin.CODE
    # the same code logs into that account again while it has no password
    again = rs.redeem_for_login(row.code, source=fresh_source("portal_login"))
    assert again.customer == got.customer and again.amount == 0
    assert not again.created_account and again.balance == 500
    assert accounts.balance(got.customer) == 500
    accounts.set_customer_password(audit.SYSTEM, got.customer, password="secret-1")
    with pytest.raises(rs.RechargeError) as exc:
        rs.redeem_for_login(row.code, source=fresh_source("portal_login"))
    assert reason_of(exc) == "used"
    assert Customer.objects.count() == 1
    assert_books_balanced()


def test_login_with_an_unsold_code_opens_nothing(db, batch):
    row = codes_of(batch, 1)[0]
    with pytest.raises(rs.RechargeError) as exc:
        rs.redeem_for_login(row.code, source=fresh_source("portal_login"))
    assert reason_of(exc) == "invalid"
    assert not Customer.objects.exists()
    assert Alert.objects.filter(kind="fraud").count() == 1


def test_login_code_when_the_username_is_taken(db, desk, batch, make_customer):
    row = codes_of(batch, 1)[0]
    rs.sell(desk, [row])
    make_customer(row.code)
    got = rs.redeem_for_login(row.code, source=fresh_source("portal_login"))
    assert got.created_account and got.customer.username.startswith(row.code + "-")
    again = rs.redeem_for_login(row.code, source=fresh_source("portal_login"))
    assert again.customer == got.customer


def test_voided_code_is_invalid_for_customers(db, owner, desk, batch, make_customer):
    office = actor_for(owner)
    ledger.open_shift(office, 1_000)
    row = codes_of(batch, 1)[0]
    rs.sell(desk, [row])
    rs.void(office, row, "stolen sheet")
    with pytest.raises(rs.RechargeError) as exc:
        rs.redeem(row.code, customer=make_customer(), source=fresh_source())
    assert str(exc.value) == "Invalid code."
    assert "voided" in Alert.objects.get(kind="fraud").message


# --- expiry -----------------------------------------------------------------------------
@pytest.mark.parametrize("breakage", [True, False])
def test_expiry_marks_codes_and_moves_unused_value_to_breakage(db, office, desk, breakage,
                                                               make_customer):
    core_services.update_settings(office, currency_locked=False, breakage_enabled=breakage)
    with clock.frozen(T0):
        b = rs.generate(office, count=6, amount=200, valid_days=7)
        keep = rs.generate(office, count=2, amount=200)  # never expires
        rows = codes_of(b)
        rs.sell(desk, rows[:4])
        rs.sell(desk, keep.recharges.all())
        rs.redeem(rows[0].code, customer=make_customer(), source=fresh_source())
    with clock.frozen(T0 + dt.timedelta(days=6)):
        assert rs.expire_due() == 0
    with clock.frozen(T0 + dt.timedelta(days=9)):
        assert rs.expire_due() == 5  # 3 sold unused + 2 unsold
        assert rs.expire_due() == 0
    statuses = dict(Recharge.objects.filter(batch=b).values_list("pk", "status"))
    assert statuses[rows[0].pk] == S.USED
    assert [statuses[r.pk] for r in rows[1:]] == [S.EXPIRED] * 5
    assert ledger.balance(ledger.BREAKAGE) == (600 if breakage else 0)
    assert ledger.balance(ledger.RECHARGE_LIABILITY) == (400 if breakage else 1_000)
    assert rs.totals()["outstanding"]["value"] == ledger.balance(ledger.RECHARGE_LIABILITY)
    assert_books_balanced()
    if not breakage:
        # switched on later: the worker moves what is still owed for expired codes
        core_services.update_settings(office, currency_locked=True, breakage_enabled=True)
        assert rs.expire_due() == 3
        assert ledger.balance(ledger.BREAKAGE) == 600
        assert_books_balanced()
    with pytest.raises(rs.RechargeError) as exc:
        rs.redeem(rows[1].code, customer=make_customer(), source=fresh_source())
    assert reason_of(exc) == "expired"
    with pytest.raises(rs.RechargeError) as exc:
        rs.redeem(rows[5].code, customer=make_customer(), source=fresh_source())
    assert reason_of(exc) == "invalid"  # never sold: expired or not, it is worthless
    # an unsold code that expired can still be deleted
    assert rs.delete(office, [rows[5]]) == 1
    assert rs.totals() == rs.totals(rs.search(status=list(S.values)))


# --- search and totals ------------------------------------------------------------------
def test_search_filters_and_orders(db, office, desk, make_customer):
    with clock.frozen(T0):
        a = rs.generate(office, count=5, amount=500, label="A")
    with clock.frozen(T0 + dt.timedelta(days=2)):
        b = rs.generate(office, count=3, amount=1000, label="B", valid_days=30)
        rs.sell(desk, codes_of(a, 2))
    with clock.frozen(T0 + dt.timedelta(days=4)):
        rs.sell(desk, codes_of(b, 1))
        used = codes_of(a, 1)[0]
        rs.redeem(used.code, customer=make_customer(), source=fresh_source())
    assert rs.search().count() == 8
    assert rs.search(status="sold").count() == 2
    assert rs.search(status=["sold", "used"]).count() == 3
    assert rs.search(batch="B").count() == 3 and rs.search(batch=a.pk).count() == 5
    assert rs.search(batch="nope").count() == 0
    assert rs.search(amount=1000).count() == 3
    assert list(rs.search(code=codes.group(used.code))) == [used]
    assert used in rs.search(code=used.code[:3])
    day2 = (T0 + dt.timedelta(days=2)).date()
    assert rs.search(sold_from=day2, sold_to=day2).count() == 2
    assert rs.search(sold_from=day2 + dt.timedelta(days=1)).count() == 1  # sold on day 4
    assert rs.search(used_from=T0, used_to=T0 + dt.timedelta(days=5)).count() == 1
    assert rs.search(created_from=day2).count() == 3
    assert rs.search(created_to=T0.date()).count() == 5
    assert rs.search(created_to=T0.date().isoformat()).count() == 5
    ids = list(rs.search().values_list("id", flat=True))
    assert ids == sorted(ids, reverse=True)
    amounts = list(rs.search(order="-amount").values_list("amount", flat=True))
    assert amounts == sorted(amounts, reverse=True)
    sold_dates = list(rs.search(order="-sold_at").values_list("sold_at", flat=True))
    assert sold_dates[:3] == sorted(sold_dates[:3], reverse=True) and sold_dates[3] is None
    for bad in ({"status": "lost"}, {"order": "password"}, {"sold_from": "yesterday"}):
        with pytest.raises(rs.RechargeError):
            rs.search(**bad)


def test_totals_per_status_and_outstanding(db, office, desk, batch, make_customer):
    rows = codes_of(batch)
    rs.sell(desk, rows[:6])
    rs.redeem(rows[0].code, customer=make_customer(), source=fresh_source())
    rs.delete(office, rows[10:12])
    t = rs.totals()
    assert t["unsold"] == {"count": 12, "value": 6_000}
    assert t["sold"] == {"count": 5, "value": 2_500}
    assert t["used"] == {"count": 1, "value": 500}
    assert t["deleted"] == {"count": 2, "value": 1_000}
    assert t["outstanding"] == {"count": 5, "value": 2_500}
    assert t["total"] == {"count": 18, "value": 9_000}
    # totals of a list describe its rows: the default list leaves deleted codes out
    assert rs.totals(rs.search()) == {**t, "deleted": {"count": 0, "value": 0}}
    assert rs.totals(rs.search(status=list(Recharge.Status.values))) == t
    assert rs.totals(rs.search(batch="B500", status="deleted"))["deleted"]["count"] == 2
    assert rs.totals(rs.search(status="sold"))["sold"] == t["sold"]
    assert rs.totals(rs.search(status="sold"))["unsold"]["count"] == 0
    # the worker folds the tally; the answer does not change
    before = rs.totals()
    assert rs.compact_tally() > 0
    assert rs.totals() == before


def test_totals_by_status_and_batch_come_from_the_tally(db, office, desk, batch,
                                                        make_customer,
                                                        django_assert_max_num_queries):
    other = rs.generate(office, count=4, amount=1000, label="B1000")
    rs.sell(desk, codes_of(batch, 3) + codes_of(other, 2))
    rs.redeem(codes_of(other, 1)[0].code, customer=make_customer(), source=fresh_source())
    rs.delete(office, codes_of(batch, 5, status=S.UNSOLD))
    today = clock.now().date()
    for kw in [{}, {"status": "sold"}, {"batch": "B1000"}, {"status": ["sold", "used"]},
               {"batch": batch.pk, "status": "unsold"}, {"status": "deleted"},
               {"amount": 1000}, {"amount": 1000, "batch": batch.pk}, {"amount": 7},
               {"created_from": today, "status": "sold"}, {"created_to": today},
               {"created_from": today + dt.timedelta(days=1)}]:
        query = rs.RechargeQuery(**kw)
        qs = rs.search(query)
        with django_assert_max_num_queries(4) as fast:
            got = rs.totals(query)
        sqls = [q["sql"] for q in fast.captured_queries]
        assert any("recharges_tally" in q for q in sqls) or got["total"]["count"] == 0, kw
        assert not any("recharges_recharge" in q for q in sqls), kw
        # the same rows as a QuerySet (the tally never guesses what one filters): a scan
        with django_assert_max_num_queries(2) as slow:
            scanned = rs.totals(qs)
        assert all("recharges_recharge" in q["sql"] for q in slow.captured_queries)
        assert got == scanned, kw
    # keyset paging is not mistaken for a creation-date filter
    last = codes_of(other)[-1].pk
    assert rs.totals(rs.search().filter(id__gte=last, id__lte=last))["total"]["count"] == 1
    assert rs.totals(rs.RechargeQuery(batch="B1000"))["outstanding"] == {"count": 1,
                                                                         "value": 1000}
    # a filter only the codes know is counted from the codes
    with django_assert_max_num_queries(2) as by_code:
        got = rs.totals(rs.RechargeQuery(code=codes_of(other)[0].code[:3]))
    assert all("recharges_recharge" in q["sql"] for q in by_code.captured_queries)
    assert got["total"]["count"] >= 1


# --- worker registration ----------------------------------------------------------------
def test_worker_runs_the_recharge_jobs(db):
    from ficha.cli import worker

    jobs = dict(worker.jobs())
    assert jobs["recharges.expire"] is rs.expire_due
    assert jobs["recharges.failure_rate"] is rs.check_failure_rate
    assert (rs.expire_due(), rs.check_failure_rate()) == (0, 0)


def test_demo_recharges_load(db, cashier, open_shift, make_customer):
    from ficha.cli.demo_recharges import load_demo_recharges

    make_customer("amina")
    text = load_demo_recharges(cashier, open_shift)
    assert "sold" in text and "amina" in text
    assert Batch.objects.count() == 2
    assert Recharge.objects.filter(status=S.USED).count() == 1
    assert Recharge.objects.filter(status=S.SOLD).count() == 11
    assert_books_balanced()
    assert Entry.objects.filter(transaction__kind="recharge.sale").aggregate(
        s=Sum("amount"))["s"] == 0



def test_far_dates_are_refused_with_a_message_not_a_crash(db, office):
    for bad in ("9999-12-31", "0001-01-01", "9999-12-31T23:59:59-12:00"):
        with pytest.raises(rs.RechargeError) as err:
            list(rs.search(sold_to=bad))
        assert err.value.reason == "input"
    with pytest.raises(rs.RechargeError) as err:
        rs.generate(office, count=1, amount=100, expires_at=dt.date(2999, 1, 1))
    assert err.value.reason == "input"


def test_staff_at_the_till_do_not_lock_out_customers_on_the_same_ip(db, cashier, make_customer):
    """Codes mistyped at the counter count against the cashier, not the till's IP."""
    till = actor_for(cashier, ip="10.0.0.2")
    for i in range(25):
        customer = make_customer(f"walkin{i}")
        with pytest.raises(rs.RechargeError):
            rs.redeem("1111" + f"{i:04d}", customer=customer, actor=till,
                      source=rs.Source(ip="10.0.0.2", door="console"))
    assert throttle.retry_after("redeem", ["ip:10.0.0.2"]) == 0
    assert throttle.retry_after("redeem", ["staff:cass"]) <= throttle.ACCOUNT_MAX_SECONDS
    attempt = RedeemAttempt.objects.order_by("-pk").first()
    assert attempt.ip == "10.0.0.2"


def test_worker_knows_no_app_by_name():
    """Jobs come from the apps' registrations: the worker imports neither the API nor
    the recharges app (so a new app's job needs no edit to the CLI)."""
    import pathlib

    from ficha.cli import worker

    text = pathlib.Path(worker.__file__).read_text()
    assert "ficha.api" not in text and "ficha.recharges" not in text
    assert {"recharges.expire", "api.idempotency_purge"} <= dict(worker.jobs()).keys()
