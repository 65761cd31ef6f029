"""ledger.post writes its rows with plain INSERTs (for speed, see bench/); these tests pin
down that it still behaves as the ORM version did: same rows, same refusals."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.db.models import Sum

from ficha.core import audit
from ficha.ledger import services as ledger
from ficha.ledger.guard import LedgerImmutable
from ficha.ledger.models import Entry, Shift, Transaction

from .conftest import actor_for


def test_the_returned_transaction_is_the_saved_row(db, cashier, open_shift, make_customer):
    customer = make_customer()
    actor = actor_for(cashier, ip="10.1.2.3")
    tx = ledger.post("deposit", [(ledger.CASH, 700), (customer.credit_account, -700)],
                     actor=actor, shift=open_shift, memo="m" * 300, reference="r" * 80)

    stored = Transaction.objects.get(pk=tx.pk)
    for field in Transaction._meta.concrete_fields:
        assert getattr(tx, field.attname) == getattr(stored, field.attname), field.name
    assert (stored.kind, stored.staff_id, stored.shift_id) == ("deposit", cashier.pk,
                                                               open_shift.pk)
    assert (len(stored.memo), len(stored.reference)) == (255, 64)
    assert (stored.source, stored.source_ip) == ("console", "10.1.2.3")
    assert sorted(tx.entries.values_list("account_id", "amount", "currency")) == sorted([
        (ledger.account_id(ledger.CASH), 700, "XOF"),
        (customer.credit_account_id, -700, "XOF"),
    ])
    # a saved instance: append-only in code, related objects at hand
    assert not tx._state.adding
    assert tx.staff is cashier and tx.shift is open_shift
    with pytest.raises(LedgerImmutable):
        tx.save()


def test_an_ipv6_source_is_stored_as_the_orm_stores_it(db, cashier):
    actor = audit.Actor(user=cashier, ip="2001:0DB8:0000::0001", source="api")
    tx = ledger.post("test", [(ledger.SAFE, 5), (ledger.ADJUSTMENTS, -5)], actor=actor)
    assert Transaction.objects.get(pk=tx.pk).source_ip == "2001:db8::1"


def test_cash_on_a_closed_shift_is_refused_and_writes_nothing(db, cashier):
    actor = actor_for(cashier)
    shift = ledger.open_shift(actor, 0)
    ledger.close_shift(actor, shift, counted=0)
    before = Transaction.objects.count()
    with pytest.raises(ledger.NoOpenShift):
        ledger.post("test", [(ledger.CASH, 100), (ledger.SAFE, -100)], actor=actor,
                    shift=shift)
    assert Transaction.objects.count() == before


def test_unsaved_or_wrong_related_objects_are_refused(db, cashier):
    actor = actor_for(cashier)
    with pytest.raises(ValueError):
        ledger.post("test", [(ledger.SAFE, 1), (ledger.ADJUSTMENTS, -1)], actor=actor,
                    shift=Shift(opened_by=cashier, currency="XOF"))
    with pytest.raises(ValueError):
        ledger.post("test", [(ledger.SAFE, 1), (ledger.ADJUSTMENTS, -1)], actor=actor,
                    reverses=cashier)
    assert not Transaction.objects.exists()


def test_a_transaction_cannot_be_reversed_twice_in_the_database(db):
    tx = ledger.post("test", [(ledger.SAFE, 9), (ledger.ADJUSTMENTS, -9)])
    ledger.post("test.reversal", [(ledger.SAFE, -9), (ledger.ADJUSTMENTS, 9)], reverses=tx)
    with pytest.raises(IntegrityError), transaction.atomic():
        ledger.post("test.reversal", [(ledger.SAFE, -9), (ledger.ADJUSTMENTS, 9)],
                    reverses=tx)
    assert Transaction.objects.filter(reverses=tx).count() == 1


@pytest.mark.django_db(transaction=True)
def test_an_unknown_account_id_writes_nothing():
    # Foreign keys are checked at COMMIT: post() must be the outermost transaction here.
    with pytest.raises(IntegrityError):
        ledger.post("test", [(ledger.SAFE, 3), (987_654_321, -3)])
    assert not Entry.objects.exists()


def test_a_posting_with_many_lines_keeps_every_line(db, make_customer):
    customers = [make_customer() for _ in range(3)]
    lines = [(customers[i % 3].credit_account, -1) for i in range(250)]
    lines.append((ledger.ADJUSTMENTS, 250))
    tx = ledger.post("test", lines)
    assert tx.entries.count() == 251
    assert tx.entries.aggregate(s=Sum("amount"))["s"] == 0
