"""Recharge code generation: digits from ``secrets``, optional Damm check digit."""

from __future__ import annotations

import secrets

# Damm's totally anti-symmetric quasigroup of order 10 (H. Michael Damm, 2004).
_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)

MIN_LENGTH = 8
MAX_LENGTH = 16


def damm_digit(digits: str) -> str:
    """The Damm check digit of a string of decimal digits."""
    interim = 0
    for ch in digits:
        interim = _DAMM[interim][ord(ch) - 48]
    return chr(48 + interim)


def damm_valid(code: str) -> bool:
    """True when ``code`` (digits with its check digit last) passes the Damm check."""
    return code.isdigit() and damm_digit(code) == "0"


def random_code(length: int, check_digit: bool) -> str:
    """One code of exactly ``length`` digits (the check digit, if any, included)."""
    if not MIN_LENGTH <= length <= MAX_LENGTH:
        raise ValueError(f"code length must be {MIN_LENGTH}..{MAX_LENGTH}")
    body_len = length - 1 if check_digit else length
    # Leading zeros are allowed: every code has exactly `length` digits.
    body = str(secrets.randbelow(10**body_len)).zfill(body_len)
    return body + damm_digit(body) if check_digit else body


def normalize(text: str) -> str:
    """What a person typed, reduced to digits ("1234 5678", "1234-5678" → "12345678")."""
    return "".join(ch for ch in str(text) if ch.isdigit())


def group(code: str, size: int = 4) -> str:
    """Display form: "12345678" → "1234 5678"."""
    return " ".join(code[i : i + size] for i in range(0, len(code), size))
