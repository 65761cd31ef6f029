"""Parsed CDRs to rated calls: normalised, matched at the call's time, rated on billsec."""

from __future__ import annotations

import datetime as dt

import pytest

from ficha.callshop import cdr, pricing
from ficha.callshop import services as callshop
from ficha.callshop.matching import DeckIndex, DialPlan
from ficha.callshop.models import Deck
from ficha.callshop.rating import Policy, Terms, parse_micro, parse_windows
from ficha.core import audit

LINE = ('"booth3","101","{dst}","callshop","","PJSIP/booth3-0000001a","","Dial","",'
        '"{start}","{answer}","2026-12-05 10:10:00",{duration},{billsec},"{disp}",'
        '"DOCUMENTATION","{uid}"\n')


def line(dst="0033140000000", start="2026-12-05 10:00:00", answer="2026-12-05 10:00:05",
         duration=70, billsec=65, disp="ANSWERED", uid="1.1"):
    return LINE.format(dst=dst, start=start, answer=answer, duration=duration,
                       billsec=billsec, disp=disp, uid=uid)


INDEX = DeckIndex([
    Terms("33", "France", parse_micro("0.12")),  # 60/60
    Terms("33", "France week-end", parse_micro("0.06"), windows=parse_windows("sat+sun")),
], Policy("EUR", 2))
PLAN = DialPlan("00", "0", "33")


def rate(text: str):
    records = [r for r in cdr.parse_text(text) if isinstance(r, cdr.Cdr)]
    return list(pricing.rate_cdrs(records, INDEX, PLAN))


def test_an_answered_call_is_rated_on_billsec_at_its_answer_time():
    # Saturday 5 Dec 2026: the week-end row applies; 65 s at 60/60 = 120 s → 0.12 EUR.
    [weekend] = rate(line())
    assert isinstance(weekend, pricing.RatedCdr)
    assert weekend.digits == "33140000000" and weekend.terms.description == "France week-end"
    assert (weekend.billed_seconds, weekend.cost, weekend.currency) == (120, 12, "EUR")
    # Monday 7 Dec: the normal row, 0.24 EUR.
    [monday] = rate(line(start="2026-12-07 10:00:00", answer="2026-12-07 10:00:05"))
    assert monday.terms.description == "France" and monday.cost == 24


def test_a_national_number_uses_the_trunk_prefix():
    [call] = rate(line(dst="0140000000"))
    assert call.digits == "33140000000" and call.cost == 12


def test_unanswered_calls_are_kept_at_zero_cost_even_to_unknown_places():
    calls = rate(line(answer="", billsec=0, disp="NO ANSWER")
                 + line(dst="0044207000000", answer="", billsec=0, disp="BUSY", uid="1.2")
                 + line(dst="*97", answer="", billsec=0, disp="FAILED", uid="1.3"))
    assert [type(c) for c in calls] == [pricing.RatedCdr] * 3
    assert [(c.cost, c.billed_seconds) for c in calls] == [(0, 0)] * 3
    assert calls[0].terms is not None and calls[1].terms is None and calls[2].digits == ""


@pytest.mark.parametrize("dst,why", [("0044207000000", "No rate for 44207000000"),
                                     ("*97", "not a phone number")])
def test_answered_calls_that_cannot_be_rated_are_reported_with_the_reason(dst, why):
    [call] = rate(line(dst=dst))
    assert isinstance(call, pricing.Unrated)
    assert why in call.reason and call.cdr.uid == "1.1"


def test_aware_times_are_converted_to_the_venue_zone():
    record = cdr.parse_text(line())[0]
    aware = dt.datetime(2026, 12, 6, 23, 30, tzinfo=dt.UTC)  # Sunday 23:30 UTC
    shifted = pricing.call_time(
        cdr.Cdr(**{**{f: getattr(record, f) for f in record.__slots__}, "answer": aware}),
        dt.timezone(dt.timedelta(hours=1)))
    assert shifted == dt.datetime(2026, 12, 7, 0, 30)  # Monday 00:30 local


@pytest.mark.django_db
def test_the_service_rates_with_the_venue_plan_and_a_stored_deck(owner):
    actor = audit.Actor(user=owner, source="test")
    callshop.update_dialing_plan(actor, international_prefix="00", national_prefix="0",
                                 country_code="33")
    callshop.import_deck(actor, "33;France;120\n", "d")
    records = [r for r in cdr.parse_text(line(dst="0140000000")) if isinstance(r, cdr.Cdr)]
    [call] = callshop.rate_cdrs(Deck.objects.get(name="d"), records)
    assert call.currency == Deck.objects.get(name="d").currency
    assert call.billed_seconds == 120 and call.cost == 240
