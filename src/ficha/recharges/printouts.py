"""Recharge cards for the printers: from recharge rows to PDF sheets and ESC/POS tickets.

The console, the API and the CLI all print through here, so a card looks the same
whichever door asked for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.utils import formats, translation
from django.utils.translation import gettext as _

from ficha.core import audit, public_url
from ficha.core.money import Money
from ficha.core.services import venue_settings
from ficha.printing import cards as printing
from ficha.printing import network, svg

from . import services
from .models import Recharge
from .services import local_time

# One printout holds at most this many cards (100 A4 sheets: a few seconds and ~20 MB of
# memory to make), whichever door asks; bigger selections are printed in parts.
MAX_CARDS = 2100


def base_url(request=None) -> str:
    """Where customers reach the portal (see ``ficha.core.public_url``)."""
    return public_url.public_url(request)


def cards(recharges: Iterable[Recharge], url: str) -> list[printing.Card]:
    out = []
    for r in recharges:
        expires = None
        if r.expires_at:
            expires = formats.date_format(local_time(r.expires_at), "DATE_FORMAT")
        out.append(printing.Card(
            code=r.code,
            amount=Money(r.amount, r.currency).format(),
            expires=expires,
            url=printing.recharge_url(url, r.code),
            label=r.batch.label if r.batch_id else "",
        ))
    return out


def _language() -> str:
    return translation.get_language() or venue_settings().language


def pdf(actor: audit.Actor, recharges: Iterable[Recharge], url: str, title: str = "",
        page_size: str = "A4") -> bytes:
    """An A4/Letter sheet of cards; the printout is recorded in the audit log."""
    recharges = list(recharges)
    services.record_print(actor, recharges, f"pdf {page_size}")
    with translation.override(_language()):
        return printing.pdf_sheet(cards(recharges, url), venue=venue_settings().venue_name,
                                  title=title, page_size=page_size)


def escpos(actor: audit.Actor, recharges: Iterable[Recharge], url: str, width_mm: int = 58,
           cut: bool = True, with_qr: bool = True) -> bytes:
    """ESC/POS tickets, one per card; the printout is recorded in the audit log."""
    recharges = list(recharges)
    services.record_print(actor, recharges, f"escpos {width_mm} mm")
    with translation.override(_language()):
        return printing.escpos_tickets(cards(recharges, url),
                                       venue=venue_settings().venue_name, width_mm=width_mm,
                                       cut=cut, with_qr=with_qr)


# --- the ticket printer on the network, and the browser's print page ---------------------
# One job to the network printer holds at most this many tickets (a receipt printer takes
# about half a second a ticket; a web request should not wait minutes).
NETWORK_MAX = 200


@dataclass(frozen=True)
class Sent:
    """What reached the ticket printer."""

    count: int  # tickets
    printer: str  # "host:port"
    size: int  # bytes


def to_printer(actor: audit.Actor, recharges: Iterable[Recharge], url: str) -> Sent:
    """Print tickets on the venue's network ticket printer (Settings); audited.

    Raises ``network.PrinterError`` (a message for people) when no printer is set up, it
    cannot be reached or it stops taking the job; a job cut off midway is still audited,
    since some tickets may have come out.
    """
    recharges = list(recharges)
    venue = venue_settings()
    if len(recharges) > NETWORK_MAX:
        raise network.PrinterError(
            _("At most %(max)d tickets go to the printer at a time; select fewer codes.")
            % {"max": NETWORK_MAX})
    if not venue.printer_host:
        raise network.PrinterError(_("No ticket printer is set up (Settings)."))
    width = venue.ticket_width
    with translation.override(_language()):
        data = printing.escpos_tickets(cards(recharges, url), venue=venue.venue_name,
                                       width_mm=width)
    printer = f"{venue.printer_host}:{venue.printer_port}"
    fmt = f"escpos {width} mm to {printer}"
    try:
        size = network.send(venue.printer_host, venue.printer_port, data)
    except network.PrinterError as exc:
        if exc.sent:
            services.record_print(actor, recharges, f"{fmt}, interrupted")
        raise
    services.record_print(actor, recharges, fmt)
    return Sent(len(recharges), printer, size)


def test_ticket(actor: audit.Actor, *, host: str, port: int, width_mm: int, url: str) -> Sent:
    """Print a test ticket (no code on it) on ``host:port``; audited. Raises PrinterError."""
    venue = venue_settings()
    printer = f"{host}:{port}"
    with translation.override(_language()):
        details = [_("Printer: %(printer)s") % {"printer": printer},
                   _("Paper: %(width)d mm") % {"width": width_mm}]
        data = printing.escpos_test_ticket(venue=venue.venue_name, url=url,
                                           width_mm=width_mm, details=details)
    size = network.send(host, port, data)
    audit.record(actor, "printing.test", venue, after={"printer": printer, "width": width_mm},
                 summary=_("Test ticket printed on %(printer)s") % {"printer": printer})
    return Sent(1, printer, size)


@dataclass(frozen=True)
class PageTicket:
    """A ticket on the browser's print page: the card and its QR code as inline SVG."""

    card: printing.Card
    qr_svg: str


# The browser's print page holds at most this many tickets.
PAGE_MAX = 500


def page_tickets(actor: audit.Actor, recharges: Iterable[Recharge], url: str,
                 width_mm: int) -> list[PageTicket]:
    """Tickets for the browser's print page (a page sized to the paper); audited."""
    recharges = list(recharges)[:PAGE_MAX]
    services.record_print(actor, recharges, f"browser page {width_mm} mm")
    return [PageTicket(card, svg.qr_svg(card.url, label=card.url))
            for card in cards(recharges, url)]
