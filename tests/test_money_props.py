"""Properties of the one amount parser: what a locale writes, it reads back, and a grouped
number is never read as a different magnitude."""

from __future__ import annotations

import pytest
from babel.numbers import format_decimal
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ficha.core.money import Money, MoneyError

LOCALES = ["en", "fr", "es", "it", "pt", "de"]  # settings.LANGUAGES
CURRENCIES = ["XOF", "EUR", "KWD"]  # 0, 2 and 3 decimals
SPACES = ["\u202f", "\u00a0", " "]

amounts = st.integers(min_value=-(10**14), max_value=10**14)
locales = st.sampled_from(LOCALES)
currencies = st.sampled_from(CURRENCIES)


def test_every_language_of_the_console_is_covered():
    from django.conf import settings as django_settings

    assert sorted(code for code, _name in django_settings.LANGUAGES) == sorted(LOCALES)


@settings(max_examples=300, deadline=None)
@given(amounts, currencies, locales)
@example(1_000_000, "XOF", "en")
@example(-123456750, "EUR", "fr")
@example(1_000_250, "KWD", "de")
def test_what_a_locale_writes_it_reads_back(minor, currency, locale):
    m = Money(minor, currency)
    # with the currency's symbol, as every page shows money
    assert Money.parse(m.format(locale), currency, locale=locale, allow_negative=True) == m
    # figures only, grouped, as a form shows an amount back
    assert Money.parse(m.figures(locale), currency, locale=locale, allow_negative=True) == m
    # the code and the figures, as success messages say it
    understood = m.understood(locale)
    assert Money.parse(understood, currency, locale=locale, allow_negative=True) == m
    # and the API's form, whatever the language
    assert Money.parse(m.major_str(), currency, allow_negative=True) == m


@settings(max_examples=200, deadline=None)
@given(amounts, currencies, st.sampled_from(SPACES))
def test_any_kind_of_space_groups_where_the_language_groups_with_spaces(minor, currency,
                                                                         space):
    m = Money(minor, currency)
    typed = m.figures("fr").replace("\u202f", space)
    assert Money.parse(typed, currency, locale="fr", allow_negative=True) == m


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=10**12), st.sampled_from(["XOF", "EUR"]), locales,
       locales)
@example(1000, "XOF", "en", "fr")
@example(2000, "XOF", "de", "en")
@example(100_000, "EUR", "en", "de")
def test_a_grouped_number_is_never_read_as_another_magnitude(n, currency, written, read):
    """A whole number grouped the way one language writes it ("1,000", "1.000", "1 000"),
    read in any language, is that number or an error, never a thousandth of it. (For a
    currency with three decimals "1.000" is a real ambiguity between languages, so only
    currencies with fewer decimals are held to it across languages.)"""
    typed = format_decimal(n, format="#,##0", locale=written)
    try:
        got = Money.parse(typed, currency, locale=read)
    except MoneyError:
        return
    assert got == Money.parse(str(n), currency)


@settings(max_examples=300, deadline=None)
@given(amounts, currencies, locales, locales)
def test_an_amount_written_in_one_language_is_never_misread_in_another(minor, currency,
                                                                        written, read):
    """What a page shows in one language, typed in another: the same amount or an error;
    a different amount only where the amount has three decimals and the two languages
    swap "." and "," (e.g. KWD 1.000 in English is KWD 1.000 in German: a real ambiguity)."""
    m = Money(minor, currency)
    try:
        got = Money.parse(m.figures(written), currency, locale=read, allow_negative=True)
    except MoneyError:
        return
    assert got == m or m.exponent == 3


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789.,  \u202f\u00a0-+eE€$FCA", max_size=20), currencies,
       st.one_of(st.none(), locales))
@example("€", "EUR", "en")  # a currency sign alone
@example("-", "XOF", "fr")
@example("+€", "EUR", "pt")
@example("F\u202fCFA", "XOF", "en")
def test_anything_typed_is_an_amount_or_a_message(text, currency, locale):
    try:
        m = Money.parse(text, currency, locale=locale, allow_negative=True)
    except MoneyError as exc:
        assert str(exc)
        return
    # what was accepted reads back the same way
    assert Money.parse(m.figures(locale or "en") if locale else m.major_str(), currency,
                       locale=locale, allow_negative=True) == m


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("text", ["1e9", "1E9", "1e+3", "NaN", "inf", "Infinity", "-Infinity"])
def test_exponents_and_non_numbers_are_refused_in_every_language(locale, text):
    for currency in CURRENCIES:
        with pytest.raises(MoneyError):
            Money.parse(text, currency, locale=locale, allow_negative=True)
        with pytest.raises(MoneyError):
            Money.parse(text, currency, allow_negative=True)
