from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ficha.core import codes


def test_codes_have_the_asked_length_and_digits_only():
    for length in (8, 10, 16):
        for check in (False, True):
            code = codes.random_code(length, check)
            assert len(code) == length and code.isdigit()
            if check:
                assert codes.damm_valid(code)


def test_grouping_and_normalising():
    assert codes.group("12345678") == "1234 5678"
    assert codes.normalize(" 1234-5678 ") == "12345678"


@given(st.text(alphabet="0123456789", min_size=7, max_size=15),
       st.integers(min_value=0), st.integers(min_value=1, max_value=9))
def test_damm_catches_every_single_digit_error(body, pos, delta):
    code = body + codes.damm_digit(body)
    i = pos % len(code)
    wrong = code[:i] + str((int(code[i]) + delta) % 10) + code[i + 1:]
    assert codes.damm_valid(code)
    assert not codes.damm_valid(wrong)


@given(st.text(alphabet="0123456789", min_size=7, max_size=15), st.integers(min_value=0))
def test_damm_catches_every_adjacent_swap(body, pos):
    code = body + codes.damm_digit(body)
    i = pos % (len(code) - 1)
    if code[i] == code[i + 1]:
        return
    swapped = code[:i] + code[i + 1] + code[i] + code[i + 2:]
    assert not codes.damm_valid(swapped)


def test_luhn_blind_spot_09_90_is_caught():
    body = "1234509"
    assert codes.damm_digit(body) != codes.damm_digit("1234590")


def test_parse_reads_a_typed_code_the_same_way_for_every_door():
    from ficha.core.codes import CodeError, parse

    body = "1234567"
    code = body + codes.damm_digit(body)
    arabic = "".join(chr(0x660 + int(d)) for d in code)
    for typed in (code, f" {code[:4]} {code[4:]} ", f"{code[:4]}-{code[4:]}",
                  f"{code[:4]}\u00a0{code[4:]}", arabic, "\uff11" + code[1:] if code[0] == "1"
                  else code):
        assert parse(typed, {(8, True)}) == code
    for typed, reason in (("", "empty"), ("  - ", "empty"), ("1234abcd", "chars"),
                          ("²" * 8, "chars"), ("1" * 65, "chars"), ("1234567", "length"),
                          (body + str((int(codes.damm_digit(body)) + 1) % 10), "check")):
        with pytest.raises(CodeError) as exc:
            parse(typed, {(8, True)})
        assert exc.value.reason == reason and str(exc.value)
    # a length without a check digit accepts any digits
    assert parse("12345678", {(8, False), (10, True)}) == "12345678"
