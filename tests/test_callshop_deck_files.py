"""Deck CSV files without the database: whatever is written reads back the same."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from ficha.callshop import decks, rating

micro = st.integers(0, 10**12)
seconds = st.integers(0, 3600)
tiers = st.dictionaries(st.integers(1, 3600), micro, max_size=3).map(
    lambda d: rating.format_tiers(rating.Tier(s, p) for s, p in sorted(d.items())))
windows = st.lists(
    st.tuples(st.frozensets(st.integers(0, 6), min_size=1), st.integers(0, 23 * 60 + 59),
              st.integers(1, 24 * 60)).filter(lambda w: w[1] != w[2]),
    max_size=2).map(lambda ws: rating.format_windows(rating.Window(*w) for w in ws))
dates = st.one_of(st.none(), st.dates(dt.date(2020, 1, 1), dt.date(2035, 12, 31)))
description = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")),
                      max_size=40).map(str.strip)
row = st.tuples(st.from_regex(r"\A[1-9][0-9]{0,14}\Z"), description, micro, micro, seconds,
                st.integers(1, 3600), seconds, seconds, micro, tiers, windows, dates, dates)


@settings(max_examples=150, deadline=None)
@given(st.lists(row, min_size=1, max_size=20, unique_by=lambda r: r[0]))
def test_an_exported_deck_reads_back_to_the_same_rows(rows):
    rows = [r if not (r[11] and r[12] and r[12] < r[11]) else (*r[:12], None) for r in rows]
    parsed = decks.parse(decks.write(rows))
    assert parsed.errors == []
    assert parsed.rows == rows


def test_a_file_with_only_a_header_or_nothing_holds_no_rates():
    for text in ("prefix;description;price\n", "", "\n# comment only\n"):
        parsed = decks.parse(text)
        assert [e.message for e in parsed.errors] == ["The file holds no rates."]


def test_decimal_comma_in_a_comma_separated_file_must_be_quoted():
    parsed = decks.parse('33,France,"0,05"\n44,UK,0,04\n')
    assert parsed.rows[0][2] == 50_000
    assert [(e.row, e.column) for e in parsed.errors] == [(2, "")]  # 4 fields: ambiguous


def test_a_windows_1252_file_is_read():
    data = "225;Côte d'Ivoire;0,20\n".encode("cp1252")
    assert decks.parse(decks.decode(data)).rows[0][1] == "Côte d'Ivoire"


def test_the_same_bad_value_is_reported_on_every_row_that_has_it():
    parsed = decks.parse("prefix;price;billing\n33;0.1;60-60\n34;0.1;60/60\n35;0.1;60-60\n")
    assert [(e.row, e.column) for e in parsed.errors] == [(2, "billing"), (4, "billing")]
    assert [r[0] for r in parsed.rows] == ["34"]


def test_prefixes_with_a_dialling_prefix_are_refused():
    parsed = decks.parse("0033;France;0.05\n+44;UK;0.04\n")
    assert [(e.row, e.column) for e in parsed.errors] == [(1, "prefix")]
    assert "not 0033" in parsed.errors[0].message
    assert [r[0] for r in parsed.rows] == ["44"]


def test_a_byte_order_mark_does_not_hide_the_header():
    parsed = decks.parse("\ufeffprefix;price\n33;0.1\n")
    assert parsed.header and parsed.rows[0][:3] == ("33", "", 100_000)
