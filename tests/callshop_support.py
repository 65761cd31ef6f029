"""Booth test helpers: a deck, booths, and calls that ring, get answered and end.

Calls go through the PBX-facing services (``callshop.authorize`` and ``end_call``), as the
API's /api/v1/calls endpoints call them.
"""

from __future__ import annotations

import datetime as dt

from ficha.callshop import services as callshop
from ficha.callshop.models import Booth, BoothSession, Call
from ficha.core import audit, clock

# XOF a minute, 60/60: 61 s costs two minutes.
DECK = "225;Côte d'Ivoire;100\n22507;Côte d'Ivoire mobile;120\n33;France;150\n"


def make_deck(name: str = "walk-in"):
    return callshop.import_deck(audit.SYSTEM, DECK, name).deck


def make_booth(name: str = "Cabine 1", endpoint: str = "booth1", **kw) -> Booth:
    return Booth.objects.create(name=name, endpoint=endpoint, **kw)


def ring(session: BoothSession, dialled: str, *, when=None) -> Call:
    """The PBX asks to place a call from the session's booth (the real authorization
    service): the call is on the session, ringing or talking, until it ends."""
    booth = session.booth
    decision = callshop.authorize(booth.endpoint or booth.accountcode, dialled)
    assert decision.allowed and decision.postpaid, decision.message
    call = decision.call
    if when is not None:
        Call.objects.filter(pk=call.pk).update(started_at=when)
        call.refresh_from_db()
    return call


def answer(call: Call, when: dt.datetime | None = None) -> Call:
    """Mark the call answered (a PBX that reports answer times)."""
    call.state = Call.State.ANSWERED
    call.answered_at = when or clock.now()
    call.save(update_fields=["state", "answered_at"])
    return call


def end(call: Call, billsec: int) -> Call:
    """The PBX ends the call with its talk time (the real end service: rated once)."""
    callshop.end_call(call.pk, billsec)
    call.refresh_from_db()
    return call


def call(session: BoothSession, dialled: str, billsec: int) -> Call:
    """A whole call: authorized on the session, then ended after ``billsec`` seconds."""
    return end(ring(session, dialled), billsec)
