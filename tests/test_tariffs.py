"""The pricing engine: exact charges, rounded once, and what a credit buys."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ficha.tariffs.pricing import (
    MAX_SECONDS,
    Tariff,
    TariffError,
    billed_seconds,
    charge,
    explain,
    octets_for,
    seconds_for,
)


def test_time_is_billed_in_whole_increments():
    t = Tariff(price_per_hour=600, increment=300)  # 600 an hour, 5-minute steps
    assert billed_seconds(t, 0) == 0
    assert billed_seconds(t, 1) == 300
    assert billed_seconds(t, 300) == 300
    assert billed_seconds(t, 301) == 600
    assert charge(t, 1) == 50
    assert charge(t, 3600) == 600
    assert charge(t, 3601) == 650


def test_minimum_charge_applies_to_any_use_but_not_to_none():
    t = Tariff(price_per_hour=600, minimum=100, increment=60)
    assert charge(t, 0) == 0
    assert charge(t, 1) == 100  # 10 by time, raised to the minimum
    assert charge(t, 600) == 100
    assert charge(t, 660) == 110
    assert explain(t, 1).minimum_applied
    assert not explain(t, 660).minimum_applied


def test_rounded_once_half_up_for_two_decimal_currencies():
    t = Tariff(price_per_hour=100, increment=1)  # 1.00 EUR an hour
    assert charge(t, 18) == 1  # 0.5 cent → 1
    assert charge(t, 17) == 0  # 0.47 cent → 0
    # one rounding for the whole usage, not one per minute
    assert charge(t, 3600) == 100


def test_data_is_priced_per_megabyte():
    t = Tariff(price_per_mb=2, increment=60)
    assert charge(t, 0, 1_000_000) == 2
    assert charge(t, 0, 250_000) == 1  # 0.5 → 1
    assert charge(t, 0, 249_999) == 0
    both = Tariff(price_per_hour=300, price_per_mb=1, increment=60)
    assert charge(both, 3600, 5_000_000) == 305
    assert explain(both, 3600, 5_000_000).data_cost == Decimal(5)


def test_seconds_a_credit_buys():
    t = Tariff(price_per_hour=500, minimum=100, increment=300)
    assert seconds_for(t, 1000) == 7200
    assert seconds_for(t, 1040) == 7200  # 7500 s would cost 1042
    assert seconds_for(t, 1042) == 7500
    assert seconds_for(t, 99) == 0  # below the minimum
    assert seconds_for(t, 100) == 600  # 10 minutes cost 83.3, raised to the minimum
    assert seconds_for(Tariff(price_per_mb=1), 10) is None  # time is free
    assert seconds_for(Tariff(minimum=50), 10) == 0  # free time, but the minimum is not
    cheap = Tariff(price_per_hour=1, increment=1)
    assert seconds_for(cheap, 10**9) == MAX_SECONDS  # capped: about 68 years


def test_seconds_counts_data_already_used():
    t = Tariff(price_per_hour=600, price_per_mb=10, increment=60)
    assert seconds_for(t, 600) == 3600
    assert seconds_for(t, 600, octets=30_000_000) == 3600 - 1800  # 300 went on data


def test_octets_a_credit_buys():
    t = Tariff(price_per_mb=4)
    assert octets_for(t, 4) == 1_124_999  # 4.4999… rounds to 4
    assert charge(t, 0, 1_125_000) == 5
    assert octets_for(Tariff(price_per_hour=10), 10) is None


@pytest.mark.parametrize("bad", [
    {"price_per_hour": -1}, {"minimum": 1.5}, {"increment": 0}, {"increment": 86401},
    {"price_per_mb": True}, {"price_per_hour": 10**13},
])
def test_nonsense_tariffs_are_refused(bad):
    with pytest.raises(TariffError):
        Tariff(**bad)


tariffs = st.builds(
    Tariff,
    price_per_hour=st.integers(0, 100_000),
    price_per_mb=st.integers(0, 1_000),
    minimum=st.integers(0, 5_000),
    increment=st.sampled_from([1, 10, 30, 60, 300, 900, 3600]),
)


@settings(max_examples=300, deadline=None)
@given(tariffs, st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**10),
       st.integers(0, 10**10))
def test_charge_is_monotone_in_time_and_data(t, s1, s2, b1, b2):
    lo_s, hi_s = sorted((s1, s2))
    lo_b, hi_b = sorted((b1, b2))
    assert charge(t, lo_s, lo_b) <= charge(t, hi_s, hi_b)


@settings(max_examples=300, deadline=None)
@given(tariffs.filter(lambda t: t.charges_time), st.integers(0, 10**7),
       st.integers(0, 10**9))
def test_bought_seconds_never_cost_more_than_the_credit(t, credit, octets):
    s = seconds_for(t, credit, octets=octets)
    assert s % t.increment == 0
    assert charge(t, s, octets) <= credit or s == 0
    if s == 0:
        assert charge(t, t.increment, octets) > credit
    elif s + t.increment <= MAX_SECONDS:  # else the cap (68 years) was reached
        assert charge(t, s + t.increment, octets) > credit


@settings(max_examples=200, deadline=None)
@given(tariffs.filter(lambda t: t.charges_data), st.integers(0, 10**6))
def test_bought_octets_never_cost_more_than_the_credit(t, credit):
    b = octets_for(t, credit)
    assert charge(t, 0, b) <= credit
    assert charge(t, 0, b + 1) > credit
