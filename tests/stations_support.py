"""Helpers shared by the tests/test_stations*.py files."""

from __future__ import annotations

import datetime as dt
import itertools

from django.db.models import Sum

from ficha.accounts import services as accounts
from ficha.core import audit
from ficha.ledger import services as ledger
from ficha.ledger.models import Entry
from ficha.stations import services as st

_n = itertools.count(1)
OWNER = audit.Actor(source="test", label="test")
T0 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)  # a Monday


def make_station(**fields) -> st.Station:
    n = next(_n)
    fields.setdefault("name", f"PC-{n:02d}")
    fields.setdefault("col", 1 + n % 10)
    fields.setdefault("row", 1 + n // 10 % 10)
    return st.create_station(OWNER, **fields)


def give_credit(customer, amount: int) -> None:
    accounts.adjust(OWNER, customer, amount, "test credit")


def ledger_sum() -> int:
    return Entry.objects.aggregate(s=Sum("amount"))["s"] or 0


def cafe_revenue() -> int:
    return ledger.balance(ledger.REVENUE_CAFE)


def balance(customer) -> int:
    return accounts.balance(customer)


def door_up(now: dt.datetime) -> None:
    """The link door has been running for a while and beats at ``now``."""
    st.door_started(now - dt.timedelta(minutes=5))
    st.door_beat(now)
