"""Parsed CDRs to rated calls (pure, no database): the step between ``cdr`` and the ledger.

For each :class:`~ficha.callshop.cdr.Cdr`: the dialled number is normalised with the
venue's dialing plan, matched in the deck's index at the call's start (answer time, else
start; venue local time) and rated on its billsec. Unanswered calls are kept at zero
cost, with their destination when it is known. An answered call whose number is not a
phone number, or has no rate, is returned as :class:`Unrated` with the reason — never
dropped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.utils.translation import gettext as _

from .cdr import Cdr
from .matching import DeckIndex, DialPlan, NumberError
from .rating import Terms


@dataclass(frozen=True, slots=True)
class RatedCdr:
    cdr: Cdr
    digits: str  # E.164 digits ("" when an unanswered call's number could not be read)
    terms: Terms | None  # None only for an unanswered call to an unknown destination
    billed_seconds: int
    cost: int  # minor units of ``currency``: what the ledger posts
    currency: str


@dataclass(frozen=True, slots=True)
class Unrated:
    cdr: Cdr
    reason: str


def call_time(record: Cdr, zone: dt.tzinfo | None = None) -> dt.datetime:
    """When the call is rated (answer, else start) as venue local wall-clock time.

    Naive PBX times are taken as the venue's local time; aware ones are converted to
    ``zone``.
    """
    when = record.answer or record.start
    if when.tzinfo is not None and zone is not None:
        return when.astimezone(zone).replace(tzinfo=None)
    return when.replace(tzinfo=None)


def rate_cdrs(records: Iterable[Cdr], index: DeckIndex, plan: DialPlan,
              zone: dt.tzinfo | None = None) -> Iterator[RatedCdr | Unrated]:
    currency = index.policy.currency
    for record in records:
        answered = record.answered
        try:
            digits = plan.normalise(record.dst)
        except NumberError as exc:
            if answered:
                yield Unrated(record, str(exc))
            else:
                yield RatedCdr(record, "", None, 0, 0, currency)
            continue
        found = index.cost(digits, record.billsec if answered else 0, call_time(record, zone))
        if found is None:
            if answered:
                yield Unrated(record, _("No rate for %(digits)s.") % {"digits": digits})
            else:
                yield RatedCdr(record, digits, None, 0, 0, currency)
            continue
        terms, billed, cost = found
        if not answered:
            billed, cost = 0, 0
        yield RatedCdr(record, digits, terms, billed, cost, currency)
