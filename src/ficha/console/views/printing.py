"""Printing tickets: on the network ticket printer, or from the browser's print dialog.

- ``print_page``: the selected codes as tickets on a page sized to the paper (58 or 80 mm
  wide, ``@page`` CSS) for a USB receipt printer driven by the computer's own driver: the
  cashier presses Print (or Ctrl+P).
- ``print_send``: the same tickets as raw ESC/POS to the ticket printer set in Settings.
- ``test_printer``: the settings page's "Print a test ticket" button.

The A4 PDF and the downloadable ESC/POS file stay on ``recharges.print_codes``.
"""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST

from ficha.core import public_url
from ficha.core.services import TICKET_WIDTHS, venue_settings
from ficha.printing.network import PrinterError
from ficha.recharges import printouts

from ..access import actor, capability_required
from .recharges.common import _back, _ids
from .recharges.printing import _print_rows


def _width(request) -> int:
    raw = request.POST.get("width") or request.GET.get("width") or ""
    try:
        width = int(raw)
    except ValueError:
        width = 0
    return width if width in TICKET_WIDTHS else venue_settings().ticket_width


@require_http_methods(["GET", "POST"])
@capability_required("view_recharges", "print_recharges")
def print_page(request):
    """The selected codes (``ids``, or ``batch``) as tickets for the browser's print dialog."""
    rows, name = _print_rows(request)
    if not rows:
        messages.error(request, _("Nothing to print: only unsold and sold codes are printed."))
        return redirect(_back(request))
    width = _width(request)
    address = public_url.public_address(request)
    tickets = printouts.page_tickets(actor(request), rows, address.url, width)
    venue = venue_settings()
    return render(request, "console/printing/page.html", {
        "tickets": tickets, "width": width, "widths": TICKET_WIDTHS, "name": name,
        "total": len(rows), "cut_short": len(rows) > len(tickets),
        "ids": _ids(request),
        "batch": request.POST.get("batch") or request.GET.get("batch") or "",
        "back": _back(request), "printer": venue.printer_host, "venue_name": venue.venue_name,
    })


@require_POST
@capability_required("view_recharges", "print_recharges")
def print_send(request):
    """The selected codes as tickets on the network ticket printer (Settings)."""
    rows, _name = _print_rows(request)
    back = _back(request)
    if not rows:
        messages.error(request, _("Nothing to print: only unsold and sold codes are printed."))
        return redirect(back)
    try:
        sent = printouts.to_printer(actor(request), rows, public_url.public_url(request))
    except PrinterError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, ngettext(
            "%(n)d ticket sent to the ticket printer (%(printer)s).",
            "%(n)d tickets sent to the ticket printer (%(printer)s).", sent.count,
        ) % {"n": sent.count, "printer": sent.printer})
    return redirect(back)


def test_printer(request, data: dict) -> bool:
    """The settings page's test ticket, on the printer typed in the form (not saved yet)."""
    host = data.get("printer_host") or ""
    if not host:
        messages.error(request, _("Type the printer's address first."))
        return False
    venue = venue_settings()
    url = data.get("public_url") or public_url.public_url(request)
    try:
        sent = printouts.test_ticket(
            actor(request), host=host, port=data.get("printer_port") or venue.printer_port,
            width_mm=data.get("ticket_width") or venue.ticket_width, url=url)
    except PrinterError as exc:
        messages.error(request, str(exc))
        return False
    messages.success(request, _("Test ticket sent to %(printer)s. Did it come out? Scan its "
                                "QR code with a phone: it should open the portal.")
                     % {"printer": sent.printer})
    return True
