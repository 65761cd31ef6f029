"""The rate tool's view of the longest-prefix match: every prefix tried, the row chosen —
always the row ``match`` and the batch path pick — and how a number was read (pure)."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from ficha.callshop.matching import DeckIndex, DialPlan
from ficha.callshop.rating import Policy, Terms, parse_micro, parse_windows

EUR = Policy("EUR", 2)


def row(prefix: str, name: str, price: str = "0.10", **kw) -> Terms:
    return Terms(prefix=prefix, description=name, price=parse_micro(price), **kw)


DECK = [
    row("33", "France"),
    row("336", "France mobile", "0.20"),
    row("3367", "Orange", "0.25"),
    row("225", "Côte d'Ivoire", "0.30"),
    row("33", "France week-end", "0.05", windows=parse_windows("sat+sun")),
    row("3361", "Old promo", "0.01", valid_to=dt.date(2020, 1, 1)),
]
INDEX = DeckIndex(DECK, EUR)
MONDAY = dt.datetime(2026, 12, 7, 12, 0)
SATURDAY = dt.datetime(2026, 12, 5, 12, 0)


def test_the_lookup_lists_the_prefixes_tried_longest_first_and_where_it_stopped():
    terms, tried = INDEX.lookup("33612345678", MONDAY)
    assert terms.description == "France mobile"
    assert [c.prefix for c in tried] == ["3361", "336"]  # lengths 4 then 3; stops at 336
    assert tried[0].rows[0].description == "Old promo" and tried[0].applies == (False,)
    assert tried[0].chosen is None and tried[1].chosen is terms


def test_a_prefix_missing_from_the_deck_is_listed_with_no_rows():
    terms, tried = INDEX.lookup("44207000000", MONDAY)
    assert terms is None
    assert [c.prefix for c in tried] == ["4420", "442", "44"] and all(not c.rows for c in tried)


def test_a_windowed_row_shows_whether_it_applies():
    terms, tried = INDEX.lookup("33140000000", SATURDAY)
    assert terms.description == "France week-end"
    last = tried[-1]
    assert [t.description for t in last.rows] == ["France week-end", "France"]
    assert last.applies == (True, True)
    _terms, tried = INDEX.lookup("33140000000", MONDAY)
    assert tried[-1].applies == (False, True) and tried[-1].chosen.description == "France"


@given(
    digits=st.text("0123456789", min_size=1, max_size=15),
    when=st.sampled_from([None, MONDAY, SATURDAY]),
)
def test_the_lookup_chooses_what_match_and_the_batch_path_choose(digits, when):
    terms, _tried = INDEX.lookup(digits, when)
    assert terms == INDEX.match(digits, when)
    assert terms == INDEX.cost_many([(digits, 60)], when).terms[0]


def test_the_plan_says_which_rule_read_the_number():
    plan = DialPlan("00", "0", "33")
    assert plan.read("+44 20 7000 0000") == ("442070000000", "plus")
    assert plan.read("0044207000000") == ("44207000000", "international")
    assert plan.read("01 40 00 00 00") == ("33140000000", "national")
    assert plan.read("140000000") == ("33140000000", "local")
