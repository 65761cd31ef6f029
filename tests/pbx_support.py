"""Helpers shared by the tests of booth calls and CDR import (tests/test_callshop_*.py)."""

from __future__ import annotations

import datetime as dt
import itertools

from django.db.models import Sum

from ficha.accounts import services as accounts
from ficha.callshop import services as callshop
from ficha.callshop.models import Booth, BoothSession
from ficha.core import audit
from ficha.ledger import services as ledger
from ficha.ledger.models import Entry

SYSTEM = audit.Actor(source="test", label="test")
_n = itertools.count(1)

# XOF (no decimals): 100 a minute to France, per started minute; 30/6 to the UK with a
# connect fee of 20; Côte d'Ivoire 50 a minute, 1/1.
DECK = """prefix,description,price,connect_fee,billing
33,France,100,0,60/60
44,United Kingdom,60,20,30/6
225,Cote d'Ivoire,50,0,1/1
"""


def make_deck(text: str = DECK, name: str = "retail", **options):
    result = callshop.import_deck(SYSTEM, text, name)
    assert result.ok, result.errors
    if options:
        callshop.update_deck(SYSTEM, result.deck, **options)
    return callshop.find_deck(name)


def make_booth(name: str | None = None, **fields) -> Booth:
    n = next(_n)
    name = name or f"booth{n}"
    fields.setdefault("endpoint", name)
    return Booth.objects.create(name=name, **fields)


def open_booth(booth: Booth, since: str | None = None) -> BoothSession:
    """An open session; ``since`` ("2026-12-01 09:00", UTC) back-dates its opening, for
    CDRs of calls made before the test runs."""
    session = BoothSession.objects.create(booth=booth)
    if since:
        session.opened_at = dt.datetime.fromisoformat(since).replace(tzinfo=dt.UTC)
        session.save(update_fields=["opened_at"])
    return session


def give_credit(customer, amount: int) -> None:
    accounts.adjust(SYSTEM, customer, amount, "test credit")


def ledger_sum() -> int:
    return Entry.objects.aggregate(s=Sum("amount"))["s"] or 0


def call_revenue() -> int:
    return -ledger.raw_sum(ledger.REVENUE_CALLS)
