"""Call rating: the formula of domain-notes §4, exact, rounded once (pure, no database)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ficha.callshop import rating
from ficha.callshop.matching import DeckIndex
from ficha.callshop.rating import (
    DOWN,
    HALF_EVEN,
    HALF_UP,
    UP,
    Policy,
    RatingError,
    Terms,
    Tier,
    billed_seconds,
    parse_micro,
    rate_call,
)

XOF = Policy("XOF", 0)
EUR = Policy("EUR", 2)
EUR_WHOLE = Policy("EUR", 2, whole_duration=True)


def terms(**kw) -> Terms:
    base = {"prefix": "33", "description": "France", "price": parse_micro("0.10")}
    base.update(kw)
    return Terms(**base)


# --- worked examples, computed by hand ---------------------------------------------------
def test_per_minute_billing_charges_each_started_minute():
    # 60/60 at 150 XOF a minute: 61 s is two started minutes = 300 XOF.
    t = terms(price=parse_micro("150"), min_block=60, increment=60)
    assert rate_call(t, 61, XOF).billed_seconds == 120
    assert rate_call(t, 61, XOF).cost == 300
    assert rate_call(t, 60, XOF).cost == 150
    assert rate_call(t, 1, XOF).cost == 150


def test_block_convention_and_whole_duration_convention_differ_when_block_is_off_grid():
    # m = 30, i = 20, d = 35.  Block convention: 30 + ceil((35 - 30)/20)*20 = 30 + 20 = 50 s.
    # Whole-duration (A2Billing/MagnusBilling): ceil(35/20)*20 = 40 s.
    t = terms(price=parse_micro("0.60"), min_block=30, increment=20)
    block = rate_call(t, 35, EUR)
    whole = rate_call(t, 35, EUR_WHOLE)
    assert block.billed_seconds == 50
    assert whole.billed_seconds == 40
    # 0.60 a minute = 0.01 a second: 50 s = 0.50 EUR, 40 s = 0.40 EUR.
    assert block.cost == 50
    assert whole.cost == 40


def test_both_conventions_agree_when_the_block_is_a_multiple_of_the_increment():
    # 30/6: d = 37 → block: 30 + ceil(7/6)*6 = 42; whole: ceil(37/6)*6 = 42.
    t = terms(min_block=30, increment=6)
    assert billed_seconds(t, 37) == 42
    assert billed_seconds(t, 37, whole_duration=True) == 42


def test_grace_free_seconds_connect_fee_and_minimum_cost():
    # g = 5, f = 10, m/i = 60/1, c = 0.05, r = 0.12, k = 0.20.
    t = terms(price=parse_micro("0.12"), connect_fee=parse_micro("0.05"), grace=5,
              free_seconds=10, min_block=60, increment=1, min_cost=parse_micro("0.20"))
    # 5 s ≤ grace: free, no connect fee, no minimum.
    assert rate_call(t, 5, EUR).cost == 0
    # 8 s: past grace, 8 - 10 < 0 → 0 billed; cost = c = 0.05 < k → 0.20.
    assert rate_call(t, 8, EUR).billed_seconds == 0
    assert rate_call(t, 8, EUR).cost == 20
    # 100 s: d' = 90 → 60 + 30 = 90 s billed; 0.05 + 0.12*90/60 = 0.05 + 0.18 = 0.23.
    r = rate_call(t, 100, EUR)
    assert (r.billed_seconds, r.cost) == (90, 23)
    assert r.money.major_str() == "0.23"


def test_tiers_are_summed_per_tier():
    # 0.10/min for the first 60 s, 0.06 from second 60, 0.03 from second 300; 1/1 billing.
    # 400 s: 60 s × 0.10/60 + 240 s × 0.06/60 + 100 s × 0.03/60 = 0.10 + 0.24 + 0.05 = 0.39.
    t = terms(price=parse_micro("0.10"), min_block=1, increment=1,
              tiers=(Tier(60, parse_micro("0.06")), Tier(300, parse_micro("0.03"))))
    assert rate_call(t, 400, EUR).cost == 39
    # 30 s stays in the first tier: 0.05.
    assert rate_call(t, 30, EUR).cost == 5


def test_rounded_once_per_call_not_per_step():
    # 0.013/min, 1/1, 7 s: exact 0.013*7/60 = 0.0015166… → 0.00 EUR (half-up), and a
    # connect fee of 0.004: exact 0.0055166… → 0.01. Rounding each part first would give
    # 0.00 + 0.00 = 0.00.
    t = terms(price=parse_micro("0.013"), min_block=1, increment=1,
              connect_fee=parse_micro("0.004"))
    assert rate_call(t, 7, EUR).cost == 1


@pytest.mark.parametrize("mode,expected", [(HALF_UP, 3), (HALF_EVEN, 2), (UP, 3), (DOWN, 2)])
def test_rounding_modes_on_an_exact_half(mode, expected):
    # 0.025 EUR exactly (1.5/min for 1 s): half-up 0.03, half-even 0.02, up 0.03, down 0.02.
    t = terms(price=parse_micro("1.5"), min_block=1, increment=1)
    assert rate_call(t, 1, Policy("EUR", 2, rounding=mode)).cost == expected


def test_three_decimal_currency_rounds_to_its_minor_unit():
    # KWD has 3 decimals: 0.0007/s (0.042/min) × 7 s = 0.0049 → 0.005 KWD.
    t = terms(price=parse_micro("0.042"), min_block=1, increment=1)
    assert rate_call(t, 7, Policy("KWD", 3)).cost == 5


def test_explanation_lines_tell_each_step():
    t = terms(price=parse_micro("0.60"), min_block=30, increment=20, connect_fee=0)
    lines = rate_call(t, 35, EUR, explain=True).lines
    text = "\n".join(lines)
    assert "Minimum block 30 s + 1 × 20 s" in text
    assert "= 50 s billed" in text
    assert "0.6 × 50/60" in text
    assert lines[-1].endswith("0.50 EUR.")
    whole = "\n".join(rate_call(t, 35, EUR_WHOLE, explain=True).lines)
    assert "rounded up to a multiple of 20 s" in whole and "40 s billed" in whole


def test_explanation_names_tiers_and_the_window_of_a_restricted_row():
    t = terms(tiers=(Tier(60, parse_micro("0.05")),),
              windows=rating.parse_windows("sat+sun"), valid_to=dt.date(2026, 12, 31))
    text = "\n".join(rate_call(t, 90, EUR, explain=True).lines)
    assert "Tiers (from billed second: price a minute): 60:0.05." in text
    assert "Applies sat+sun 00:00-24:00, valid … to 2026-12-31." in text


def test_bad_durations_and_terms_are_refused():
    with pytest.raises(RatingError):
        rate_call(terms(), -1, EUR)
    with pytest.raises(RatingError):
        terms(increment=0)
    with pytest.raises(RatingError):
        Policy("EUR", 2, rounding="banker")


@pytest.mark.parametrize("text,micro", [("0.05", 50_000), ("0,05", 50_000), ("150", 150_000_000),
                                        (" 1 500 ", 1_500_000_000), ("0.000001", 1)])
def test_prices_parse_to_micro_units(text, micro):
    assert parse_micro(text) == micro


@pytest.mark.parametrize("text", ["", "abc", "-1", "0.0000001", "1,2,3", "1.000,5", "NaN"])
def test_bad_prices_are_refused(text):
    with pytest.raises(RatingError):
        parse_micro(text)


def test_tiers_and_windows_parse_and_format_round_trip():
    tiers = rating.parse_tiers("60:0,10|300:0.08")
    assert tiers == (Tier(60, 100_000), Tier(300, 80_000))
    assert rating.format_tiers(tiers) == "60:0.1|300:0.08"
    windows = rating.parse_windows("mon-fri 08:00-18:00|sat+sun")
    assert rating.parse_windows(rating.format_windows(windows)) == windows
    for bad in ("60", "0:0.1", "300:0.1|60:0.2"):
        with pytest.raises(RatingError):
            rating.parse_tiers(bad)
    for bad in ("mon-fri 8-18", "funday", "10:00-10:00", "mon 25:00-26:00"):
        with pytest.raises(RatingError):
            rating.parse_windows(bad)


def test_time_windows_select_rows_including_across_midnight():
    night = rating.parse_windows("fri 22:00-06:00")[0]
    friday_23h = dt.datetime(2026, 12, 4, 23, 0)
    saturday_5h = dt.datetime(2026, 12, 5, 5, 0)
    saturday_23h = dt.datetime(2026, 12, 5, 23, 0)
    assert night.contains(friday_23h.weekday(), 23 * 60)
    assert night.contains(saturday_5h.weekday(), 5 * 60)
    assert not night.contains(saturday_23h.weekday(), 23 * 60)


# --- properties --------------------------------------------------------------------------
term_strategy = st.builds(
    Terms,
    prefix=st.just("1"), description=st.just(""),
    price=st.integers(0, 10**9), connect_fee=st.integers(0, 10**8),
    min_block=st.integers(0, 300), increment=st.integers(1, 120),
    grace=st.integers(0, 30), free_seconds=st.integers(0, 60),
    min_cost=st.integers(0, 10**8),
    tiers=st.lists(st.tuples(st.integers(1, 600), st.integers(0, 10**9)), max_size=3).map(
        lambda pairs: tuple(Tier(s, p) for s, p in sorted(dict(pairs).items()))),
)
policy_strategy = st.builds(Policy, currency=st.sampled_from(["EUR", "XOF", "KWD"]),
                            exponent=st.just(0), rounding=st.sampled_from(rating.ROUNDING_MODES),
                            whole_duration=st.booleans()).map(
    lambda p: Policy(p.currency, {"EUR": 2, "XOF": 0, "KWD": 3}[p.currency], p.rounding,
                     p.whole_duration))


@settings(max_examples=300, deadline=None)
@given(term_strategy, policy_strategy, st.integers(0, 7200), st.integers(0, 7200))
def test_cost_never_decreases_with_duration(t, policy, a, b):
    short, long = sorted((a, b))
    r_short, r_long = rate_call(t, short, policy), rate_call(t, long, policy)
    assert r_short.billed_seconds <= r_long.billed_seconds
    assert r_short.cost <= r_long.cost


@settings(max_examples=300, deadline=None)
@given(term_strategy, policy_strategy, st.integers(0, 7200))
def test_grace_minimum_block_and_minimum_cost_are_respected(t, policy, d):
    r = rate_call(t, d, policy)
    if d <= t.grace:
        assert (r.billed_seconds, r.cost) == (0, 0)
        return
    # Past grace: at least the connect fee and the minimum cost, never less.
    floor = max(t.connect_fee, t.min_cost)
    assert r.exact >= floor * 60
    if d - t.free_seconds > 0:
        assert r.billed_seconds >= t.min_block
        assert r.billed_seconds >= d - t.free_seconds  # every answered second is billed
        if not policy.whole_duration:
            assert (r.billed_seconds - t.min_block) % t.increment == 0 or \
                r.billed_seconds == t.min_block
    else:
        assert r.billed_seconds == 0
    # Rounded once, to the nearest minor unit or in the mode's direction.
    div = 60 * 10 ** (6 - policy.exponent)
    assert abs(r.cost * div - r.exact) < div


@settings(max_examples=200, deadline=None)
@given(term_strategy, policy_strategy, st.lists(st.integers(0, 4000), min_size=1, max_size=20))
def test_the_fast_batch_path_gives_the_same_numbers_as_rate_call(t, policy, durations):
    index = DeckIndex([t], policy)
    costs = index.cost_many([("1555", d) for d in durations])
    for d, billed, cost in zip(durations, costs.billed, costs.cost, strict=True):
        r = rate_call(t, d, policy)
        assert (billed, cost) == (r.billed_seconds, r.cost)


# --- prepaid: the longest call a credit pays for --------------------------------------------
def test_max_talk_time_worked_example():
    # 60/30 at 0.60 a minute (0.01 a second), connect fee 0.05, credit 1.00 EUR:
    # 60 s cost 0.65; each 30 s more costs 0.30 → 90 s = 0.95 fits, 120 s = 1.25 does not.
    t = terms(price=parse_micro("0.60"), connect_fee=parse_micro("0.05"), min_block=60,
              increment=30)
    assert rating.first_charge(t, EUR) == 65
    assert rating.max_talk_time(t, 100, EUR) == 90
    assert rating.max_talk_time(t, 64, EUR) == 0  # cannot pay the minimum block: refused
    assert rating.max_talk_time(t, 65, EUR) == 60


@settings(max_examples=300, deadline=None)
@given(term_strategy, policy_strategy, st.integers(0, 10**6))
def test_max_talk_time_never_lets_the_credit_go_negative(t, policy, credit):
    seconds = rating.max_talk_time(t, credit, policy)
    if seconds == 0:
        assert credit < rating.first_charge(t, policy)
        return
    assert rate_call(t, seconds, policy).cost <= credit
    if seconds < rating.MAX_TALK_SECONDS:
        assert rate_call(t, seconds + 1, policy).cost > credit  # the longest such call
