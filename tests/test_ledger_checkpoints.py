"""Balance checkpoints: a customer's balance is its checkpoint (Σ of its entries up to a
transaction) plus Σ of the later entries, and never differs from Σ of all its entries —
however postings, checkpoints and the hotspot's batches interleave, on both databases."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction
from django.db.models import Sum

from ficha.accounts import services as accounts
from ficha.hotspot import services as hs
from ficha.ledger import services as ledger
from ficha.ledger.models import Checkpoint, Entry
from ficha.ledger.services import checkpoints

from .concurrency_support import run_together
from .conftest import actor_for
from .hotspot_support import acct, give_credit, make_nas, make_plan

postgres_only = pytest.mark.skipif(connection.vendor != "postgresql",
                                   reason="ids drawn in advance are PostgreSQL's")


def entries_sum(account_id: int) -> int:
    return Entry.objects.filter(account_id=account_id).aggregate(s=Sum("amount"))["s"] or 0


def credit(customer, amount: int) -> None:
    ledger.post("test.credit", [(customer.credit_account_id, -amount),
                                (ledger.ADJUSTMENTS, amount)])


def every_reader(customer) -> set[int]:
    """The customer's credit as each reading door of the ledger computes it."""
    pk = customer.credit_account_id
    account = customer.credit_account
    return {accounts.balance(customer), ledger.balance(account), -ledger.raw_sum(pk),
            ledger.balances([account])[pk], ledger.spendable(pk)}


def test_a_checkpoint_changes_no_balance_and_later_postings_count(db, make_customer):
    alice = make_customer("alice")
    for amount in (500, 250, 125):
        credit(alice, amount)
    assert every_reader(alice) == {875}
    moved = ledger.checkpoint([alice.credit_account_id])
    point = Checkpoint.objects.get(account_id=alice.credit_account_id)
    assert moved == {alice.credit_account_id: (point.upto, -875)}
    assert point.total == entries_sum(alice.credit_account_id) == -875
    assert every_reader(alice) == {875}
    credit(alice, 25)
    ledger.post("test.debit", [(alice.credit_account_id, 100), (ledger.REVENUE_CAFE, -100)])
    assert every_reader(alice) == {800} == {-entries_sum(alice.credit_account_id)}
    # moved again: only forward, and still the same balance
    ledger.checkpoint([alice.credit_account_id])
    assert Checkpoint.objects.get(account_id=alice.credit_account_id).upto > point.upto
    assert every_reader(alice) == {800}


def test_nothing_to_checkpoint_and_system_accounts_are_refused(db, make_customer):
    bob = make_customer("bob")
    assert ledger.checkpoint([bob.credit_account_id]) == {}
    assert ledger.checkpoint([]) == {}
    with pytest.raises(ledger.LedgerError, match="system accounts"):
        ledger.checkpoint([ledger.REVENUE_HOTSPOT])


@pytest.mark.django_db(transaction=True)
def test_a_credit_still_uncommitted_is_never_left_below_a_checkpoint(make_customer):
    """A credit posted before a checkpoint but committed after it must still count. The
    posting locks the account before drawing its id, so a later posting and the
    checkpoint both wait for it (without that lock the checkpoint covered a later credit's
    id and the slow one, below it, was never summed: 1,200 instead of 1,300)."""
    carol = make_customer("carol")
    credit(carol, 1_000)  # (and the counter-account exists before the race)
    posted = threading.Event()

    def work(i):
        if i == 0:  # a credit whose transaction stays open a while
            with transaction.atomic():
                credit(carol, 100)
                posted.set()
                time.sleep(1.0)
        elif i == 1:  # another credit, after it
            assert posted.wait(10)
            credit(carol, 200)
        else:  # a checkpoint meanwhile
            assert posted.wait(10)
            time.sleep(0.3)
            ledger.checkpoint([carol.credit_account_id])

    run_together(3, work)
    assert every_reader(carol) == {1_300} == {-entries_sum(carol.credit_account_id)}


@postgres_only
def test_a_batch_that_read_the_balance_under_lock_moves_the_checkpoint(db, make_customer,
                                                                       monkeypatch):
    monkeypatch.setattr(checkpoints, "CHECKPOINT_EVERY", 1)
    dave = make_customer("dave")
    credit(dave, 1_000)
    pk = dave.credit_account_id
    with transaction.atomic():
        ledger.lock_accounts([pk])
        before = ledger.raw_sum(pk)
        with connection.cursor() as cur:
            cur.execute(f"SELECT {ledger.next_id_sql()} FROM generate_series(1, 2)")
            ids = [row[0] for row in cur.fetchall()]
        ledger.post_many([ledger.Posting("test.debit", [(pk, amount), (ledger.REVENUE_HOTSPOT,
                                                                      -amount)])
                          for amount in (30, 45)], ids=ids, locked={pk: before})
    point = Checkpoint.objects.get(account_id=pk)
    assert (point.upto, point.total) == (max(ids), before + 75) == (max(ids), -925)
    assert every_reader(dave) == {925}


@postgres_only
def test_ids_drawn_before_the_account_was_locked_are_refused(db, make_customer):
    erin = make_customer("erin")
    credit(erin, 100)
    with connection.cursor() as cur:
        cur.execute(f"SELECT {ledger.next_id_sql()}")
        ids = [cur.fetchone()[0]]
    posting = ledger.Posting("test.debit", [(erin.credit_account_id, 10),
                                            (ledger.REVENUE_HOTSPOT, -10)])
    with pytest.raises(ledger.LedgerError, match="not locked"):
        ledger.post_many([posting], ids=ids)
    assert every_reader(erin) == {100}


@postgres_only
def test_transaction_ids_come_in_the_order_they_are_drawn(db):
    """A checkpoint covers every id up to its own: a sequence that hands each connection a
    block of ids (CACHE > 1) would let a later posting take an id below it."""
    with connection.cursor() as cur:
        cur.execute("SELECT cache_size FROM pg_sequences WHERE sequencename = "
                    "'ledger_transaction_id_seq'")
        assert cur.fetchone() == (1,)


def test_hotspot_debits_keep_balances_exact_as_their_checkpoints_move(db, make_customer,
                                                                     monkeypatch):
    """Interims debited in batches (PostgreSQL: the checkpoint moves in the batch's own
    statement) with a credit and a checkpoint between them: the balance is always the
    credit less the usage, and Σ of the entries."""
    monkeypatch.setattr(checkpoints, "CHECKPOINT_EVERY", 1)
    nas = make_nas(vendor="mikrotik")
    make_plan(price_per_hour=3600, increment_seconds=60)
    alice = make_customer("alice")
    give_credit(alice, 10_000)
    hs.account_many([(nas, acct("start"))])
    used = 0
    for minute in range(1, 8):
        hs.account_many([(nas, acct("interim", t=60 * minute))])
        used = 60 * minute
        if minute == 3:
            give_credit(alice, 500)
        if minute == 5:
            ledger.checkpoint([alice.credit_account_id])
        assert every_reader(alice) == {10_500 * (minute >= 3) + 10_000 * (minute < 3) - used}
        assert -entries_sum(alice.credit_account_id) == accounts.balance(alice)
    if connection.vendor == "postgresql":
        point = Checkpoint.objects.get(account_id=alice.credit_account_id)
        assert point.total == entries_sum(alice.credit_account_id)


@pytest.mark.django_db(transaction=True)
def test_credits_and_checkpoints_from_many_threads_lose_nothing(make_customer, manager):
    frank = make_customer("frank")
    actor = actor_for(manager)

    def work(i):
        for n in range(10):
            if (i + n) % 4 == 0:
                ledger.checkpoint([frank.credit_account_id])
            else:
                accounts.adjust(actor, frank, 1 + i, "test")

    run_together(4, work)
    expected = sum(1 + i for i in range(4) for n in range(10) if (i + n) % 4)
    assert every_reader(frank) == {expected} == {-entries_sum(frank.credit_account_id)}


def test_the_worker_checkpoints_accounts_with_long_histories_only(db, make_customer,
                                                                   monkeypatch):
    monkeypatch.setattr(checkpoints, "LONG_HISTORY", 5)
    busy, quiet = make_customer("busy"), make_customer("quiet")
    for n in range(6):
        credit(busy, 10 + n)
    for _n in range(3):
        credit(quiet, 100)
    assert ledger.checkpoint_long_histories() == 1
    assert list(Checkpoint.objects.values_list("account_id", "total")) == [
        (busy.credit_account_id, -75)]
    assert every_reader(busy) == {75} and every_reader(quiet) == {300}
    # nothing new since: nothing to do; a few more entries: still under the threshold
    assert ledger.checkpoint_long_histories() == 0
    credit(busy, 5)
    credit(quiet, 100)
    assert ledger.checkpoint_long_histories() == 0
    for _n in range(4):
        credit(busy, 1)
    assert ledger.checkpoint_long_histories() == 1
    assert Checkpoint.objects.get(account_id=busy.credit_account_id).total == -84
    assert every_reader(busy) == {84} and every_reader(quiet) == {400}
    # the system accounts on the other side of every line took as many: never checkpointed
    assert not Checkpoint.objects.exclude(
        account_id__in=[busy.credit_account_id, quiet.credit_account_id]).exists()


def test_the_worker_runs_the_checkpoint_job():
    from ficha.core import jobs

    assert ("ledger.checkpoint_long_histories", ledger.checkpoint_long_histories) in \
        jobs.registered()
