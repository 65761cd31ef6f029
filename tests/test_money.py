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
    ("12.50", "EUR", 1250),
    ("12.5", "EUR", 1250),
    ("0.125", "KWD", 125),
    ("2.000", "KWD", 2000),  # "." is always the decimal point: two dinars
    (" 7 ", "EUR", 700),
])
def test_parse_the_locale_independent_form(text, currency, minor):
    """Without a locale (API, command line): digits, "." for decimals, no grouping."""
    assert Money.parse(text, currency) == Money(minor, currency)


@pytest.mark.parametrize("text,currency,why", [
    ("12.5", "XOF", "no decimals"),
    ("2.000", "XOF", "ambiguous"),
    ("1.234", "EUR", "at most 2 decimals"),
    ("1,000", "XOF", "without grouping"),
    ("1 000", "XOF", "without grouping"),
    ("12,50", "EUR", "“.” as the decimal point"),
    ("abc", "EUR", "not an amount"),
    ("-5", "EUR", "negative"),
    ("+5", "EUR", "without a sign"),
    ("NaN", "EUR", "in figures"),
    ("Infinity", "EUR", "in figures"),
    ("", "EUR", "Enter an amount"),
    ("1e30", "EUR", "Exponents"),
    ("1e3", "XOF", "Exponents"),
    ("1E9", "XOF", "Exponents"),
    ("9" * 16, "XOF", "too large"),
    ("1" * 100, "XOF", "too long"),
])
def test_parse_refuses_with_a_message(text, currency, why):
    with pytest.raises(MoneyError) as err:
        Money.parse(text, currency)
    assert why in str(err.value)


@pytest.mark.parametrize("text,currency,locale,minor", [
    ("1,000", "XOF", "en", 1000),  # the bug of issue 6: it was read as 1
    ("1,000,000", "XOF", "en", 1_000_000),
    ("1 000", "XOF", "en", 1000),  # a space groups in every language
    ("12.50", "EUR", "en", 1250),
    ("€1,234.50", "EUR", "en", 123450),
    ("F\u202fCFA1,500", "XOF", "en", 1500),
    ("1500 XOF", "XOF", "en", 1500),
    ("1 000", "XOF", "fr", 1000),
    ("1\u202f000", "XOF", "fr", 1000),
    ("1\u00a0000", "XOF", "fr", 1000),
    ("12,50", "EUR", "fr", 1250),
    ("12,50 €", "EUR", "fr", 1250),
    ("2.000", "XOF", "de", 2000),
    ("1.234,5", "EUR", "de", 123450),
    ("1.000,250", "KWD", "de", 1_000_250),
    ("٣٠٠", "XOF", "fr", 300),  # Arabic-Indic digits
])
def test_parse_what_people_type_in_their_language(text, currency, locale, minor):
    assert Money.parse(text, currency, locale=locale) == Money(minor, currency)


@pytest.mark.parametrize("text,currency,locale,why", [
    ("1,000", "XOF", "fr", "XOF has no decimals"),  # "," is the decimal comma in French
    ("1.000", "XOF", "en", "XOF has no decimals"),
    ("1,000", "XOF", "de", "XOF has no decimals"),
    ("12,50", "EUR", "en", "“.” marks decimals"),  # not a well-formed group
    ("12.50", "EUR", "de", "“,” marks decimals"),
    ("1.000", "XOF", "fr", "a space separates"),
    ("1,00,000", "XOF", "en", "groups of three"),
    ("0,500", "XOF", "en", "groups of three"),
    ("1,000 000", "XOF", "en", "groups of three"),
    ("12.505", "EUR", "en", "at most 2 decimals"),
    ("1e9", "XOF", "en", "Exponents"),
    ("1,5e3", "EUR", "fr", "Exponents"),
    ("-5", "XOF", "en", "negative"),
    ("nan", "EUR", "fr", "in figures"),
    ("12,50 $", "EUR", "fr", "not an amount"),
])
def test_parse_in_a_language_refuses_what_it_cannot_be_sure_of(text, currency, locale, why):
    with pytest.raises(MoneyError) as err:
        Money.parse(text, currency, locale=locale)
    assert why in str(err.value)


def test_the_error_says_what_a_group_would_have_meant():
    with pytest.raises(MoneyError) as err:
        Money.parse("1,000", "XOF", locale="fr")
    assert "“1,000”" in str(err.value) and "1000 or 1\u202f000" in str(err.value)


@pytest.mark.parametrize(("text", "currency", "said"), [
    ("12,5", "XOF", "a 1 chiffre après"),  # one digit: singular
    ("12,55", "XOF", "a 2 chiffres après"),
    ("1,234", "EUR", "au plus 2 décimales"),
])
def test_the_digit_counts_are_said_in_the_right_number(text, currency, said):
    from django.utils import translation

    with translation.override("fr"), pytest.raises(MoneyError) as err:
        Money.parse(text, currency, locale="fr")
    assert said in str(err.value)


@pytest.mark.parametrize(("minor", "currency", "locale", "shown"), [
    (1500, "XOF", "en", "F\u202fCFA\u00a01,500"),  # babel alone: "F CFA1,500"
    (1500, "XOF", "fr", "1\u202f500\u00a0F\u202fCFA"),
    (1250, "CHF", "en", "CHF\u00a012.50"),
    (-1250, "CHF", "en", "-CHF\u00a012.50"),
    (1250, "EUR", "en", "€12.50"),  # a sign needs no space
    (1250, "EUR", "pt", "€\u00a012,50"),
])
def test_a_symbol_in_letters_is_kept_apart_from_the_digits(minor, currency, locale, shown):
    assert Money(minor, currency).format(locale) == shown
    assert Money.parse(shown, currency, locale=locale, allow_negative=True).minor == minor


def test_signed_amounts_where_allowed():
    assert Money.parse("-1,500", "XOF", locale="en", allow_negative=True).minor == -1500
    assert Money.parse("−1 500", "XOF", locale="fr", allow_negative=True).minor == -1500
    assert Money.parse("+200", "XOF", allow_negative=True).minor == 200
    assert Money.parse("-12.50", "EUR", allow_negative=True).minor == -1250


def test_what_was_understood_is_said_back():
    m = Money.parse("1,000,000", "XOF", locale="en")
    assert m.understood("en") == "XOF\u00a01,000,000"
    assert m.understood("fr") == "XOF\u00a01\u202f000\u202f000"
    assert "West African CFA francs" in m.in_words("en")
    assert Money(1250, "EUR").figures("de") == "12,50"


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
