from __future__ import annotations

import itertools

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ficha.accounts import services as accounts
from ficha.core import audit
from ficha.ledger import services as ledger
from ficha.ledger.guard import LedgerImmutable
from ficha.ledger.models import Entry, Transaction

from .conftest import actor_for


def test_unbalanced_transaction_is_refused(db):
    with pytest.raises(ledger.LedgerError):
        ledger.post("test", [(ledger.SAFE, 100), (ledger.ADJUSTMENTS, -99)])
    assert not Transaction.objects.exists()


def test_single_line_and_float_amounts_are_refused(db):
    with pytest.raises(ledger.LedgerError):
        ledger.post("test", [(ledger.SAFE, 0), (ledger.ADJUSTMENTS, 0)])
    with pytest.raises(ledger.LedgerError):
        ledger.post("test", [(ledger.SAFE, 1.5), (ledger.ADJUSTMENTS, -1.5)])


def test_cash_needs_an_open_shift(db, cashier):
    with pytest.raises(ledger.NoOpenShift):
        ledger.post("test", [(ledger.CASH, 100), (ledger.SAFE, -100)], actor=actor_for(cashier))


def test_posted_rows_cannot_change_in_code(db):
    tx = ledger.post("test", [(ledger.SAFE, 100), (ledger.ADJUSTMENTS, -100)])
    entry = tx.entries.first()
    entry.amount = 5
    with pytest.raises(LedgerImmutable):
        entry.save()
    with pytest.raises(LedgerImmutable):
        entry.delete()
    with pytest.raises(LedgerImmutable):
        Entry.objects.filter(pk=entry.pk).update(amount=5)
    with pytest.raises(LedgerImmutable):
        Transaction.objects.all().delete()
    assert Entry.objects.get(pk=entry.pk).amount != 5


@pytest.mark.parametrize("sql", [
    "UPDATE ledger_entry SET amount = amount + 1",
    "DELETE FROM ledger_entry",
    "UPDATE ledger_transaction SET memo = 'x'",
    "DELETE FROM ledger_transaction",
])
def test_posted_rows_cannot_change_in_the_database(db, sql):
    ledger.post("test", [(ledger.SAFE, 100), (ledger.ADJUSTMENTS, -100)])
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(sql)
    assert Entry.objects.aggregate(s=Sum("amount"))["s"] == 0
    assert Entry.objects.count() == 2


def test_reverse_posts_the_mirror_once(db):
    tx = ledger.post("test", [(ledger.SAFE, 300), (ledger.ADJUSTMENTS, -300)])
    rev = ledger.reverse(tx, actor=audit.SYSTEM)
    assert sorted(e.amount for e in rev.entries.all()) == [-300, 300]
    assert ledger.raw_sum(ledger.SAFE) == 0
    with pytest.raises(ledger.LedgerError):
        ledger.reverse(tx, actor=audit.SYSTEM)


def test_shift_close_records_expected_counted_variance(db, cashier, make_customer):
    actor = actor_for(cashier)
    shift = ledger.open_shift(actor, 5_000)
    customer = make_customer()
    accounts.deposit(actor, customer, 2_000)
    accounts.refund(actor, customer, 500)
    closed = ledger.close_shift(actor, shift, counted=6_400)
    assert (closed.expected, closed.counted, closed.variance) == (6_500, 6_400, -100)
    # the drawer is empty between shifts, and the shortfall is booked
    assert ledger.balance(ledger.CASH) == 0
    assert ledger.balance(ledger.OVER_SHORT) == 100
    assert ledger.current_shift(cashier) is None
    with pytest.raises(ledger.LedgerError):
        ledger.close_shift(actor, shift, counted=0)
    with pytest.raises(ledger.NoOpenShift):
        accounts.deposit(actor, customer, 100)


def test_one_open_shift_per_person(db, cashier):
    actor = actor_for(cashier)
    ledger.open_shift(actor, 0)
    with pytest.raises(ledger.LedgerError):
        ledger.open_shift(actor, 0)


_names = itertools.count()

OPS = st.lists(
    st.tuples(
        st.sampled_from(["deposit", "refund", "adjust", "reverse", "checkpoint"]),
        st.integers(min_value=0, max_value=4),
        st.integers(min_value=-50_000, max_value=50_000),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=OPS)
def test_any_sequence_keeps_the_books_balanced(db, manager, ops):
    actor = actor_for(manager)
    shift = ledger.current_shift(manager) or ledger.open_shift(actor, 1_000)
    customers = [accounts.create_customer(audit.SYSTEM, f"p{next(_names)}") for _ in range(5)]
    expected = {c.pk: 0 for c in customers}
    posted = []
    for op, who, amount in ops:
        c = customers[who]
        try:
            if op == "deposit":
                posted.append((c.pk, accounts.deposit(actor, c, amount), amount))
                expected[c.pk] += amount
            elif op == "refund":
                posted.append((c.pk, accounts.refund(actor, c, amount), -amount))
                expected[c.pk] -= amount
            elif op == "adjust":
                posted.append((c.pk, accounts.adjust(actor, c, amount, "test"), amount))
                expected[c.pk] += amount
            elif op == "checkpoint":  # balances read in two parts from here on
                ledger.checkpoint([c.credit_account_id])
            elif op == "reverse" and posted:
                pk, tx, delta = posted.pop()
                if expected[pk] - delta >= 0:
                    ledger.reverse(tx, actor=actor, shift=shift)
                    expected[pk] -= delta
        except (accounts.AccountError, ledger.LedgerError):
            pass  # refused operations change nothing
    # Σ of every transaction's lines is 0
    for tx_id, total in (Entry.objects.values_list("transaction_id")
                         .annotate(s=Sum("amount")).values_list("transaction_id", "s")):
        assert total == 0, tx_id
    # each balance is the sum of the customer's entries, never negative, and as predicted
    for c in customers:
        bal = accounts.balance(c)
        raw = Entry.objects.filter(account=c.credit_account).aggregate(s=Sum("amount"))["s"]
        assert bal == -(raw or 0)
        assert bal == expected[c.pk] >= 0
