"""Postpaid booth sessions end to end: open, calls, extras, cash rounding, checkout into the
shift, receipts, refusals, the live board."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess

import pytest
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ficha.callshop import booths, counter, receipts
from ficha.callshop.counter_models import BoothExtra, Checkout
from ficha.callshop.models import BoothSession, Call, Deck
from ficha.core import audit, clock
from ficha.core.models import AuditLog
from ficha.ledger import services as ledger
from ficha.ledger.models import Entry

from .callshop_support import answer, call, end, make_booth, make_deck, ring

pytestmark = pytest.mark.django_db


@pytest.fixture
def booth(db):
    make_deck()
    return make_booth()


@pytest.fixture
def office(manager):
    return audit.Actor(user=manager, source="test")


def _rounding(office, step, mode=counter.NEAREST, hide=3):
    booths.update_counter_settings(office, cash_rounding_step=step, cash_rounding_mode=mode,
                                   mask_digits=hide, locale="en")


def _balance(code: str) -> int:
    return ledger.raw_sum(code)


def test_a_booth_session_from_open_to_paid(desk, booth, office, open_shift):
    _rounding(office, "25")  # XOF: the smallest coin is 25 F
    session = booths.open_session(desk, booth)
    c1 = call(session, "0022507123456", 61)  # mobile, 2 started minutes × 120 = 240
    c2 = call(session, "0033123456789", 30)  # France, 1 minute × 150 = 150
    call(session, "0022507999999", 0)  # not answered: free, kept
    booths.add_extra(desk, session, description="Internet 30 min", amount="200",
                     kind=BoothExtra.Kind.INTERNET, locale="en")
    booths.add_extra(desk, session, description="Coffee", amount="1,015", locale="en")
    cash_before = ledger.shift_cash(open_shift)

    result = booths.checkout(desk, session, "2,000", locale="en")

    co = result.checkout
    assert (c1.cost, c2.cost) == (240, 150)
    assert co.calls_total == 390
    assert co.calls_total == Call.objects.filter(session=session).aggregate(s=Sum("cost"))["s"]
    assert co.extras_total == 1_215
    assert co.rounding == -5  # 1,605 to the nearest 25 F is 1,600
    assert (co.total, co.tendered, co.change) == (1_600, 2_000, 400)
    # the cash entered the cashier's shift, and nothing but the total
    assert ledger.shift_cash(open_shift) - cash_before == 1_600
    assert co.shift == open_shift
    # the ledger: Σ = 0, revenue by stream, the rounding as an adjustment
    entries = Entry.objects.filter(transaction=co.transaction)
    assert sum(e.amount for e in entries) == 0
    assert _balance(ledger.REVENUE_CALLS) == -390
    assert _balance(ledger.REVENUE_CAFE) == -200
    assert _balance(ledger.REVENUE_PRODUCTS) == -1_015
    assert _balance(ledger.ADJUSTMENTS) == 5
    session.refresh_from_db()
    assert session.state == BoothSession.State.SETTLED and session.closed_at is not None
    actions = set(AuditLog.objects.values_list("action", flat=True))
    assert {"callshop.session_open", "callshop.extra_add", "callshop.checkout"} <= actions


def test_the_receipt_totals_are_the_sum_of_the_calls(desk, booth, office, open_shift):
    _rounding(office, "25", hide=3)
    session = booths.open_session(desk, booth)
    for n, secs in enumerate([5, 59, 60, 61, 179, 3600]):
        call(session, f"00225071234{n:02d}", secs)
    booths.add_extra(desk, session, description="Soda", amount=300)
    booths.checkout(desk, session, "100000", locale="en")

    r = booths.receipt(session)
    calls = Call.objects.filter(session=session)
    assert r.calls_total == sum(c.cost for c in calls) == r.total - r.extras_total - r.rounding
    assert len(r.calls) == 6
    assert r.calls[0].number.endswith("\u2022\u2022\u2022")  # last 3 digits hidden
    assert "12345" not in r.calls[0].number[-3:]
    assert r.paid and r.tendered == 100_000 and r.change == 100_000 - r.total
    assert Checkout.objects.get(session=session).total == r.total


@pytest.mark.skipif(not shutil.which("pdftotext"), reason="pdftotext (poppler-utils) missing")
def test_receipt_pdf_shows_calls_rounding_and_change(desk, booth, office, open_shift, tmp_path):
    _rounding(office, "25")
    session = booths.open_session(desk, booth)
    call(session, "0033123456789", 61)  # 300
    booths.add_extra(desk, session, description="Coffee", amount=210)
    booths.checkout(desk, session, "1000", locale="en")
    path = tmp_path / "receipt.pdf"
    path.write_bytes(receipts.pdf_receipt(booths.receipt(session)))
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                          text=True, check=True).stdout
    assert "France" in text and "Coffee" in text
    assert "+33 1 23 45 6" not in text and "0033123456\u2022\u2022\u2022" in text
    assert "Cash rounding" in text  # 510 → 500
    assert "500" in text and "Change" in text


def test_checkout_is_refused_without_an_open_shift(cashier, booth):
    desk = audit.Actor(user=cashier, source="test")
    session = booths.open_session(desk, booth)
    call(session, "0033123456789", 60)
    with pytest.raises(ledger.NoOpenShift):
        booths.checkout(desk, session, "1000")
    session.refresh_from_db()
    assert session.state == BoothSession.State.OPEN
    assert not Checkout.objects.exists() and not Entry.objects.exists()


@pytest.mark.parametrize("tendered", ["100", "abc", "1e9", "-500", "", "1.5"])
def test_checkout_is_refused_with_a_bad_tender(desk, booth, open_shift, tendered):
    session = booths.open_session(desk, booth)
    call(session, "0033123456789", 60)  # 150 due
    entries = Entry.objects.count()
    with pytest.raises(booths.BoothError):
        booths.checkout(desk, session, tendered, locale="en")
    assert Entry.objects.count() == entries
    assert not Checkout.objects.exists()


def test_a_call_in_progress_blocks_checkout_until_it_ends(desk, booth, open_shift):
    session = booths.open_session(desk, booth)
    call(session, "0033123456789", 60)
    live = answer(ring(session, "0022507123456"))
    with pytest.raises(booths.BoothError, match="still in progress"):
        booths.checkout(desk, session, "10000")
    # close the booth (no new calls), the call ends, then the payment goes through
    booths.close_session(desk, session)
    end(live, 90)
    result = booths.checkout(desk, session, "10000")
    assert result.checkout.calls == 2 and result.checkout.calls_total == 150 + 240


def test_closed_sessions_stay_unpaid_until_settled(desk, booth, open_shift):
    session = booths.open_session(desk, booth)
    call(session, "0033123456789", 60)
    booths.close_session(desk, session)
    assert [b.session.pk for b in booths.unpaid_sessions()] == [session.pk]
    with pytest.raises(booths.BoothError):  # a closed session takes extras, not reopening
        booths.close_session(desk, session)
    booths.add_extra(desk, session, description="Water", amount=100)
    booths.open_session(desk, booth)  # the booth serves the next customer meanwhile
    booths.checkout(desk, session, "250")
    assert booths.unpaid_sessions() == []
    with pytest.raises(booths.BoothError, match="paid already"):
        booths.checkout(desk, session, "250")
    with pytest.raises(booths.BoothError, match="paid already"):
        booths.add_extra(desk, session, description="Late", amount=100)


def test_a_booth_opens_once_and_only_when_active(desk, booth):
    booths.open_session(desk, booth)
    with pytest.raises(booths.BoothError, match="already open"):
        booths.open_session(desk, booth)
    other = make_booth("Cabine 2", "booth2", active=False)
    with pytest.raises(booths.BoothError, match="switched off"):
        booths.open_session(desk, other)


def test_nothing_to_pay_settles_without_a_ledger_row(desk, booth, open_shift):
    session = booths.open_session(desk, booth)
    call(session, "0033123456789", 0)
    result = booths.checkout(desk, session, "0")
    assert result.checkout.total == 0 and result.checkout.transaction is None


def test_extras_amounts_are_parsed_in_the_cashiers_language(desk, booth):
    session = booths.open_session(desk, booth)
    extra = booths.add_extra(desk, session, description="Café", amount="1 500", locale="fr")
    assert extra.amount == 1_500
    with pytest.raises(booths.BoothError):  # XOF has no decimals: "1.500" in French is 1.5
        booths.add_extra(desk, session, description="Café", amount="1,5", locale="fr")
    with pytest.raises(booths.BoothError):
        booths.add_extra(desk, session, description="Café", amount="0", locale="fr")
    booths.remove_extra(desk, extra)
    assert not BoothExtra.objects.exists()
    assert AuditLog.objects.filter(action="callshop.extra_remove").exists()


def test_booth_setup_needs_a_pbx_identity_and_unique_names(office):
    b = booths.create_booth(office, name="Cabine 1", accountcode="c1")
    with pytest.raises(booths.BoothError, match="account code or its endpoint"):
        booths.create_booth(office, name="Cabine 2")
    with pytest.raises(booths.BoothError, match="exists already"):
        booths.create_booth(office, name="Cabine 1", endpoint="x")
    with pytest.raises(booths.BoothError, match="account code c1"):
        booths.create_booth(office, name="Cabine 3", accountcode="c1")
    booths.update_booth(office, b, endpoint="booth1", price_group="")
    b.refresh_from_db()
    assert b.endpoint == "booth1"
    assert AuditLog.objects.filter(action="callshop.booth_update").exists()


def test_counter_settings_are_checked(office):
    with pytest.raises(booths.BoothError):
        _rounding(office, "0.5")  # XOF has no decimals
    with pytest.raises(booths.BoothError):
        booths.update_counter_settings(office, cash_rounding_step="5",
                                       cash_rounding_mode="sideways", mask_digits=3)
    with pytest.raises(booths.BoothError):
        _rounding(office, "5", hide=99)
    _rounding(office, "0")
    assert booths.counter_settings().cash_rounding_step == 0


def test_the_board_shows_the_running_call(desk, booth):
    session = booths.open_session(desk, booth)
    call(session, "0033123456789", 60)  # 150
    started = clock.now() - dt.timedelta(seconds=75)
    live = answer(ring(session, "0022507123456"), when=started)
    states = booths.board()
    state = next(s for s in states if s.booth == booth)
    assert state.state == "calling"
    running = state.bill.live[0]
    assert running.call == live and 75 <= running.seconds <= 80
    assert running.cost == 240  # two started minutes at 120
    assert state.bill.subtotal == 150 and state.bill.running == 390
    assert running.number.endswith("\u2022\u2022\u2022")


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(durations=st.lists(st.integers(0, 4000), max_size=6),
       extras=st.lists(st.integers(1, 50_000), max_size=3),
       step=st.sampled_from([0, 5, 25, 50, 100]),
       mode=st.sampled_from(counter.ROUNDING_MODES),
       extra_cash=st.integers(0, 10_000))
def test_checkout_property_ledger_balances_and_totals_match(
        desk, office, open_shift, durations, extras, step, mode, extra_cash):
    if not Deck.objects.exists():  # examples share the test's database
        make_deck()
    b = make_booth(f"B{BoothSession.objects.count()}", f"e{BoothSession.objects.count()}")
    _rounding(office, step, mode)
    session = booths.open_session(desk, b)
    for n, secs in enumerate(durations):
        call(session, f"0022507{n:06d}", secs)
    for amount in extras:
        booths.add_extra(desk, session, description="x", amount=amount)
    subtotal = sum(c.cost for c in Call.objects.filter(session=session)) + sum(extras)
    due = counter.round_cash(subtotal, step, mode)
    cash_before = ledger.shift_cash(open_shift)

    co = booths.checkout(desk, session, due + extra_cash).checkout

    assert co.total == due and co.change == extra_cash
    assert co.calls_total + co.extras_total == subtotal
    assert co.calls_total + co.extras_total + co.rounding == co.total
    assert ledger.shift_cash(open_shift) - cash_before == due
    if co.transaction is not None:
        assert sum(Entry.objects.filter(transaction=co.transaction)
                   .values_list("amount", flat=True)) == 0
    assert Entry.objects.aggregate(s=Sum("amount"))["s"] == 0


def test_a_call_authorized_while_the_session_is_being_paid_is_refused(
        desk, booth, open_shift, monkeypatch):
    """The PBX read the session as open, the cashier's checkout committed, then the PBX's
    request inserts its call: it must not land on the paid session."""
    from ficha.callshop import calls

    session = booths.open_session(desk, booth)
    call(session, "0033123456789", 60)
    read = calls.open_session

    def read_then_pay(b):
        found = read(b)
        booths.checkout(desk, session, "150")  # paid between the read and the insert
        return found

    monkeypatch.setattr(calls, "open_session", read_then_pay)
    decision = calls.authorize(booth.endpoint, "0022507123456")
    assert not decision.allowed and decision.reason == "no_payer"
    assert Call.objects.filter(session=session).count() == 1
