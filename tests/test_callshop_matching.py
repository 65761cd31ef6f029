"""Dialled numbers to E.164 digits, and the longest-prefix match (pure, no database)."""

from __future__ import annotations

import datetime as dt

import pytest

from ficha.callshop.matching import DeckIndex, DialPlan, NumberError
from ficha.callshop.rating import Policy, Terms, parse_micro, parse_windows

EUR = Policy("EUR", 2)


def row(prefix: str, name: str, price: str = "0.10", **kw) -> Terms:
    return Terms(prefix=prefix, description=name, price=parse_micro(price), **kw)


DECK = [row("33", "France"), row("336", "France mobile", "0.20"),
        row("3367", "France mobile (Orange)", "0.25"), row("225", "Côte d'Ivoire", "0.30"),
        row("2250", "Côte d'Ivoire fixed", "0.35"), row("1", "NANP")]


@pytest.mark.parametrize("digits,prefix", [
    ("33140000000", "33"), ("33612345678", "336"), ("33671234567", "3367"),
    ("2250701020304", "2250"), ("2251234", "225"), ("12125550100", "1"), ("336", "336"),
])
def test_longest_prefix_wins(digits, prefix):
    assert DeckIndex(DECK, EUR).match(digits).prefix == prefix


def test_no_match_is_none_not_an_error():
    index = DeckIndex(DECK, EUR)
    assert index.match("44207000000") is None
    assert index.rate("44207000000", 60) is None
    costs = index.cost_many([("44207000000", 60), ("33140000000", 60)])
    assert costs.terms[0] is None and costs.terms[1].prefix == "33"


def test_a_time_restricted_row_applies_only_in_its_window_and_falls_back_otherwise():
    offpeak = row("33", "France off-peak", "0.05", windows=parse_windows("sat+sun"))
    later = row("336", "France mobile (new price)", "0.15", valid_from=dt.date(2027, 1, 1))
    index = DeckIndex([*DECK, offpeak, later], EUR)
    saturday = dt.datetime(2026, 12, 5, 12, 0)
    monday = dt.datetime(2026, 12, 7, 12, 0)
    assert index.match("33140000000", saturday).description == "France off-peak"
    assert index.match("33140000000", monday).description == "France"
    # The dated row is not valid yet: its prefix's plain row applies.
    assert index.match("33612345678", monday).description == "France mobile"
    assert index.match("33612345678", dt.datetime(2027, 1, 2, 9)).price == parse_micro("0.15")
    # The batch path picks the same rows.
    costs = index.cost_many([("33140000000", 60)], saturday)
    assert costs.terms[0].description == "France off-peak" and costs.cost[0] == 5


def test_a_prefix_whose_only_row_is_out_of_date_falls_back_to_a_shorter_prefix():
    expired = row("3367", "Orange promo", "0.01", valid_to=dt.date(2020, 1, 1))
    index = DeckIndex([row("33", "France"), row("336", "France mobile", "0.20"), expired], EUR)
    assert index.match("33671234567", dt.datetime(2026, 12, 2, 10)).prefix == "336"


@pytest.mark.parametrize("dialled,digits", [
    ("0033 1 40 00 00 00", "33140000000"),
    ("+33 (0)1 40 00 00 00", "33140000000"),
    ("+33 1 40 x", None),
    ("+33140000000", "33140000000"),
    ("0707080910", "2250707080910"),  # national number in Côte d'Ivoire: no trunk prefix
    ("27 20 30 40 50", "2252720304050"),
])
def test_numbers_are_normalised_with_the_venue_plan_without_a_trunk_prefix(dialled, digits):
    plan = DialPlan(international_prefix="00", national_prefix="", country_code="225")
    if digits is None:
        with pytest.raises(NumberError):
            plan.normalise(dialled)
    else:
        assert plan.normalise(dialled) == digits


@pytest.mark.parametrize("dialled,digits", [
    ("0140000000", "33140000000"),  # national trunk "0" replaced by the country code
    ("00225 07 07 08 09 10", "2250707080910"),
    ("+1-212-555-0100", "12125550100"),
    ("01.40.00.00.00", "33140000000"),
])
def test_numbers_are_normalised_with_a_trunk_prefix(dialled, digits):
    assert DialPlan("00", "0", "33").normalise(dialled) == digits


def test_north_american_international_prefix():
    plan = DialPlan("011", "1", "1")
    assert plan.normalise("011442070000000") == "442070000000"
    assert plan.normalise("12125550100") == "12125550100"


@pytest.mark.parametrize("dialled", ["*97", "s", "", "sip:alice@example.org", "+",
                                     "0" * 20, "00"])
def test_things_that_are_not_phone_numbers_are_refused(dialled):
    with pytest.raises(NumberError):
        DialPlan("00", "0", "33").normalise(dialled)


def test_a_plan_with_the_same_international_and_trunk_prefix_is_refused():
    with pytest.raises(NumberError):
        DialPlan("0", "0", "33")
    with pytest.raises(NumberError):
        DialPlan("00", "0", "0033")
