"""Accounting packets handled in parallel (several radiusd threads or processes) still
debit exactly once, and two devices of one customer never take more than the balance."""

from __future__ import annotations

import random
import threading

import pytest
from django.db import connection

from ficha.accounts import services as accounts
from ficha.hotspot import services as hs
from ficha.hotspot.models import HotspotSession

from .hotspot_support import acct, give_credit, hotspot_revenue, ledger_sum, make_nas, make_plan

pytestmark = pytest.mark.slow


def _run_parallel(nas, requests, threads=4):
    errors = []
    chunks = [requests[i::threads] for i in range(threads)]
    barrier = threading.Barrier(threads)

    def work(chunk):
        try:
            barrier.wait()
            for req in chunk:
                hs.account(nas, req)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    pool = [threading.Thread(target=work, args=(c,)) for c in chunks]
    for t in pool:
        t.start()
    for t in pool:
        t.join(60)
    assert not errors, errors


def test_parallel_duplicates_and_reordering_debit_exactly_once(transactional_db,
                                                                 make_customer):
    nas = make_nas()
    make_plan(price_per_hour=3600, increment_seconds=60)
    alice = make_customer("alice")
    give_credit(alice, 100_000)
    records = [acct("start")] + [acct("interim", t=60 * k) for k in range(1, 20)]
    records.append(acct("stop", t=1200))
    requests = records * 3  # every packet three times
    random.Random(7).shuffle(requests)
    _run_parallel(nas, requests)
    session = HotspotSession.objects.get()
    assert session.debited == session.charged == 1200
    assert accounts.balance(alice) == 100_000 - 1200
    assert hotspot_revenue() == 1200 and ledger_sum() == 0


def test_two_devices_never_take_more_than_the_balance(transactional_db, make_customer):
    nas = make_nas()
    make_plan(price_per_hour=3600, increment_seconds=60, devices=2)
    alice = make_customer("alice")
    give_credit(alice, 1000)
    requests = []
    for sid in ("phone", "laptop"):
        requests += [acct("interim", sid=sid, t=60 * k) for k in range(1, 25)]
    random.Random(3).shuffle(requests)
    _run_parallel(nas, requests)
    assert accounts.balance(alice) == 0  # 2 × 1440 owed, 1000 there: all of it, no more
    debited = sum(HotspotSession.objects.values_list("debited", flat=True))
    assert debited == 1000 and hotspot_revenue() == 1000 and ledger_sum() == 0
