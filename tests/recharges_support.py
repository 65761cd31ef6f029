"""Helpers shared by the tests/test_recharges*.py files."""

from __future__ import annotations

import itertools

from django.db.models import Q, Sum

from ficha.ledger import services as ledger
from ficha.ledger.models import Entry
from ficha.recharges.models import Recharge

S = Recharge.Status
_ips = itertools.count(1)


def fresh_source(door: str = "portal", **kw):
    """A Source nobody has used yet, so throttling does not interfere."""
    from ficha.recharges.services import Source

    n = next(_ips)
    kw.setdefault("ip", f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}")
    return Source(door=door, **kw)


def owed_face() -> int:
    """Face value the shop still owes: sold, unused, not moved to breakage."""
    return (
        Recharge.objects.filter(
            Q(status=S.SOLD)
            | Q(status=S.EXPIRED, sold_at__isnull=False, breakage_transaction__isnull=True)
        ).aggregate(s=Sum("amount"))["s"]
        or 0
    )


def assert_books_balanced() -> None:
    """Every transaction sums to zero and the liability is what the codes say."""
    unbalanced = (
        Entry.objects.values("transaction_id").annotate(s=Sum("amount")).exclude(s=0)
    )
    assert not unbalanced.exists(), list(unbalanced[:5])
    assert (Entry.objects.aggregate(s=Sum("amount"))["s"] or 0) == 0
    assert ledger.balance(ledger.RECHARGE_LIABILITY) == owed_face()


def sold_face() -> int:
    """Face value of every code that was sold and not voided or unsold."""
    return (
        Recharge.objects.filter(sold_at__isnull=False).exclude(status=S.VOID)
        .aggregate(s=Sum("amount"))["s"]
        or 0
    )


def credits_from_codes() -> int:
    return Recharge.objects.filter(status=S.USED).aggregate(s=Sum("amount"))["s"] or 0
