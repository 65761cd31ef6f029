"""Booth test helpers: a deck, booths, and calls that ring, get answered and end.

The calls are written the way the PBX-facing service leaves them (rate terms copied at
authorization, rated at the end), so the counter's tests do not depend on the API.
"""

from __future__ import annotations

import datetime as dt

from ficha.callshop import services as callshop
from ficha.callshop.models import Booth, BoothSession, Call
from ficha.core import audit, clock
from ficha.core.services import currency

# XOF a minute, 60/60: 61 s costs two minutes.
DECK = "225;Côte d'Ivoire;100\n22507;Côte d'Ivoire mobile;120\n33;France;150\n"


def make_deck(name: str = "walk-in"):
    return callshop.import_deck(audit.SYSTEM, DECK, name).deck


def make_booth(name: str = "Cabine 1", endpoint: str = "booth1", **kw) -> Booth:
    return Booth.objects.create(name=name, endpoint=endpoint, **kw)


def ring(session: BoothSession, dialled: str, *, deck=None, when=None) -> Call:
    """A call authorized on an open session (ringing): its rate terms are copied."""
    deck = deck or callshop.deck_for_price_group(session.booth.price_group)
    q = callshop.quote(deck, dialled, 0)
    t = q.rated.terms
    return Call.objects.create(
        booth=session.booth, session=session, dialled=dialled, digits=q.digits, deck=deck,
        prefix=t.prefix, destination=t.description, price=t.price, connect_fee=t.connect_fee,
        min_block=t.min_block, increment=t.increment, grace=t.grace,
        free_seconds=t.free_seconds, min_cost=t.min_cost, currency=currency(),
        started_at=when or clock.now())


def answer(call: Call, when: dt.datetime | None = None) -> Call:
    call.state = Call.State.ANSWERED
    call.answered_at = when or clock.now()
    call.save()
    return call


def end(call: Call, billsec: int) -> Call:
    rated = callshop.deck_index(call.deck).rate(call.digits, billsec) if call.deck else None
    call.state = Call.State.ENDED
    if call.answered_at is None and billsec:
        call.answered_at = call.started_at
    call.ended_at = (call.answered_at or call.started_at) + dt.timedelta(seconds=billsec)
    call.billsec = billsec
    call.billed_seconds = rated.billed_seconds if rated else 0
    call.cost = rated.cost if rated else 0
    call.disposition = "ANSWERED" if billsec else "NO ANSWER"
    call.save()
    return call


def call(session: BoothSession, dialled: str, billsec: int) -> Call:
    """A whole call: rings, is answered, ends after ``billsec`` seconds."""
    c = ring(session, dialled)
    if billsec:
        answer(c)
    return end(c, billsec)
