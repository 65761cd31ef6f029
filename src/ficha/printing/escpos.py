"""ESC/POS tickets for 58 mm and 80 mm receipt printers (our own small encoder).

Only commands that Epson TM printers and the common clones (Xprinter, Rongta, HPRT, …)
all understand are used:

==================  =============  ===================================================
ESC @               1B 40          initialise
ESC t n             1B 74 n        character code table (PC850 by default)
ESC a n             1B 61 n        justification (0 left, 1 centre)
ESC E n             1B 45 n        emphasis (bold) on/off
GS ! n              1D 21 n        character size: width − 1 in the high nibble, height − 1
                                   in the low nibble
ESC d n             1B 64 n        print and feed n lines
GS ( k …            1D 28 6B …     QR code: model 2, module size, error correction,
                                   store the data, print it
GS V 66 n           1D 56 42 n     feed to the cutter and cut, leaving a hinge (partial)
==================  =============  ===================================================

Text is encoded in the chosen single-byte code page; characters it lacks are replaced by
an ASCII stand-in ("€" → "EUR", "ő" → "o"), never sent as raw UTF-8, which a printer would
print as two wrong characters.
"""

from __future__ import annotations

import codecs
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.utils.translation import gettext as _

from ficha.core.codes import group

from . import qr, text

if TYPE_CHECKING:
    from .cards import Card

ESC = b"\x1b"
GS = b"\x1d"
LF = b"\n"

# Characters per line in font A (12 × 24 dots) and printable dots per line at 203 dpi.
WIDTHS = {58: (32, 384), 80: (48, 576)}

# Python codec → ESC t table number (Epson numbering, shared by most clones).
CODE_PAGES = {
    "cp437": 0,
    "cp850": 2,
    "cp860": 3,
    "cp863": 4,
    "cp865": 5,
    "cp1252": 16,
    "cp866": 17,
    "cp852": 18,
    "cp858": 19,
}
DEFAULT_CODE_PAGE = "cp850"


class _Ticket:
    def __init__(self, width_mm: int, code_page: str) -> None:
        if width_mm not in WIDTHS:
            raise ValueError("width_mm must be 58 or 80")
        if code_page not in CODE_PAGES:
            raise ValueError(f"unsupported code page {code_page!r}")
        self.columns, self.dots = WIDTHS[width_mm]
        self.code_page = code_page
        self.codec = codecs.lookup(code_page).name
        self.out = bytearray()

    # low level ------------------------------------------------------------------------
    def raw(self, data: bytes) -> None:
        self.out += data

    def encode(self, value: str) -> bytes:
        def has(ch: str) -> bool:
            try:
                ch.encode(self.codec)
            except UnicodeEncodeError:
                return False
            return True

        return text.fit(value, has).encode(self.codec)

    def init(self) -> None:
        self.raw(ESC + b"@" + ESC + b"t" + bytes([CODE_PAGES[self.code_page]]))

    def style(self, *, size: int = 1, height: int | None = None, bold: bool = False,
              center: bool = True) -> None:
        height = size if height is None else height
        self.raw(ESC + b"a" + bytes([1 if center else 0]))
        self.raw(ESC + b"E" + bytes([1 if bold else 0]))
        self.raw(GS + b"!" + bytes([((size - 1) << 4) | (height - 1)]))

    def lines(self, value: str, *, size: int = 1, height: int | None = None,
              bold: bool = False, max_lines: int = 3) -> None:
        """Print ``value`` word-wrapped to the paper width at character width ``size``."""
        self.style(size=size, height=height, bold=bold)
        data = self.encode(value).decode(self.codec)  # one byte per character from here
        width = self.columns // size
        wrapped = textwrap.wrap(data, width, break_long_words=True, break_on_hyphens=True)
        if len(wrapped) > max_lines:
            wrapped = wrapped[:max_lines]
            wrapped[-1] = wrapped[-1][: width - 3].rstrip() + "..."
        for line in wrapped or [""]:
            self.raw(line.encode(self.codec) + LF)

    def rule(self) -> None:
        self.style()
        self.raw(b"-" * self.columns + LF)

    def blank(self) -> None:
        """An empty line of normal height."""
        self.style()
        self.raw(LF)

    def feed(self, count: int) -> None:
        self.raw(ESC + b"d" + bytes([count]))

    def qr(self, payload: str) -> None:
        data = payload.encode("utf-8")
        modules = 17 + 4 * qr.version_for(data, "M")
        # About 70 % of the printable width, quiet zone included; 3 to 8 dots a module
        # (6 on 58 mm paper: a 25 mm symbol for a typical address).
        module = max(3, min(8, int(self.dots * 0.7) // (modules + 8)))
        self.style()

        def fn(cn: int, *args: int, body: bytes = b"") -> bytes:
            params = bytes([49, cn, *args]) + body  # cn: function; 49 = QR code symbol
            size = len(params)
            return GS + b"(k" + bytes([size & 0xFF, size >> 8]) + params

        self.raw(fn(65, 50, 0))  # function 165: model 2
        self.raw(fn(67, module))  # function 167: module size in dots
        self.raw(fn(69, 49))  # function 169: error correction M (15 %)
        self.raw(fn(80, 48, body=data))  # function 180: store the data
        self.raw(fn(81, 48))  # function 181: print the stored symbol
        self.raw(LF)

    def code_lines(self, code: str) -> list[tuple[str, int]]:
        """The grouped code as big as the paper allows: one line at 2× or more, else two
        lines of groups, else normal size."""
        grouped = group(code)
        for size in (4, 3, 2):
            if len(grouped) * size <= self.columns:
                return [(grouped, size)]
        parts = grouped.split(" ")
        half = (len(parts) + 1) // 2
        lines = [" ".join(parts[:half]), " ".join(parts[half:])]
        for size in (3, 2):
            if max(map(len, lines)) * size <= self.columns:
                return [(line, size) for line in lines]
        return [(grouped, 1)]

    def cut(self) -> None:
        self.raw(GS + b"V" + bytes([66, 0]))

    def end(self, *, cut: bool) -> None:
        """Leave the printer in its default state, then a partial cut (``cut``) or a feed
        past the tear bar."""
        self.style()
        if cut:
            self.feed(1)
            self.cut()
        else:
            self.feed(4)

    # the ticket -------------------------------------------------------------------------
    def ticket(self, card: Card, venue: str, *, cut: bool, with_qr: bool) -> None:
        self.lines(venue, size=2, bold=True, max_lines=2)
        self.rule()
        self.lines(_("Recharge code"))
        for line, size in self.code_lines(card.code):
            self.lines(line, size=size, bold=True, max_lines=2)
        self.blank()
        amount_size = 2 if len(self.encode(card.amount)) * 2 <= self.columns else 1
        self.lines(card.amount, size=amount_size, height=2, bold=True)
        if card.expires:
            self.lines(_("Valid until %(date)s") % {"date": card.expires})
        else:
            self.lines(_("No expiry"))
        self.blank()
        if with_qr:
            self.qr(card.url)
            self.lines(_("Scan to recharge"))
        else:
            self.lines(_("Enter the code at:"))
            self.lines(card.url, max_lines=4)
        if card.label:
            self.blank()
            self.lines(card.label, max_lines=1)
        self.end(cut=cut)


def escpos_ticket(card: Card, *, venue: str, width_mm: int = 58, cut: bool = True,
                  code_page: str = DEFAULT_CODE_PAGE, with_qr: bool = True) -> bytes:
    """One complete print job: initialise, the ticket, then a partial cut (``cut``).

    ``with_qr=False`` prints the address as text for printers without QR support.
    """
    ticket = _Ticket(width_mm, code_page)
    ticket.init()
    ticket.ticket(card, venue, cut=cut, with_qr=with_qr)
    return bytes(ticket.out)


def escpos_tickets(cards: Sequence[Card], *, venue: str, width_mm: int = 58,
                   cut: bool = True, code_page: str = DEFAULT_CODE_PAGE,
                   with_qr: bool = True) -> bytes:
    """One print job with a ticket per card, each cut off (partial cut) after printing."""
    ticket = _Ticket(width_mm, code_page)
    ticket.init()
    for card in cards:
        ticket.ticket(card, venue, cut=cut, with_qr=with_qr)
    return bytes(ticket.out)


def escpos_test_ticket(*, venue: str, url: str, width_mm: int = 58, details: Sequence[str] = (),
                       cut: bool = True, code_page: str = DEFAULT_CODE_PAGE) -> bytes:
    """A test print: the venue name, ``details`` (one line each), accented letters, a
    ruler of the paper's width in characters, and the portal address as a QR code, so
    one ticket shows that the printer, the paper width, the code page and the QR code
    scanned by a phone all work."""
    ticket = _Ticket(width_mm, code_page)
    ticket.init()
    ticket.lines(venue, size=2, bold=True, max_lines=2)
    ticket.rule()
    ticket.lines(_("Test ticket"), size=2, bold=True)
    ticket.lines(_("Not a recharge code"))
    ticket.blank()
    for line in details:
        ticket.lines(line, max_lines=2)
    ticket.lines("é è ê à ç ô ñ ü ß")
    ticket.lines("".join(str(n % 10) for n in range(1, ticket.columns + 1)), max_lines=1)
    ticket.blank()
    ticket.qr(url)
    ticket.lines(url, max_lines=4)
    ticket.end(cut=cut)
    return bytes(ticket.out)
