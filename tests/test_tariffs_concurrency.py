"""Package purchases and package time used in parallel: never more than was paid for,
never more than the credit, the ledger still sums to zero."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from ficha.accounts import services as accounts
from ficha.core import audit
from ficha.tariffs import cafe
from ficha.tariffs import services as tariffs
from ficha.tariffs.models import PackageHolding

from .hotspot_support import give_credit, ledger_sum

pytestmark = pytest.mark.slow


def _parallel(work, n=4):
    errors, results = [], []
    barrier = threading.Barrier(n)

    def run(i):
        try:
            barrier.wait()
            results.append(work(i))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    pool = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(60)
    return results, errors


def test_parallel_consumption_never_takes_more_than_held(transactional_db, make_customer):
    alice = make_customer("alice")
    give_credit(alice, 10_000)
    pkg = tariffs.create_package(audit.SYSTEM, name="1 h", seconds=3600, price=1000)
    tariffs.buy_package(audit.SYSTEM, alice, pkg)
    tariffs.buy_package(audit.SYSTEM, alice, pkg)

    def work(i):
        return sum(tariffs.consume_package_seconds(alice, 700).seconds for _ in range(3))

    results, errors = _parallel(work)
    assert not errors, errors
    assert sum(results) == 7200  # 8400 s asked, 7200 s held: all of it, no more
    assert tariffs.package_seconds_left(alice) == 0
    assert all(h.seconds_left == 0 for h in PackageHolding.objects.all())


def test_parallel_purchases_never_overdraw(transactional_db, make_customer):
    bob = make_customer("bob")
    give_credit(bob, 2500)
    pkg = tariffs.create_package(audit.SYSTEM, name="1 h", seconds=3600, price=1000)

    def work(i):
        try:
            return tariffs.buy_package(audit.SYSTEM, bob, pkg).pk
        except cafe.TariffError:
            return None

    results, errors = _parallel(work)
    assert not errors, errors
    assert len([r for r in results if r]) == 2
    assert accounts.balance(bob) == 500 and PackageHolding.objects.count() == 2
    assert ledger_sum() == 0
