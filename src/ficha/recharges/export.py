"""Recharges as CSV rows: one format for every door that exports (CLI, API, console).

Columns (``CSV_FIELDS``): code, amount and sale price in major units (plain decimals,
no currency sign), currency, status, batch label, ISO 8601 times (UTC), seller's and
customer's usernames. Empty cells for what does not apply. The audited export itself is
``services.export``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator

from ficha.core.money import Money

from .models import Recharge

CSV_FIELDS = [
    "code", "amount", "currency", "status", "batch", "expires_at", "sold_at", "sold_by",
    "sale_price", "payment_method", "used_at", "used_by",
]


def export_row(r: Recharge) -> list:
    """One recharge as a CSV row (needs ``batch``, ``sold_by`` and ``used_by`` loaded)."""

    def when(value):
        return value.isoformat() if value else ""

    return [
        r.code, Money(r.amount, r.currency).major_str(), r.currency, r.status,
        r.batch.label if r.batch_id else "", when(r.expires_at), when(r.sold_at),
        r.sold_by.username if r.sold_by_id else "",
        Money(r.sale_price, r.currency).major_str() if r.sale_price is not None else "",
        r.payment_method, when(r.used_at), r.used_by.username if r.used_by_id else "",
    ]


class _Line:
    """A file-like object whose ``write`` returns what it was given (for streaming)."""

    def write(self, text: str) -> str:
        return text


def csv_lines(recharges: Iterable[Recharge], *, excel: bool = False) -> Iterator[str]:
    """The header and one CSV line per recharge, lazily (for a streamed download).

    ``excel``: start with a UTF-8 byte-order mark, without which Excel on Windows reads
    the file as ANSI and garbles accented names (the console's download; scripts using
    the API or the CLI get plain UTF-8).
    """
    writer = csv.writer(_Line())
    yield ("\ufeff" if excel else "") + writer.writerow(CSV_FIELDS)
    for r in recharges:
        yield writer.writerow(export_row(r))
