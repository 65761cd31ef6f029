"""The call-shop benchmarks work (bench/ measures speed by hand; nothing here is timed).

Tiny sizes on the test database; the tests check what the benchmarks wrote and that both
sides of the rating benchmark find the same rows.
"""

from __future__ import annotations

import pytest
from django.db import connection

from bench.benchmarks import callshop as cb
from bench.runner import Context, discover
from ficha.callshop import decks
from ficha.callshop.models import Deck, Rate

pytestmark = pytest.mark.django_db(transaction=True)


def _tiny() -> Context:
    return Context(db=connection.vendor, vendor=connection.vendor, fixed_ops=3, repeats=2,
                   verbose=False)


def test_the_callshop_benchmarks_are_registered():
    assert {"callshop.rate", "callshop.import"} <= set(discover())


def test_rating_benchmark_imports_its_deck_and_reports_both_targets():
    measurements = cb.rate(_tiny(), prefixes=500, pool=300)

    assert [m.name for m in measurements] == ["callshop.rate[500 prefixes]",
                                              "callshop.rate[500 prefixes] >= 300,000/s"]
    assert measurements[0].target == 0.5 and measurements[1].baseline == 300_000
    assert all(m.value > 0 for m in measurements)
    deck = Deck.objects.get()
    assert deck.row_count == 500 and Rate.objects.filter(deck=deck).count() == 500


def test_import_benchmark_stores_every_row_on_both_sides():
    measurements = cb.deck_import(_tiny(), rows=250)

    assert [m.name for m in measurements] == [
        "callshop.import[250 rows, plain]", "callshop.import[250 rows, plain] <= 5 s",
        "callshop.import[250 rows, full] <= 5 s"]
    # 2 forms x 2 repetitions x (import_deck + raw insert) decks of 250 rows each.
    assert Deck.objects.count() == 8
    assert {d.pk: Rate.objects.filter(deck=d).count() for d in Deck.objects.all()} == \
        {d.pk: 250 for d in Deck.objects.all()}
    # The raw baseline wrote the same rows import_deck did.
    plain = Deck.objects.filter(name__startswith="bench-plain").first()
    raw = Deck.objects.filter(name__startswith="bench-raw-plain").first()
    rows = lambda deck: sorted(Rate.objects.filter(deck=deck).values_list(*decks.COLUMNS))  # noqa: E731
    assert rows(plain) == rows(raw)


def test_cdr_import_benchmark_imports_every_cdr_and_charges_the_prepaid_ones():
    from ficha.callshop.models import Call
    from ficha.ledger.models import Transaction

    measurements = cb.cdr_import_bench(_tiny(), cdrs=300, prefixes=100)

    names = [m.name for m in measurements]
    assert names[0] == "callshop.cdr_import[300 CDRs]"
    if connection.vendor == "postgresql":
        assert names[1] == "callshop.cdr_import[300 CDRs] >= 20,000/s"
    assert measurements[0].details["problems"] == 0
    # 2 repetitions: 300 imported calls and 300 raw rows each.
    assert Call.objects.filter(external_id__startswith="raw-").count() == 600
    assert Call.objects.exclude(external_id__startswith="raw-").count() == 600
    assert Call.objects.filter(session__isnull=False).exists()
    assert Transaction.objects.filter(kind="callshop.cdr").exists()
