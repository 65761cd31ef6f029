"""A booth session is paid once, whatever the double clicks: on SQLite (IMMEDIATE
transactions) and PostgreSQL (the session row locked)."""

from __future__ import annotations

from collections import Counter

import pytest
from django.db.models import Sum

from ficha.callshop import booths
from ficha.callshop.counter_models import Checkout
from ficha.ledger import services as ledger
from ficha.ledger.models import Entry, Transaction

from .callshop_support import call, make_booth, make_deck
from .concurrency_support import run_together as _run
from .conftest import actor_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_eight_simultaneous_checkouts_of_one_session_pay_once(cashier):
    make_deck()
    desk = actor_for(cashier)
    shift = ledger.open_shift(desk, 1_000)
    session = booths.open_session(desk, make_booth())
    call(session, "0033123456789", 61)  # 300
    call(session, "0022507123456", 30)  # 120

    def attempt(_i):
        try:
            return booths.checkout(desk, session, "1000").checkout.total
        except booths.BoothError as exc:
            return str(exc)

    results = _run(8, attempt)

    counts = Counter(results)
    assert counts[420] == 1, results
    assert sum(n for r, n in counts.items() if r != 420) == 7
    assert all("paid already" in r for r in counts if r != 420)
    assert Checkout.objects.count() == 1
    assert Transaction.objects.filter(kind="callshop.checkout").count() == 1
    assert ledger.shift_cash(shift) == 1_420
    assert Entry.objects.aggregate(s=Sum("amount"))["s"] == 0
