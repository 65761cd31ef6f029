"""The café tariff benchmarks work (bench/ measures speed by hand; nothing here is timed)."""

from __future__ import annotations

import pytest
from django.db import connection

from bench.benchmarks import tariffs as tb
from bench.runner import Context, discover
from ficha.tariffs.models import CafeTariff, StationGroup

pytestmark = pytest.mark.django_db(transaction=True)


def _tiny() -> Context:
    return Context(db=connection.vendor, vendor=connection.vendor, fixed_ops=3, repeats=2,
                   verbose=False)


def test_the_tariff_benchmarks_are_registered():
    assert {"tariffs.price", "tariffs.seconds_for", "tariffs.spec_for",
            "tariffs.charge"} <= set(discover())


def test_the_tariff_benchmarks_report_their_targets():
    names = [m.name for m in tb.price(_tiny(), pool=20)]
    assert names == ["tariffs.price[total]", "tariffs.price[lines]"]
    assert [m.target for m in tb.seconds_for(_tiny(), pool=20)] == [0.02]
    assert [m.name for m in tb.charge(_tiny(), pool=20)] == ["tariffs.charge"]
    m = tb.spec_for(_tiny())[0]
    assert m.value > 0 and m.baseline > 0
    assert CafeTariff.objects.count() == 1 and StationGroup.objects.count() == 1
