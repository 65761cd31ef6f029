"""Recharge cards for printing: what a card shows, and the three ways to print it.

Everything here is a pure function of its arguments (no database, no settings): the caller
formats the money and the dates in the venue's currency and language, activates the
language for the printed labels, and builds each card's QR address with
:func:`recharge_url`.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from .escpos import (
    CODE_PAGES,
    DEFAULT_CODE_PAGE,
    escpos_test_ticket,
    escpos_ticket,
    escpos_tickets,
)
from .pdf import grid_for, pdf_sheet, write_pdf_sheet

__all__ = [
    "CODE_PAGES",
    "DEFAULT_CODE_PAGE",
    "Card",
    "cards_per_page",
    "escpos_test_ticket",
    "escpos_ticket",
    "escpos_tickets",
    "grid_for",
    "pdf_sheet",
    "recharge_url",
    "write_pdf_sheet",
]


@dataclass(frozen=True)
class Card:
    code: str  # digits, e.g. "12345678" (printed grouped: "1234 5678")
    amount: str  # formatted money text, e.g. "1 500 F CFA"
    expires: str | None  # formatted date text, or None for a code that never expires
    url: str  # the QR payload: the portal's recharge page with the code filled in
    label: str = ""  # batch label


def recharge_url(base_url: str, code: str) -> str:
    """The portal's recharge page with ``code`` filled in: ``{base}/recharge?code={code}``."""
    return f"{base_url.rstrip('/')}/recharge?code={quote(code, safe='')}"


def cards_per_page(page_size: str | tuple[float, float] = "A4") -> int:
    """How many cards one sheet holds (21 on A4 and Letter)."""
    from .pdf import _page_size

    return grid_for(_page_size(page_size)).per_page
