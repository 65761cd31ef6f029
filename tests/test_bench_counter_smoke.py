"""The counter benchmarks work (bench/ measures speed by hand; nothing here is timed):
tiny sizes on the test database, checking what they wrote."""

from __future__ import annotations

import pytest
from django.db import connection

from bench.benchmarks import counter as cb
from bench.runner import Context, discover
from ficha.callshop.counter_models import Checkout
from ficha.callshop.models import BoothSession, Call
from ficha.ledger.models import Entry

pytestmark = pytest.mark.django_db(transaction=True)


def _tiny() -> Context:
    return Context(db=connection.vendor, vendor=connection.vendor, fixed_ops=2, repeats=2,
                   verbose=False)


def test_the_counter_benchmarks_are_registered():
    assert {"callshop.board", "callshop.checkout"} <= set(discover())


def test_board_benchmark_builds_busy_booths_and_reports_both_targets():
    measurements = cb.board(_tiny(), count=3, calls=2)
    assert [m.name for m in measurements] == ["callshop.board[3 booths]",
                                              "callshop.board[3 booths] >= 5/s"]
    assert all(m.value > 0 for m in measurements)
    assert BoothSession.objects.filter(state="open").count() == 3
    assert BoothSession.objects.filter(state="closed").count() == 3
    assert Call.objects.filter(state="answered").count() == 3


def test_checkout_benchmark_settles_every_session_it_opens():
    measurements = cb.checkout(_tiny())
    assert measurements[0].name == "callshop.checkout"
    opened = BoothSession.objects.count()
    assert opened >= 2 and Checkout.objects.count() == opened
    assert BoothSession.objects.exclude(state="settled").count() == 0
    assert sum(Entry.objects.values_list("amount", flat=True)) == 0
