"""Redemption is exactly-once under concurrency, on SQLite (WAL, IMMEDIATE) and PostgreSQL.

Each thread has its own database connection (closed at the end) and, per attempt, its
own source, so that throttling does not hide a race: every attempt is evaluated.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest
from django.db.models import Count, Sum

from ficha.accounts import services as accounts
from ficha.accounts.models import Customer
from ficha.core import audit
from ficha.ledger import services as ledger
from ficha.ledger.models import Entry, Transaction
from ficha.recharges import services as rs
from ficha.recharges.models import Recharge

from .concurrency_support import run_together as _run
from .conftest import actor_for
from .recharges_support import assert_books_balanced, credits_from_codes, sold_face

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _attempt(code: str, customer, ip: str):
    # the account key names the attempt too: otherwise the customer's own key (added by
    # redeem) would lock out after a few "already used" answers
    source = rs.Source(ip=ip, account=f"{customer.username}@{ip}", door="api")
    try:
        got = rs.redeem(code, customer=customer, source=source)
        return ("ok", got.amount)
    except rs.RechargeError as exc:
        return (exc.reason, 0)


def _sold_batch(owner, cashier, count: int, amount: int):
    batch = rs.generate(actor_for(owner), count=count, amount=amount)
    desk = actor_for(cashier)
    ledger.open_shift(desk, 0)
    assert rs.sell_batch(desk, batch).count == count
    return batch


def test_32_threads_redeem_the_same_code_once(owner, cashier):
    batch = _sold_batch(owner, cashier, 1, 700)
    code = batch.recharges.get().code
    customers = [accounts.create_customer(audit.SYSTEM, f"racer{i}") for i in range(32)]

    results = _run(32, lambda i: _attempt(code, customers[i], f"10.32.0.{i}"))

    assert Counter(r for r, _a in results) == Counter({"ok": 1, "used": 31})
    credited = [c for c in customers if accounts.balance(c) != 0]
    assert len(credited) == 1 and accounts.balance(credited[0]) == 700
    assert Transaction.objects.filter(kind="recharge.redeem").count() == 1
    assert Recharge.objects.get(code=code).used_by == credited[0]
    assert ledger.balance(ledger.RECHARGE_LIABILITY) == 0
    assert_books_balanced()


def test_64_threads_redeem_random_codes_from_a_pool_of_1000(owner, cashier):
    batch = _sold_batch(owner, cashier, 1000, 150)
    pool = list(batch.recharges.values_list("code", flat=True))
    customers = [accounts.create_customer(audit.SYSTEM, f"crowd{i}") for i in range(16)]
    per_thread = 20  # 1,280 attempts on 1,000 codes: hundreds of collisions

    def work(i):
        rnd = random.Random(i)
        out = []
        for k in range(per_thread):
            code = rnd.choice(pool)
            result, amount = _attempt(code, customers[i % 16], f"10.64.{i}.{k}")
            out.append((code, result, amount))
        return out

    attempts = [a for thread in _run(64, work) for a in thread]

    outcomes = Counter(r for _c, r, _a in attempts)
    assert set(outcomes) <= {"ok", "used"}, outcomes
    won = [c for c, r, _a in attempts if r == "ok"]
    assert len(won) == len(set(won))  # no code was redeemed twice
    tried = {c for c, _r, _a in attempts}
    assert set(won) == tried  # and every code somebody tried was redeemed by someone
    assert outcomes["used"] == len(attempts) - len(tried) > 100
    # one redemption transaction per used code, never two
    per_code = (Transaction.objects.filter(kind="recharge.redeem").values("reference")
                .annotate(n=Count("id")))
    assert per_code.count() == len(won) and {row["n"] for row in per_code} == {1}
    assert Recharge.objects.filter(status="used").count() == len(won)
    # credits equal what the customers won; liability + credits = what was sold
    total_credit = sum(accounts.balance(c) for c in customers)
    assert total_credit == 150 * len(won) == credits_from_codes()
    assert ledger.balance(ledger.RECHARGE_LIABILITY) + total_credit == sold_face() == 150_000
    assert (Entry.objects.aggregate(s=Sum("amount"))["s"] or 0) == 0
    assert_books_balanced()
    assert rs.totals()["used"]["count"] == len(won)


def test_16_threads_log_in_with_the_same_code_open_one_account(owner, cashier):
    batch = _sold_batch(owner, cashier, 1, 400)
    code = batch.recharges.get().code

    def work(i):
        try:
            got = rs.redeem_for_login(code, source=rs.Source(ip=f"10.16.0.{i}",
                                                             door="portal_login"))
            return ("created" if got.created_account else "again", got.customer.pk)
        except rs.RechargeError as exc:
            return (exc.reason, None)

    results = _run(16, work)
    kinds = Counter(r for r, _pk in results)
    assert kinds["created"] == 1, kinds
    # the others either logged into that account or were told the code is used
    assert set(kinds) <= {"created", "again", "used"}
    assert Customer.objects.count() == 1
    account = Customer.objects.get()
    assert {pk for r, pk in results if pk is not None} == {account.pk}
    assert accounts.balance(account) == 400
    assert_books_balanced()
