"""QR codes as inline SVG, for the browser's print page (sharp at any printer resolution)."""

from __future__ import annotations

from . import qr

QUIET = 4  # modules of white border the QR standard asks for


def qr_path(data: bytes | str) -> tuple[int, str]:
    """(size in modules with the quiet zone, SVG path data of the dark modules)."""
    rows = qr.encode(data, "M")
    parts = []
    for y, row in enumerate(rows):
        x = 0
        while x < len(row):
            if row[x] == "1":
                start = x
                while x < len(row) and row[x] == "1":
                    x += 1
                parts.append(f"M{start + QUIET} {y + QUIET}h{x - start}v1h-{x - start}z")
            else:
                x += 1
    return len(rows) + 2 * QUIET, "".join(parts)


def qr_svg(data: bytes | str, *, label: str = "") -> str:
    """An ``<svg>`` element drawing the QR code of ``data`` (``label``: its accessible name,
    HTML-escaped by the caller's template if it comes from a person)."""
    size, path = qr_path(data)
    title = f'<title>{_escape(label)}</title>' if label else ""
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" '
            f'shape-rendering="crispEdges" role="img" class="qr">{title}'
            f'<rect width="{size}" height="{size}" fill="#fff"/>'
            f'<path d="{path}" fill="#000"/></svg>')


def _escape(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))
