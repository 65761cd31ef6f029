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


def test_parallel_workers_claim_each_coa_job_once(transactional_db, make_customer, settings):
    """Four workers at once: every due CoA/Disconnect job is claimed by exactly one."""
    from ficha.core import clock
    from ficha.hotspot.services import coa_jobs

    settings.HOTSPOT_COA_SEND_NOW = False
    nas = make_nas()
    make_plan(price_per_hour=3600, increment_seconds=60)
    for n in range(12):
        customer = make_customer(f"c{n}")
        give_credit(customer, 10_000)
        hs.account(nas, acct("start", sid=f"s{n}", user=customer.username))
    for session in HotspotSession.objects.all():
        hs.kick(session.pk, hs_actor())
    claimed, errors = [], []
    barrier = threading.Barrier(4)
    now = clock.now()

    def work():
        try:
            barrier.wait()
            for _ in range(4):
                claimed.extend(job.pk for job in coa_jobs.claim_due(limit=5))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    pool = [threading.Thread(target=work) for _ in range(4)]
    with clock.frozen(now):  # the clock is frozen for every thread
        for t in pool:
            t.start()
        for t in pool:
            t.join(60)
    assert not errors, errors
    assert sorted(claimed) == sorted(set(claimed)) and len(claimed) == 12


def hs_actor():
    from .hotspot_support import OWNER
    return OWNER
