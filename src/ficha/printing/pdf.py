"""PDF sheets of cut-out recharge cards (reportlab's canvas, no database).

A sheet is a grid of cards (3 × 7 on A4 and US Letter) separated by light dashed cut
lines, with crop marks in the margins so that a guillotine can cut a whole stack. Each
card shows the venue, the grouped code, the amount, the expiry, the batch label and a QR
code that opens the portal's recharge page with the code filled in.

Fonts: DejaVu Sans (or the font files named by ``FICHA_PDF_FONT``, ``FICHA_PDF_FONT_BOLD``
and ``FICHA_PDF_FONT_MONO``) is embedded when found, so accented and non-Latin venue names
print as typed; characters a font lacks are replaced by an ASCII stand-in rather than
printed as empty boxes.
"""

from __future__ import annotations

import io
import math
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from django.utils.translation import gettext as _
from reportlab import rl_config
from reportlab.lib.pagesizes import A4, LETTER
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from ficha.core.codes import group

from . import qr, text

if TYPE_CHECKING:
    from .cards import Card

MM = 72 / 25.4
PAGE_SIZES = {"A4": A4, "LETTER": LETTER}

# --- fonts ------------------------------------------------------------------------------------
_FONT_DIRS = [
    Path("/usr/share/fonts/truetype/dejavu"),  # Debian, Ubuntu
    Path("/usr/share/fonts/dejavu"),  # Fedora
    Path("/usr/share/fonts/dejavu-sans-fonts"),
    Path("/usr/share/fonts/dejavu-sans-mono-fonts"),
    Path("/usr/share/fonts/TTF"),  # Arch
    Path("/usr/local/share/fonts"),
    Path.home() / ".fonts",
    Path.home() / ".local/share/fonts",
    Path("/Library/Fonts"),
    Path.home() / "Library/Fonts",
    Path(os.environ.get("WINDIR", r"C:\Windows")) / "Fonts",
    Path(os.environ.get("LOCALAPPDATA", "")) / "Microsoft/Windows/Fonts",
]
_REPORTLAB_FONTS = Path(sys.modules["reportlab"].__file__).parent / "fonts"

# role → (environment variable, file names in order of preference, built-in fallback)
_ROLES = {
    "sans": ("FICHA_PDF_FONT", ["DejaVuSans.ttf", "arial.ttf", "Arial.ttf"], "Helvetica"),
    "bold": ("FICHA_PDF_FONT_BOLD", ["DejaVuSans-Bold.ttf", "arialbd.ttf", "Arial Bold.ttf"],
             "Helvetica-Bold"),
    "mono": ("FICHA_PDF_FONT_MONO", ["DejaVuSansMono-Bold.ttf", "consolab.ttf", "courbd.ttf"],
             "Courier-Bold"),
}
# reportlab ships Bitstream Vera, which covers Western European text: better than a
# non-embedded Helvetica when no system font is found.
_BUNDLED = {"sans": "Vera.ttf", "bold": "VeraBd.ttf", "mono": "VeraBd.ttf"}


@dataclass(frozen=True)
class _Font:
    name: str
    has: object  # Callable[[str], bool]


def _candidates(role: str) -> list[Path]:
    env, names, _builtin = _ROLES[role]
    paths = []
    if os.environ.get(env):
        paths.append(Path(os.environ[env]))
    for directory in _FONT_DIRS:
        paths.extend(directory / name for name in names)
    paths.append(_REPORTLAB_FONTS / _BUNDLED[role])
    return paths


@cache
def font(role: str) -> _Font:
    """The font used for ``role`` ("sans", "bold" or "mono"), registered on first use."""
    for path in _candidates(role):
        try:
            if not path.is_file():
                continue
            name = f"Ficha-{role}-{path.stem}"
            if name not in pdfmetrics.getRegisteredFontNames():
                pdfmetrics.registerFont(TTFont(name, str(path)))
            glyphs = pdfmetrics.getFont(name).face.charToGlyph
            return _Font(name, lambda ch, g=glyphs: ord(ch) in g)
        except Exception:  # noqa: BLE001 - an unreadable font file: try the next one
            continue
    builtin = _ROLES[role][2]

    def latin(ch: str) -> bool:
        try:
            ch.encode("cp1252")
        except UnicodeEncodeError:
            return False
        return True

    return _Font(builtin, latin)


def _safe(value: str, f: _Font) -> str:
    return text.fit(value, f.has)


def _fit_size(value: str, font_name: str, width: float, size: float, minimum: float) -> float:
    """The largest size ≤ ``size`` (but ≥ ``minimum``) at which ``value`` fits ``width``."""
    at_one = pdfmetrics.stringWidth(value, font_name, 1)
    if at_one <= 0:
        return size
    return max(minimum, min(size, width / at_one))


def _ellipsize(value: str, font_name: str, size: float, width: float) -> str:
    if pdfmetrics.stringWidth(value, font_name, size) <= width:
        return value
    while value and pdfmetrics.stringWidth(value + "…", font_name, size) > width:
        value = value[:-1]
    return value.rstrip() + "…"


def _wrap_two(value: str, font_name: str, width: float, size: float, one_line_min: float,
              minimum: float) -> tuple[float, list[str]]:
    """Fit ``value`` on one line at ≥ ``one_line_min`` points, else on two lines at
    ≥ ``minimum`` points, the second ellipsized if it must be."""
    one = _fit_size(value, font_name, width, size, one_line_min)
    if pdfmetrics.stringWidth(value, font_name, one) <= width or " " not in value.strip():
        return one, [_ellipsize(value, font_name, one, width)]
    words = value.split()

    def quality(cut: int) -> tuple[float, int]:
        first, second = " ".join(words[:cut]), " ".join(words[cut:])
        fits = min(_fit_size(first, font_name, width, size, 0),
                   _fit_size(second, font_name, width, size, 0))
        return fits, -abs(len(first) - len(second))

    cut = max(range(1, len(words)), key=quality)
    best = max(minimum, quality(cut)[0])
    return best, [_ellipsize(" ".join(words[:cut]), font_name, best, width),
                  _ellipsize(" ".join(words[cut:]), font_name, best, width)]


# --- layout -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Grid:
    columns: int
    rows: int
    card_w: float
    card_h: float
    left: float
    bottom: float

    @property
    def per_page(self) -> int:
        return self.columns * self.rows


def grid_for(page_size: tuple[float, float]) -> Grid:
    """The card grid of a page: 3 × 7 on A4 and Letter, as many 62 × 36 mm cards otherwise."""
    width, height = page_size
    margin_x, margin_y = 8 * MM, 12 * MM
    usable_w, usable_h = width - 2 * margin_x, height - 2 * margin_y
    columns = max(1, int(usable_w // (62 * MM)))
    rows = max(1, int(usable_h // (36 * MM)))
    card_w, card_h = usable_w / columns, usable_h / rows
    return Grid(columns, rows, card_w, card_h, margin_x, margin_y)


def _page_size(page_size: str | tuple[float, float]) -> tuple[float, float]:
    if isinstance(page_size, str):
        try:
            return PAGE_SIZES[page_size.upper()]
        except KeyError:
            raise ValueError(f"unknown page size {page_size!r} (A4 or Letter)")
    width, height = page_size
    if width < 70 * MM or height < 50 * MM:
        raise ValueError("page too small for a recharge card")
    return float(width), float(height)


def _address(url: str) -> str:
    """The page a customer can type: "http://wifi.example/recharge?code=1" → the part
    before the query, without the scheme."""
    address = url.split("?", 1)[0].split("#", 1)[0]
    address = re.sub(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", "", address)
    return address if address.isascii() else ""


def _qr_operators(payload: str, x: float, top: float, side: float) -> str:
    """PDF operators that fill the dark modules of ``payload``'s QR code in a square.

    Each horizontal run of dark modules is one rectangle of a single path, filled once:
    small content streams and no hairline seams between modules in viewers.
    """
    rows = qr.encode(payload, "M")
    module = side / len(rows)
    parts = [f"q 0 g {module:.4f} 0 0 {-module:.4f} {x:.3f} {top:.3f} cm"]
    for r, row in enumerate(rows):
        x = 0
        for piece in row.split("0"):  # runs of dark modules, with their start column
            if piece:
                parts.append(f"{x} {r} {len(piece)} 1 re")
                x += len(piece) + 1
            else:
                x += 1
    parts.append("f Q")
    return "\n".join(parts)


class _Sheet:
    def __init__(self, out: BinaryIO, *, venue: str, title: str,
                 page_size: tuple[float, float], total: int) -> None:
        self.canvas = Canvas(out, pagesize=page_size, pageCompression=1)
        self.page_w, self.page_h = page_size
        self.grid = grid_for(page_size)
        self.pages = max(1, math.ceil(total / self.grid.per_page))
        self.sans, self.bold, self.mono = font("sans"), font("bold"), font("mono")
        self.venue = _safe(venue, self.bold)
        self.title = title
        c = self.canvas
        c.setTitle(title or venue)
        c.setAuthor(venue)
        c.setCreator("Ficha")
        c.setSubject(_("Recharge cards"))
        # Ask PDF readers not to "fit to page": the cut lines must stay where they are.
        c.setViewerPreference("PrintScaling", "None")
        # Labels are translated once per sheet, not once per card.
        self.t_code = _safe(_("Recharge code"), self.sans)
        self.t_scan = _safe(_("Scan to recharge"), self.sans)
        self.t_no_expiry = _safe(_("No expiry"), self.sans)
        self.t_valid_until = _("Valid until %(date)s")
        self.venue_size, self.venue_lines = _wrap_two(self.venue, self.bold.name,
                                                      self._text_width(), 9.5, 8, 6.5)

    # geometry of a card -----------------------------------------------------------------
    @property
    def pad(self) -> float:
        return 3 * MM

    def _qr_side(self) -> float:
        g = self.grid
        return min(g.card_h - 2 * self.pad - 3.5 * MM, g.card_w * 0.34, 26 * MM)

    def _text_width(self) -> float:
        # The gap keeps a quiet zone of more than three modules left of the QR code.
        return self.grid.card_w - 2 * self.pad - self._qr_side() - 3.5 * MM

    # pages --------------------------------------------------------------------------------
    def page_furniture(self, page: int, used_rows: int) -> None:
        """Header, cut lines and crop marks around the ``used_rows`` top rows of cards."""
        c = self.canvas
        g = self.grid
        grey = 0.45
        header = " · ".join(p for p in (self.venue, self.title) if p)
        c.setFillGray(grey)
        c.setFont(self.sans.name, 7)
        top_text_y = g.bottom + g.rows * g.card_h + 7 * MM
        c.drawString(g.left, top_text_y, _safe(header, self.sans))
        c.drawRightString(g.left + g.columns * g.card_w, top_text_y,
                          _safe(_("Page %(page)s of %(pages)s")
                                % {"page": page, "pages": self.pages}, self.sans))
        # Dashed cut lines along every card edge.
        c.setStrokeGray(0.72)
        c.setLineWidth(0.4)
        c.setDash(2, 2)
        x_lines = [g.left + i * g.card_w for i in range(g.columns + 1)]
        top = g.bottom + g.rows * g.card_h
        y_lines = [top - j * g.card_h for j in range(used_rows + 1)]
        right, bottom = x_lines[-1], y_lines[-1]
        for x in x_lines:
            c.line(x, bottom, x, top)
        for y in y_lines:
            c.line(g.left, y, right, y)
        # Crop marks in the margins, in line with every cut.
        c.setDash()
        c.setStrokeGray(0)
        c.setLineWidth(0.3)
        gap, length = 1.5 * MM, 3.5 * MM
        for x in x_lines:
            c.line(x, bottom - gap, x, bottom - gap - length)
            c.line(x, top + gap, x, top + gap + length)
        for y in y_lines:
            c.line(g.left - gap, y, max(g.left - gap - length, 1 * MM), y)
            c.line(right + gap, y, min(right + gap + length, self.page_w - 1 * MM), y)

    def card(self, card: Card, x0: float, y0: float) -> None:
        c = self.canvas
        g = self.grid
        pad = self.pad
        qs = self._qr_side()
        tw = self._text_width()
        left = x0 + pad
        top = y0 + g.card_h - pad

        # QR code on the right, with its caption underneath, centred vertically.
        qx = x0 + g.card_w - pad - qs
        qtop = y0 + (g.card_h + qs + 3 * MM) / 2
        c.addLiteral(_qr_operators(card.url, qx, qtop, qs))
        c.setFillGray(0.35)
        caption_size = _fit_size(self.t_scan, self.sans.name, qs + 2 * MM, 6, 4.5)
        c.setFont(self.sans.name, caption_size)
        c.drawCentredString(qx + qs / 2, qtop - qs - 2.6 * MM, self.t_scan)

        # The text column: a list of (text, font, size, grey, drop before the baseline),
        # measured first and squeezed if it would run into the batch label.
        items: list[tuple[str, str, float, float, float]] = []
        for k, line in enumerate(self.venue_lines):
            drop = self.venue_size * (0.8 if k == 0 else 1.1)
            items.append((line, self.bold.name, self.venue_size, 0, drop))
        items.append((self.t_code, self.sans.name, 6, 0.35, 12))
        for line, size in self._code_lines(card.code, tw):
            items.append((line, self.mono.name, size, 0, size * 1.1))
        amount = _safe(card.amount, self.bold)
        size = _fit_size(amount, self.bold.name, tw, 12, 6)
        items.append((amount, self.bold.name, size, 0, size * 1.45))
        if card.expires:
            expiry = _safe(self.t_valid_until % {"date": card.expires}, self.sans)
        else:
            expiry = self.t_no_expiry
        size = _fit_size(expiry, self.sans.name, tw, 7, 5)
        items.append((expiry, self.sans.name, size, 0, size * 1.6))
        # The portal's address, for customers who type the code instead of scanning.
        address = _address(card.url)
        if address:
            size = _fit_size(address, self.sans.name, tw, 6, 0)
            if size >= 4.5:
                items.append((address, self.sans.name, size, 0.35, 9.5))
        label_zone = 3 * MM if card.label else 0
        room = g.card_h - 2 * pad - label_zone
        needed = sum(item[4] for item in items) + 1 * MM  # descenders of the last line
        if needed > room and address and items[-1][0] == address:
            needed -= items.pop()[4]
        squeeze = min(1.0, room / needed)

        y = top
        for value, font_name, size, grey, drop in items:
            y -= drop * squeeze
            c.setFillGray(grey)
            c.setFont(font_name, size * squeeze)
            c.drawString(left, y, value)

        # Batch label, bottom left, small, under the QR caption too if it is long.
        if card.label:
            c.setFillGray(0.45)
            c.setFont(self.sans.name, 5.5)
            c.drawString(left, y0 + pad - 0.5 * MM,
                         _ellipsize(_safe(card.label, self.sans), self.sans.name, 5.5,
                                    g.card_w - 2 * pad))

    def _code_lines(self, code: str, width: float) -> list[tuple[str, float]]:
        """The grouped code on one line, or two when one line would print it too small."""
        grouped = group(code)
        size = _fit_size(grouped, self.mono.name, width, 16, 6)
        parts = grouped.split(" ")
        if size >= 11 or len(parts) <= 2:
            return [(grouped, size)]
        half = (len(parts) + 1) // 2
        lines = [" ".join(parts[:half]), " ".join(parts[half:])]
        size = min(_fit_size(line, self.mono.name, width, 14, 6) for line in lines)
        return [(line, size) for line in lines]

    def render(self, cards: Sequence[Card]) -> None:
        g = self.grid
        per_page = g.per_page
        c = self.canvas
        for page in range(self.pages):
            on_page = cards[page * per_page:(page + 1) * per_page]
            self.page_furniture(page + 1, max(1, math.ceil(len(on_page) / g.columns)))
            for k, card in enumerate(on_page):
                row, col = divmod(k, g.columns)
                x0 = g.left + col * g.card_w
                y0 = g.bottom + (g.rows - 1 - row) * g.card_h
                self.card(card, x0, y0)
            c.showPage()
        c.save()


def write_pdf_sheet(out: BinaryIO, cards: Sequence[Card], *, venue: str, title: str = "",
                    page_size: str | tuple[float, float] = "A4") -> None:
    """Write the sheet to a binary file object (a file, a response, a BytesIO)."""
    size = _page_size(page_size)
    # Binary (not ASCII85) streams: a quarter smaller, and every PDF reader takes them.
    saved = rl_config.useA85
    rl_config.useA85 = 0
    try:
        sheet = _Sheet(out, venue=venue, title=title, page_size=size, total=len(cards))
        sheet.render(cards)
    finally:
        rl_config.useA85 = saved


def pdf_sheet(cards: Sequence[Card], *, venue: str, title: str = "",
              page_size: str | tuple[float, float] = "A4") -> bytes:
    """A PDF of cut-out cards, 21 to a page on A4 or Letter (``page_size``: "A4", "Letter"
    or (width, height) in points)."""
    buffer = io.BytesIO()
    write_pdf_sheet(buffer, cards, venue=venue, title=title, page_size=page_size)
    return buffer.getvalue()
