from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ficha.core.money import Money, MoneyError, exponent


def test_exponents_come_from_cldr():
    assert exponent("XOF") == 0
    assert exponent("EUR") == 2
    assert exponent("KWD") == 3


@pytest.mark.parametrize("text,currency,minor", [
    ("1500", "XOF", 1500),
    ("1 500", "XOF", 1500),
    ("12.50", "EUR", 1250),
    ("12,5", "EUR", 1250),
    ("0.125", "KWD", 125),
    (" 7 ", "EUR", 700),
])
def test_parse_what_people_type(text, currency, minor):
    assert Money.parse(text, currency) == Money(minor, currency)


@pytest.mark.parametrize("text,currency", [
    ("12.5", "XOF"),  # XOF has no decimals
    ("1.234", "EUR"),
    ("abc", "EUR"),
    ("-5", "EUR"),
    ("NaN", "EUR"),
    ("Infinity", "EUR"),
    ("", "EUR"),
    ("1e30", "EUR"),
])
def test_parse_refuses_with_a_message(text, currency):
    with pytest.raises(MoneyError) as err:
        Money.parse(text, currency)
    assert str(err.value)


def test_no_floats_and_no_currency_mixing():
    with pytest.raises(TypeError):
        Money(1.5, "EUR")
    with pytest.raises(MoneyError):
        Money(1, "EUR") + Money(1, "XOF")
    with pytest.raises(MoneyError):
        Money(1, "ZZZ")


def test_format_follows_locale_and_exponent():
    assert Money(1250, "EUR").format("fr") == "12,50\u00a0€"
    assert Money(1250, "EUR").format("en") == "€12.50"
    assert "1,500" in Money(1500, "XOF").format("en") and "." not in Money(1500, "XOF").format("en")
    assert Money(1500, "KWD").major_str() == "1.500"


@given(st.integers(min_value=-10**14, max_value=10**14), st.sampled_from(["XOF", "EUR", "KWD"]))
def test_major_str_round_trips(minor, currency):
    m = Money(minor, currency)
    assert Money.parse(m.major_str(), currency, allow_negative=True) == m
    assert m.to_decimal() == Decimal(minor).scaleb(-exponent(currency))
