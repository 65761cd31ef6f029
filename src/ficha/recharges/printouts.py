"""Recharge cards for the printers: from recharge rows to PDF sheets and ESC/POS tickets.

The console, the API and the CLI all print through here, so a card looks the same
whichever door asked for it.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.utils import formats, translation

from ficha.core import audit
from ficha.core.money import Money
from ficha.core.services import venue_settings
from ficha.printing import cards as printing

from . import services
from .models import Recharge
from .services import local_time

# One printout holds at most this many cards (100 A4 sheets: a few seconds and ~20 MB of
# memory to make), whichever door asks; bigger selections are printed in parts.
MAX_CARDS = 2100


def base_url(request=None) -> str:
    """Where customers reach the portal: FICHA_PUBLIC_URL, else the request's host."""
    if settings.PUBLIC_URL:
        return settings.PUBLIC_URL
    if request is not None:
        return request.build_absolute_uri("/").rstrip("/")
    host = settings.HTTP_ADDR
    if host.startswith("0.0.0.0:"):
        host = "127.0.0.1:" + host.split(":", 1)[1]
    return f"http://{host}"


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
