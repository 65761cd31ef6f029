"""Printing recharge cards: the A4 PDF sheet, ESC/POS tickets and the QR encoder.

The PDF is read back with a small parser written here (streams inflated with zlib, text
mapped through each font's ToUnicode table), so no PDF library is needed. QR codes are
checked module for module against reportlab's encoder and, when Debian's ``zbar-tools``
(and ``poppler-utils`` for whole pages) are installed, decoded from rendered images.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import zlib
from dataclasses import dataclass, field

import pytest
from reportlab.graphics.barcode import qrencoder as rl_qr

from ficha.core import codes
from ficha.printing import cards as cards_mod
from ficha.printing import escpos, pdf, qr
from ficha.printing.cards import (
    Card,
    cards_per_page,
    escpos_ticket,
    escpos_tickets,
    pdf_sheet,
    recharge_url,
)

BASE = "https://wifi.cyber-etoile.sn"


def make_cards(n: int, *, label: str = "Lot 7", seed_len: int = 8) -> list[Card]:
    out = []
    for i in range(n):
        code = codes.random_code(seed_len, False)
        out.append(Card(code=code, amount="1\u202f500\u00a0F\u202fCFA",
                        expires="31/12/2026" if i % 2 else None,
                        url=recharge_url(BASE, code), label=label))
    return out


# --- a small PDF reader -----------------------------------------------------------------------
_OBJ = re.compile(rb"(\d+) 0 obj\b")


def _objects(data: bytes) -> dict[int, tuple[bytes, bytes | None]]:
    """Object number → (dictionary text, inflated stream or None)."""
    out = {}
    pos = 0
    while m := _OBJ.search(data, pos):
        end = data.index(b"endobj", m.end())
        stream_at = data.find(b"stream", m.end(), end)
        if stream_at < 0:
            out[int(m.group(1))] = (data[m.end():end], None)
            pos = end
            continue
        head = data[m.end():stream_at]
        start = stream_at + len(b"stream")
        start += 2 if data[start:start + 2] == b"\r\n" else 1
        raw = data[start:start + int(re.search(rb"/Length (\d+)", head).group(1))]
        assert b"ASCII85" not in head
        stream = zlib.decompress(raw) if b"/FlateDecode" in head else raw
        out[int(m.group(1))] = (head, stream)
        pos = data.index(b"endobj", start + len(raw))
    return out


def _unescape(literal: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(literal):
        ch = literal[i]
        if ch == 0x5C:  # backslash
            nxt = literal[i + 1:i + 2]
            octal = re.match(rb"[0-7]{1,3}", literal[i + 1:i + 4])
            if octal:
                out.append(int(octal.group(0), 8) & 0xFF)
                i += 1 + len(octal.group(0))
                continue
            out += {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}.get(
                nxt, nxt)
            i += 2
            continue
        out.append(ch)
        i += 1
    return bytes(out)


def _cmap(stream: bytes) -> dict[int, str]:
    table = {}
    for block in re.findall(rb"beginbfchar(.*?)endbfchar", stream, re.S):
        for src, dst in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            table[int(src, 16)] = bytes.fromhex(dst.decode()).decode("utf-16-be")
    return table


@dataclass
class PdfPage:
    lines: list[str] = field(default_factory=list)
    content: bytes = b""

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def read_pdf(data: bytes) -> list[PdfPage]:
    assert data.startswith(b"%PDF-")
    objs = _objects(data)
    fonts: dict[bytes, dict[int, str] | None] = {}
    for body, _stream in objs.values():
        if re.search(rb"/Type /Font\s", body):
            name = re.search(rb"/Name /(\S+)", body).group(1)
            ref = re.search(rb"/ToUnicode (\d+) 0 R", body)
            fonts[name] = _cmap(objs[int(ref.group(1))][1]) if ref else None
    pages_root = next(b for b, _ in objs.values() if re.search(rb"/Type /Pages\b", b))
    kids = [int(k) for k in re.findall(rb"(\d+) 0 R", pages_root.split(b"/Kids", 1)[1]
                                        .split(b"]", 1)[0])]
    pages = []
    for kid in kids:
        body = objs[kid][0]
        assert re.search(rb"/Type /Page\b", body)
        content = objs[int(re.search(rb"/Contents (\d+) 0 R", body).group(1))][1]
        page = PdfPage(content=content)
        current = None
        for m in re.finditer(rb"/(\S+) [\d.]+ Tf|\(((?:\\.|[^\\)])*)\) Tj", content, re.S):
            if m.group(1) is not None:
                current = m.group(1)
                continue
            raw = _unescape(m.group(2))
            table = fonts.get(current)
            if table is None:
                page.lines.append(raw.decode("cp1252"))
            else:
                page.lines.append("".join(table.get(b, "\ufffd") for b in raw))
        pages.append(page)
    return pages


# --- a small ESC/POS interpreter --------------------------------------------------------------
@dataclass
class Printed:
    lines: list[tuple[str, int, int, int, bool]] = field(default_factory=list)
    # (text, width in columns, char width, char height, bold)
    qr_codes: list[dict] = field(default_factory=list)
    code_page: int | None = None
    cuts: list[bytes] = field(default_factory=list)
    initialised_first: bool = False
    feeds: int = 0


def run_escpos(data: bytes, codec: str = "cp850") -> Printed:
    """Interpret every byte; any command this module does not know fails the test."""
    out = Printed(initialised_first=data.startswith(b"\x1b@"))
    i = 0
    size_w = size_h = 1
    bold = False
    line = bytearray()
    line_width = 0
    qr_state: dict = {}

    def end_line() -> None:
        nonlocal line, line_width
        out.lines.append((bytes(line).decode(codec), line_width, size_w, size_h, bold))
        line = bytearray()
        line_width = 0

    while i < len(data):
        b = data[i]
        if b == 0x1B:
            cmd = data[i + 1:i + 2]
            if cmd == b"@":
                size_w = size_h = 1
                bold = False
                i += 2
            elif cmd == b"t":
                out.code_page = data[i + 2]
                i += 3
            elif cmd == b"a":
                assert data[i + 2] in (0, 1, 2)
                i += 3
            elif cmd == b"E":
                bold = bool(data[i + 2])
                i += 3
            elif cmd == b"d":
                out.feeds += data[i + 2]
                i += 3
            else:
                raise AssertionError(f"unknown ESC command {cmd!r} at {i}")
        elif b == 0x1D:
            cmd = data[i + 1:i + 2]
            if cmd == b"!":
                n = data[i + 2]
                size_w, size_h = (n >> 4) + 1, (n & 0x0F) + 1
                i += 3
            elif cmd == b"V":
                m = data[i + 2]
                if m in (65, 66):
                    out.cuts.append(data[i:i + 4])
                    i += 4
                else:
                    out.cuts.append(data[i:i + 3])
                    i += 3
            elif data[i + 1:i + 3] == b"(k":
                length = data[i + 3] | (data[i + 4] << 8)
                params = data[i + 5:i + 5 + length]
                assert params[0] == 49, "not a QR code function"
                fn = params[1]
                if fn == 65:
                    qr_state["model"] = params[2]
                elif fn == 67:
                    qr_state["module"] = params[2]
                elif fn == 69:
                    qr_state["ecc"] = params[2]
                elif fn == 80:
                    assert params[2] == 48
                    qr_state["data"] = bytes(params[3:])
                elif fn == 81:
                    assert "data" in qr_state, "QR printed before anything was stored"
                    out.qr_codes.append(dict(qr_state))
                else:
                    raise AssertionError(f"unknown QR function {fn}")
                i += 5 + length
            else:
                raise AssertionError(f"unknown GS command {cmd!r} at {i}")
        elif b == 0x0A:
            end_line()
            i += 1
        elif b < 0x20 or b == 0x7F:
            raise AssertionError(f"stray control byte {b:#x} at {i}")
        else:
            line.append(b)
            line_width += size_w
            i += 1
    assert not line, "text left unprinted after the last line feed"
    return out


# --- recharge_url -----------------------------------------------------------------------------
def test_recharge_url_fills_in_the_code():
    assert recharge_url("http://10.0.0.1:8000", "12345678") == \
        "http://10.0.0.1:8000/recharge?code=12345678"
    assert recharge_url("https://wifi.example/portal/", "0012") == \
        "https://wifi.example/portal/recharge?code=0012"


# --- PDF --------------------------------------------------------------------------------------
@pytest.mark.parametrize("count", [1, 21, 22, 50])
def test_pdf_has_every_code_and_the_right_number_of_pages(count):
    batch = make_cards(count)
    sheet = pdf_sheet(batch, venue="Cyber Star", title="Lot 7")
    assert b"/PrintScaling /None" in sheet  # readers must not shrink it: cut lines move
    pages = read_pdf(sheet)
    assert len(pages) == math.ceil(count / 21)
    assert cards_per_page("A4") == 21
    text = "\n".join(p.text for p in pages)
    for card in batch:
        assert text.count(codes.group(card.code)) == 1
    # Codes appear in order, 21 to a page.
    for n, page in enumerate(pages):
        for card in batch[n * 21:(n + 1) * 21]:
            assert codes.group(card.code) in page.lines
        assert f"Page {n + 1} of {len(pages)}" in page.text


def test_pdf_card_shows_amount_expiry_label_and_address():
    card = Card("12345678", "1\u202f500\u00a0F\u202fCFA", "31/12/2026",
                recharge_url(BASE, "12345678"), label="Promo mars")
    never = Card("87654321", "500 F CFA", None, recharge_url(BASE, "87654321"))
    lines = read_pdf(pdf_sheet([card, never], venue="Cyber Star"))[0].lines
    for expected in ("Cyber Star", "Recharge code", "1234 5678", "8765 4321",
                     "Valid until 31/12/2026", "No expiry", "Promo mars", "Scan to recharge",
                     "wifi.cyber-etoile.sn/recharge"):
        assert expected in lines, expected
    assert any("500" in line and "CFA" in line for line in lines)


def test_pdf_letter_and_custom_page_sizes():
    batch = make_cards(30)
    letter = read_pdf(pdf_sheet(batch, venue="V", page_size="Letter"))
    assert len(letter) == math.ceil(30 / cards_per_page("Letter"))
    assert b"/MediaBox [ 0 0 612 792 ]" in pdf_sheet(batch[:1], venue="V", page_size="letter")
    small = (100 * pdf.MM, 60 * pdf.MM)
    assert cards_per_page(small) == 1
    assert len(read_pdf(pdf_sheet(batch[:3], venue="V", page_size=small))) == 3
    with pytest.raises(ValueError):
        pdf_sheet(batch, venue="V", page_size="A9")


def test_pdf_long_codes_are_printed_whole():
    batch = make_cards(3, seed_len=16)
    lines = read_pdf(pdf_sheet(batch, venue="V"))[0].lines
    for card in batch:
        grouped = codes.group(card.code)
        assert grouped in lines or any(
            a + " " + b == grouped for a, b in zip(lines, lines[1:], strict=False))


def test_pdf_accented_and_non_latin_venue_names():
    venue = "Cyber Étoile — Thiès · Кафе Ωmega"
    sheet = pdf_sheet(make_cards(2), venue=venue, title="Lot ñ")
    lines = read_pdf(sheet)[0].lines
    if pdf.font("bold").name.startswith("Ficha-bold-DejaVu"):
        # DejaVu has Latin, Greek and Cyrillic glyphs; a long name wraps on the cards.
        assert lines[0] == venue + " · Lot ñ"
        assert any(a + " " + b == venue for a, b in zip(lines, lines[1:], strict=False))
        assert b"/FontFile2" in sheet  # embedded, not left to the printer
    else:
        assert any(line.startswith("Cyber") for line in lines)
    # Script the font lacks (Chinese here) does not crash and is not printed as boxes.
    cjk = read_pdf(pdf_sheet(make_cards(1), venue="网吧 Café"))[0].lines
    assert any(line.endswith("Café") for line in cjk)
    assert not any("\ufffd" in line for line in cjk)


def test_pdf_without_any_font_file_falls_back_to_helvetica(monkeypatch):
    monkeypatch.setattr(pdf, "_candidates", lambda role: [])
    pdf.font.cache_clear()
    try:
        sheet = pdf_sheet(make_cards(1), venue="Café Łódź €")
        assert b"/FontFile2" not in sheet
        assert "Café Lódz €" in read_pdf(sheet)[0].lines  # cp1252 has é, ó and €, not Ł, ź
    finally:
        pdf.font.cache_clear()


def test_pdf_labels_follow_the_active_language(monkeypatch):
    monkeypatch.setattr(pdf, "_", lambda s: "«" + s + "»")
    card = make_cards(1)[0]
    lines = read_pdf(pdf_sheet([card], venue="V"))[0].lines
    assert "«Recharge code»" in lines
    assert "«Scan to recharge»" in lines
    assert "«No expiry»" in lines


def test_pdf_draws_the_qr_code_of_each_url():
    """The modules painted for each card are exactly the QR code of that card's URL."""
    batch = make_cards(3)
    content = read_pdf(pdf_sheet(batch, venue="V"))[0].content.decode("latin-1")
    blocks = re.findall(r"q 0 g [\d.]+ 0 0 -[\d.]+ [\d.]+ [\d.]+ cm\n(.*?)\nf Q", content,
                        re.S)
    assert len(blocks) == 3
    for card, block in zip(batch, blocks, strict=True):
        expected = qr.encode(card.url, "M")
        n = len(expected)
        painted = [["0"] * n for _ in range(n)]
        for x, y, w in re.findall(r"(\d+) (\d+) (\d+) 1 re", block):
            for k in range(int(w)):
                painted[int(y)][int(x) + k] = "1"
        assert ["".join(r) for r in painted] == expected


def _zbar(path) -> list[str]:
    result = subprocess.run(["zbarimg", "-q", "--raw", str(path)], capture_output=True,
                            text=True, timeout=60)
    return [line for line in result.stdout.splitlines() if line]


needs_zbar = pytest.mark.skipif(shutil.which("zbarimg") is None,
                                reason="zbarimg (Debian zbar-tools) is not installed")


@needs_zbar
@pytest.mark.skipif(shutil.which("pdftoppm") is None,
                    reason="pdftoppm (Debian poppler-utils) is not installed")
def test_pdf_qr_codes_scan_to_the_recharge_url(tmp_path):
    from PIL import Image

    batch = make_cards(21)
    path = tmp_path / "cards.pdf"
    path.write_bytes(pdf_sheet(batch, venue="Cyber Étoile"))
    subprocess.run(["pdftoppm", "-r", "150", "-png", "-f", "1", "-l", "1", str(path),
                    str(tmp_path / "page")], check=True, timeout=60)
    image = Image.open(next(tmp_path.glob("page*.png")))
    grid = pdf.grid_for(pdf.A4)
    scale = image.size[0] / pdf.A4[0]
    found = []
    for k in range(len(batch)):
        row, col = divmod(k, grid.columns)
        left = (grid.left + col * grid.card_w) * scale
        top = (pdf.A4[1] - grid.bottom - (grid.rows - row) * grid.card_h) * scale
        crop = image.crop((int(left), int(top), int(left + grid.card_w * scale),
                           int(top + grid.card_h * scale)))
        crop.save(tmp_path / "card.png")
        found.append(_zbar(tmp_path / "card.png"))
    assert found == [[card.url] for card in batch]


# --- QR encoder -------------------------------------------------------------------------------
@pytest.mark.parametrize("length,level", [(10, "M"), (60, "M"), (60, "L"), (150, "Q"),
                                          (200, "H"), (400, "M"), (1000, "L")])
def test_qr_matrix_matches_reportlab_for_every_mask(length, level):
    data = bytes((i * 37 + 11) % 256 for i in range(length))
    version = qr.version_for(data, level)
    for mask in range(8):
        ref = rl_qr.QRCode(version, qr.LEVELS[level][0])
        ref.addData(rl_qr.QR8bitByte(data))
        ref.makeImpl(False, mask)
        expected = ["".join("1" if m else "0" for m in row) for row in ref.modules]
        assert qr.encode(data, level, mask) == expected


def test_qr_alignment_positions_match_the_standard_table():
    for version in range(1, 41):
        assert qr._alignment_positions(version) == rl_qr.QRUtil.getPatternPosition(version)


def _naive_penalty(rows: list[str]) -> int:
    """The four penalty rules of ISO/IEC 18004 §7.8.3, written the slow, obvious way."""
    n = len(rows)
    cols = ["".join(r[c] for r in rows) for c in range(n)]
    score = 0
    for line in rows + cols:
        run = 1
        for k in range(1, n + 1):
            if k < n and line[k] == line[k - 1]:
                run += 1
            else:
                if run >= 5:
                    score += 3 + run - 5
                run = 1
        padded = "0000" + line + "0000"
        for k in range(len(padded) - 10):
            window = padded[k:k + 11]
            score += 40 * (window == "10111010000") + 40 * (window == "00001011101")
    for r in range(n - 1):
        for c in range(n - 1):
            if rows[r][c] == rows[r][c + 1] == rows[r + 1][c] == rows[r + 1][c + 1]:
                score += 3
    dark = sum(row.count("1") for row in rows)
    score += 10 * (abs(dark * 20 - n * n * 10) // (n * n))
    return score


@pytest.mark.parametrize("payload", [f"{BASE}/recharge?code={n:08d}" for n in (0, 1, 9, 4321)]
                         + ["x" * 200])
def test_qr_picks_the_mask_with_the_lowest_penalty(payload):
    scores = [_naive_penalty(qr.encode(payload, "M", mask)) for mask in range(8)]
    assert [qr.penalty(qr.encode(payload, "M", mask)) for mask in range(8)] == scores
    assert qr.encode(payload, "M") == qr.encode(payload, "M", scores.index(min(scores)))


def test_qr_penalty_of_unusual_matrices():
    import random

    rng = random.Random(7)
    matrices = [["1" * 21] * 21, ["0" * 25] * 25, ["10" * 14 + "1"] * 29,
                ["".join(rng.choice("0001") for _ in range(33)) for _ in range(33)]]
    for rows in matrices:
        assert qr.penalty(rows) == _naive_penalty(rows)


def test_qr_refuses_what_does_not_fit():
    with pytest.raises(ValueError):
        qr.version_for(b"x" * 3000, "M")
    with pytest.raises(ValueError):
        qr.version_for(b"x", "Z")


@needs_zbar
def test_qr_symbols_decode(tmp_path):
    from PIL import Image

    payloads = [recharge_url(BASE, codes.random_code(n, True)) for n in (8, 12, 16)]
    payloads += ["https://hotspot.example/r?code=1", "%C3%A9" * 30, "A" * 700]
    for payload in payloads:
        rows = qr.encode(payload)
        n, s = len(rows), 4
        image = Image.new("L", ((n + 8) * s, (n + 8) * s), 255)
        for r, row in enumerate(rows):
            for c, bit in enumerate(row):
                if bit == "1":
                    image.paste(0, ((c + 4) * s, (r + 4) * s, (c + 5) * s, (r + 5) * s))
        image.save(tmp_path / "qr.png")
        assert _zbar(tmp_path / "qr.png") == [payload]


# --- ESC/POS ----------------------------------------------------------------------------------
def test_escpos_ticket_contents():
    card = Card("12345678", "1\u202f500\u00a0F\u202fCFA", "31/12/2026",
                recharge_url(BASE, "12345678"), label="Lot 7")
    data = escpos_ticket(card, venue="Cyber Star", width_mm=58)
    assert data.startswith(b"\x1b@")
    assert b"1234 5678" in data
    url = card.url.encode()
    store = b"\x1d(k" + bytes([len(url) + 3, 0]) + b"\x31\x50\x30" + url
    assert store in data
    assert b"\x1d(k\x03\x00\x31\x51\x30" in data  # print the stored symbol
    assert data.endswith(b"\x1dV\x42\x00")  # feed to the cutter, partial cut
    printed = run_escpos(data)
    assert printed.code_page == escpos.CODE_PAGES["cp850"]
    assert printed.qr_codes == [{"model": 50, "module": printed.qr_codes[0]["module"],
                                 "ecc": 49, "data": url}]
    texts = [line[0] for line in printed.lines]
    for expected in ("Cyber Star", "Recharge code", "1234 5678", "Valid until 31/12/2026",
                     "Scan to recharge", "Lot 7"):
        assert expected in texts, expected
    code_line = next(line for line in printed.lines if line[0] == "1234 5678")
    assert code_line[2] >= 2 and code_line[4]  # big and bold
    assert len(printed.cuts) == 1


def test_escpos_no_expiry_and_no_cut():
    card = Card("12345678", "500 F", None, recharge_url(BASE, "12345678"))
    printed = run_escpos(escpos_ticket(card, venue="V", cut=False))
    assert "No expiry" in [line[0] for line in printed.lines]
    assert printed.cuts == []
    assert printed.feeds >= 3  # past the tear bar


@pytest.mark.parametrize("width_mm,columns", [(58, 32), (80, 48)])
def test_escpos_lines_fit_the_paper(width_mm, columns):
    long_venue = "Cyber Café de la Grande Mosquée et du Marché Central de Ziguinchor"
    batch = make_cards(2, label="Lot de promotion pour la rentrée scolaire 2026 — quartier")
    batch.append(Card("1234567890123456", "150\u202f000\u00a0F\u202fCFA", "31/12/2026",
                      recharge_url(BASE + "/a/very/long/path/to/the/portal", "1234567890123456")))
    data = escpos_tickets(batch, venue=long_venue, width_mm=width_mm)
    printed = run_escpos(data)
    assert printed.initialised_first
    assert data.count(b"\x1b@") == 1
    assert len(printed.cuts) == 3
    assert len(printed.qr_codes) == 3
    assert max(width for _, width, *_ in printed.lines) <= columns
    assert max(width for _, width, *_ in printed.lines) > columns * 0.7  # uses the paper
    # The venue wraps instead of being cut off mid-word.
    assert any(line[0].startswith("Cyber Caf") for line in printed.lines)
    # Every code is printed whole, at twice the normal size or more (16 digits on two lines).
    big = "".join(text for text, _w, size, _h, bold in printed.lines if size >= 2 and bold)
    for card in batch:
        assert card.code in big.replace(" ", "")
    # A wider roll prints a bigger QR code.
    module = printed.qr_codes[0]["module"]
    assert module * (17 + 4 * qr.version_for(batch[0].url)) <= escpos.WIDTHS[width_mm][1]


def test_escpos_80mm_prints_bigger():
    card = make_cards(1)[0]
    small = run_escpos(escpos_ticket(card, venue="V", width_mm=58))
    large = run_escpos(escpos_ticket(card, venue="V", width_mm=80))
    assert large.qr_codes[0]["module"] > small.qr_codes[0]["module"]
    small_size, large_size = (
        next(line[2] for line in p.lines if line[0] == codes.group(card.code))
        for p in (small, large))
    assert large_size > small_size
    with pytest.raises(ValueError):
        escpos_ticket(card, venue="V", width_mm=76)


def test_escpos_non_ascii_text_is_encoded_for_the_code_page():
    card = Card("12345678", "12,50\u00a0€", "31.12.2026", recharge_url(BASE, "12345678"),
                label="Ñandú “spécial”")
    venue = "Cyber Étoile — Кафе 网吧"
    data = escpos_ticket(card, venue=venue, width_mm=80)
    printed = run_escpos(data)  # every byte is a known command or a printable character
    texts = " ".join(line[0] for line in printed.lines)
    assert "Cyber Étoile - ???? ??" in texts  # é in PC850; others get an ASCII stand-in
    assert b"Cyber \x90toile" in data  # É is 0x90 in code page 850
    assert "12,50\u00a0EUR" in texts
    assert 'Ñandú "spécial"' in texts
    assert "\u2014".encode() not in data and "€".encode() not in data
    # Windows-1252 has € and the dashes: they are printed, not replaced.
    w1252 = run_escpos(escpos_ticket(card, venue=venue, code_page="cp1252"), codec="cp1252")
    assert w1252.code_page == 16
    assert "12,50\u00a0€" in [line[0] for line in w1252.lines]
    with pytest.raises(ValueError):
        escpos_ticket(card, venue="V", code_page="utf-8")


def test_escpos_without_qr_support_prints_the_address():
    card = make_cards(1)[0]
    printed = run_escpos(escpos_ticket(card, venue="V", with_qr=False))
    assert printed.qr_codes == []
    assert "".join(line[0] for line in printed.lines).find(card.url) >= 0


def test_escpos_control_characters_cannot_reach_the_printer():
    card = Card("12345678", "500 F\x1bd\xff", None, recharge_url(BASE, "12345678"),
                label="evil\x1dV\x00")
    printed = run_escpos(escpos_ticket(card, venue="V\x1b@"))
    assert len(printed.cuts) == 1


def test_escpos_labels_follow_the_active_language(monkeypatch):
    monkeypatch.setattr(escpos, "_", lambda s: s.upper())
    printed = run_escpos(escpos_ticket(make_cards(1)[0], venue="V"))
    texts = [line[0] for line in printed.lines]
    assert "RECHARGE CODE" in texts and "SCAN TO RECHARGE" in texts


def test_public_interface():
    assert cards_mod.Card is Card
    card = make_cards(1)[0]
    with pytest.raises(AttributeError):
        card.code = "0"  # frozen
