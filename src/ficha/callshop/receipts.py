"""Booth receipts laid out for paper: ESC/POS for receipt printers and a PDF.

Both take a :class:`~ficha.callshop.counter.Receipt` (every amount already computed by
the services) and only lay it out; the browser ticket page renders the same rows from
:func:`rows`. Times are shown as given (the services convert them to the venue's zone).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from django.utils import formats
from django.utils.translation import gettext as _
from reportlab import rl_config
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas

from ficha.core.money import Money
from ficha.printing import escpos
from ficha.printing import pdf as pdfkit

from .counter import Receipt, duration_text


@dataclass(frozen=True)
class Row:
    """One printed line: a left text, an optional right text (an amount), a style."""

    left: str
    right: str = ""
    style: str = ""  # "", "head", "total", "small", "rule"


def _money(receipt: Receipt, minor: int) -> str:
    return Money(minor, receipt.currency).format()


def _when(value) -> str:
    return formats.date_format(value, "SHORT_DATETIME_FORMAT") if value else ""


def _time(value) -> str:
    return formats.time_format(value, "H:i") if value else ""


def rows(receipt: Receipt) -> list[Row]:
    """The receipt as lines, the same on every medium."""
    out = [Row(receipt.venue, style="head"),
           Row(_("Booth %(booth)s") % {"booth": receipt.booth}, f"#{receipt.session}"),
           Row(_("Opened"), _when(receipt.opened))]
    if receipt.closed:
        out.append(Row(_("Closed"), _when(receipt.closed)))
    if receipt.cashier:
        out.append(Row(_("Cashier"), receipt.cashier))
    out.append(Row("", style="rule"))
    if receipt.calls:
        out.append(Row(_("Calls"), style="section"))
    for call in receipt.calls:
        out.append(Row(call.destination or _("Unknown destination"), _money(receipt, call.cost)))
        out.append(Row(
            _("%(number)s · %(start)s · %(duration)s · billed %(billed)s s") % {
                "number": call.number, "start": _time(call.started),
                "duration": duration_text(call.duration), "billed": call.billed},
            style="small"))
    if not receipt.calls:
        out.append(Row(_("No calls"), style="small"))
    if receipt.extras:
        out.append(Row(_("Extras"), style="section"))
        for extra in receipt.extras:
            out.append(Row(extra.description, _money(receipt, extra.amount)))
    out.append(Row("", style="rule"))
    out.append(Row(_("Calls total"), _money(receipt, receipt.calls_total)))
    if receipt.extras:
        out.append(Row(_("Extras total"), _money(receipt, receipt.extras_total)))
    if receipt.rounding:
        out.append(Row(_("Subtotal"), _money(receipt, receipt.subtotal)))
        out.append(Row(_("Cash rounding"), _money(receipt, receipt.rounding)))
    out.append(Row(_("Total"), _money(receipt, receipt.total), style="total"))
    if receipt.paid:
        out.append(Row(_("Tendered"), _money(receipt, receipt.tendered)))
        out.append(Row(_("Change"), _money(receipt, receipt.change or 0), style="total"))
    else:
        out.append(Row(_("Not paid yet"), style="small"))
    return out


# --- ESC/POS ----------------------------------------------------------------------------
def escpos_receipt(receipt: Receipt, *, width_mm: int = 80, cut: bool = True,
                   code_page: str = escpos.DEFAULT_CODE_PAGE) -> bytes:
    """One print job: the receipt, then a partial cut (``cut``) or a feed past the bar."""
    t = escpos._Ticket(width_mm, code_page)
    t.init()
    for row in rows(receipt):
        if row.style == "head":
            t.lines(row.left, size=2, bold=True, max_lines=2)
        elif row.style == "rule":
            t.rule()
        elif row.style in ("small", "section"):
            t.style(center=False, bold=row.style == "section")
            for line in _wrap(t.encode(row.left).decode(t.codec), t.columns):
                t.raw(line.encode(t.codec) + escpos.LF)
        else:
            bold = row.style == "total"
            t.style(center=False, bold=bold)
            for line in _pair(t.encode(row.left).decode(t.codec),
                              t.encode(row.right).decode(t.codec), t.columns):
                t.raw(line.encode(t.codec) + escpos.LF)
    t.end(cut=cut)
    return bytes(t.out)


def _wrap(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width, break_long_words=True) or [""]


def _pair(left: str, right: str, width: int) -> list[str]:
    """``left`` and ``right`` on one line, right-aligned; ``left`` wraps above if long."""
    if not right:
        return _wrap(left, width)
    room = width - len(right) - 1
    if room < 4:
        return [*_wrap(left, width), right.rjust(width)]
    lines = _wrap(left, room)
    return [*lines[:-1], lines[-1].ljust(room) + " " + right]


# --- PDF --------------------------------------------------------------------------------
PDF_WIDTH = 80 * pdfkit.MM
_MARGIN = 5 * pdfkit.MM
_SIZES = {"head": 12.0, "total": 10.0, "small": 7.0, "section": 8.5, "": 8.5, "rule": 6.0}


def pdf_receipt(receipt: Receipt) -> bytes:
    """The receipt as a one-page PDF as wide as an 80 mm roll and as long as it needs."""
    sans, bold = pdfkit.font("sans"), pdfkit.font("bold")
    lines = rows(receipt)
    inner = PDF_WIDTH - 2 * _MARGIN
    laid: list[tuple[Row, list[str], float, object]] = []
    height = 2 * _MARGIN
    for row in lines:
        size = _SIZES.get(row.style, 8.5)
        face = bold if row.style in ("head", "total", "section") else sans
        left = pdfkit._safe(row.left, face)
        right = pdfkit._safe(row.right, face)
        room = inner - (pdfmetrics.stringWidth(right, face.name, size) + 3 if right else 0)
        wrapped = _pdf_wrap(left, face.name, size, max(room, inner / 3))
        laid.append((row, wrapped, size, face))
        height += len(wrapped) * size * 1.35
    buffer = io.BytesIO()
    saved = rl_config.useA85
    rl_config.useA85 = 0
    try:
        c = Canvas(buffer, pagesize=(PDF_WIDTH, height), pageCompression=1)
        c.setTitle(_("Booth %(booth)s receipt #%(n)s") % {"booth": receipt.booth,
                                                         "n": receipt.session})
        c.setAuthor(receipt.venue)
        c.setCreator("Ficha")
        y = height - _MARGIN
        for row, wrapped, size, face in laid:
            step = size * 1.35
            if row.style == "rule":
                y -= step / 2
                c.setStrokeGray(0.5)
                c.setLineWidth(0.5)
                c.setDash(2, 2)
                c.line(_MARGIN, y, PDF_WIDTH - _MARGIN, y)
                c.setDash()
                y -= step / 2
                continue
            c.setFont(face.name, size)
            c.setFillGray(0.35 if row.style == "small" else 0)
            for k, text in enumerate(wrapped):
                y -= step
                if row.style == "head":
                    c.drawCentredString(PDF_WIDTH / 2, y, text)
                else:
                    c.drawString(_MARGIN, y, text)
                if k == len(wrapped) - 1 and row.right:
                    c.drawRightString(PDF_WIDTH - _MARGIN, y, pdfkit._safe(row.right, face))
        c.showPage()
        c.save()
    finally:
        rl_config.useA85 = saved
    return buffer.getvalue()


def _pdf_wrap(text: str, font_name: str, size: float, width: float) -> list[str]:
    words = text.split(" ")
    lines: list[str] = []
    current = ""
    for word in words:
        candidate = f"{current} {word}" if current else word
        if pdfmetrics.stringWidth(candidate, font_name, size) <= width or not current:
            current = candidate
        else:
            lines.append(current)
            current = word
    lines.append(current)
    return [pdfkit._ellipsize(line, font_name, size, width) for line in lines]
