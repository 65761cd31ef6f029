"""Helpers shared by the tests/test_hotspot*.py files."""

from __future__ import annotations

import itertools

from django.db.models import Sum

from ficha.accounts import services as accounts
from ficha.core import audit
from ficha.hotspot import services as hs
from ficha.hotspot.models import Nas
from ficha.ledger import services as ledger
from ficha.ledger.models import Entry

_n = itertools.count(1)
OWNER = audit.Actor(source="test", label="test")


def make_nas(**fields):
    """A NAS at 127.0.0.1, or, when an active NAS has that address already (two NAS may
    not share one), at an address of its own (127.0.x.y)."""
    n = next(_n)
    fields.setdefault("name", f"nas{n}")
    if "address" not in fields:
        taken = Nas.objects.filter(active=True, address="127.0.0.1").exists()
        fields["address"] = f"127.0.{n // 250 % 250}.{n % 250 + 2}" if taken else "127.0.0.1"
    fields.setdefault("secret", "testing123")
    fields.setdefault("vendor", "mikrotik")
    return hs.create_nas(OWNER, **fields)


def make_plan(**fields):
    n = next(_n)
    fields.setdefault("name", f"plan{n}")
    fields.setdefault("price_per_hour", 600)
    fields.setdefault("increment_seconds", 60)
    fields.setdefault("is_default", True)
    return hs.create_plan(OWNER, **fields)


def give_credit(customer, amount: int) -> None:
    accounts.adjust(OWNER, customer, amount, "test credit")


def ledger_sum() -> int:
    return Entry.objects.aggregate(s=Sum("amount"))["s"] or 0


def hotspot_revenue() -> int:
    return ledger.balance(ledger.REVENUE_HOTSPOT)


def acct(status, sid="s1", t=0, i=0, o=0, ig=0, og=0, user="alice", **kw):
    return hs.AcctRequest(status=status, session_id=sid, username=user, session_time=t,
                          input_octets=i, output_octets=o, input_gigawords=ig,
                          output_gigawords=og, mac=kw.pop("mac", "AA-BB-CC-00-00-01"), **kw)


def post_json(client, url, body):
    """A JSON POST, as API clients send them."""
    return client.post(url, body, content_type="application/json")
