"""Printouts: PDF card sheets and ESC/POS tickets, of a batch or of selected codes."""

from __future__ import annotations

from ninja import Path, Query, Router

from ficha.recharges import printouts

from ..auth import actor, require
from ..schemas import Id
from .common import (
    ERRORS_PRINT,
    _batch_rows,
    _binary,
    _download,
    _safe_name,
    _selection_rows,
    _stamp,
)
from .payloads import BatchPrintQuery, PrintSelection, TicketOptions

router = Router()


@router.get("/recharges/batches/{batch_id}/cards.pdf", response=ERRORS_PRINT,
            auth=require("print_recharges"), summary="Print a batch: A4 PDF of cards",
            openapi_extra=_binary("application/pdf", "PDF"))
def batch_pdf(request, batch_id: Path[Id], query: Query[BatchPrintQuery]):
    """Cards with the venue name, code, amount, expiry and a QR code that opens the
    portal's recharge page with the code filled in. Unsold and sold codes (or only
    ``status``), in print order; 21 cards per A4 page. A large batch takes time (about
    a second per 1,000 cards): ``offset`` and ``limit`` print it in parts."""
    batch, rows = _batch_rows(batch_id, query)
    data = printouts.pdf(actor(request), rows, printouts.base_url(request), title=batch.label)
    return _download(data, "application/pdf", f"{_safe_name(batch.label)}.pdf")


@router.get("/recharges/batches/{batch_id}/tickets.escpos", response=ERRORS_PRINT,
            auth=require("print_recharges"),
            summary="Print a batch: ESC/POS receipt tickets",
            openapi_extra=_binary("application/octet-stream", "ESC/POS"))
def batch_escpos(request, batch_id: Path[Id], query: Query[BatchPrintQuery],
                 options: Query[TicketOptions]):
    """Raw bytes for a 58 or 80 mm receipt printer, one ticket per code (same selection
    as the PDF)."""
    batch, rows = _batch_rows(batch_id, query)
    data = printouts.escpos(actor(request), rows, printouts.base_url(request),
                            width_mm=int(options.width))
    return _download(data, "application/octet-stream", f"{_safe_name(batch.label)}.escpos")


@router.get("/recharges/cards.pdf", response=ERRORS_PRINT, auth=require("print_recharges"),
            summary="Print selected recharges: A4 PDF of cards",
            openapi_extra=_binary("application/pdf", "PDF"))
def selection_pdf(request, selection: Query[PrintSelection]):
    """``?code=…&code=…`` and/or ``?id=…`` (up to 1,000); unsold and sold codes only."""
    rows = _selection_rows(selection)
    data = printouts.pdf(actor(request), rows, printouts.base_url(request))
    return _download(data, "application/pdf", f"recharges-{_stamp()}.pdf")


@router.get("/recharges/tickets.escpos", response=ERRORS_PRINT, auth=require("print_recharges"),
            summary="Print selected recharges: ESC/POS receipt tickets",
            openapi_extra=_binary("application/octet-stream", "ESC/POS"))
def selection_escpos(request, selection: Query[PrintSelection],
                     options: Query[TicketOptions]):
    rows = _selection_rows(selection)
    data = printouts.escpos(actor(request), rows, printouts.base_url(request),
                            width_mm=int(options.width))
    return _download(data, "application/octet-stream", f"recharges-{_stamp()}.escpos")

