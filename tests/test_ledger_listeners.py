"""The ledger's after-commit listeners: how higher layers hear about money moving."""

from __future__ import annotations

import pytest
from django.db import transaction

from ficha.ledger import services as ledger


@pytest.fixture
def heard(monkeypatch):
    calls = []
    monkeypatch.setattr(ledger, "_listeners", [lambda kind, ids: calls.append((kind, ids))])
    return calls


def test_listeners_hear_a_posting_after_it_commits(db, make_customer, heard,
                                                   django_capture_on_commit_callbacks):
    alice = make_customer("alice")
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            ledger.post("adjustment", [(ledger.ADJUSTMENTS, 5), (alice.credit_account, -5)])
            assert heard == []  # not before the commit
    assert heard == [("adjustment", [ledger.account_id(ledger.ADJUSTMENTS),
                                     alice.credit_account_id])]


def test_a_rolled_back_posting_is_not_heard(db, make_customer, heard,
                                            django_capture_on_commit_callbacks):
    alice = make_customer("alice")
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            ledger.post("adjustment", [(ledger.ADJUSTMENTS, 5), (alice.credit_account, -5)])
            raise RuntimeError("the door failed after posting")
    assert heard == []


def test_a_failing_listener_neither_breaks_the_posting_nor_the_others(
        db, make_customer, monkeypatch, django_capture_on_commit_callbacks, caplog):
    alice = make_customer("alice")
    calls = []

    def broken(kind, ids):
        raise ValueError("boom")

    monkeypatch.setattr(ledger, "_listeners", [broken, lambda k, i: calls.append(k)])
    with django_capture_on_commit_callbacks(execute=True):
        tx = ledger.post("adjustment", [(ledger.ADJUSTMENTS, 5), (alice.credit_account, -5)])
    assert tx.pk and calls == ["adjustment"]
    assert "ledger listener" in caplog.text
