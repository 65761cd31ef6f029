"""A growing CDR file followed, as ``tail -F`` does."""

from __future__ import annotations

import os

from ..cdr import detect
from .files import _decode
from .pipeline import import_lines
from .result import CdrImport


class Follower:
    """Follow a growing CDR file, as ``tail -F`` does: each :meth:`poll` imports the
    lines completed since the last one. A rotated file (a new file at the path, or the
    same file truncated) is read from its start, after the rest of the old one.

    The position is not stored: a restarted follower reads the file from its start (or
    its end, ``from_end``) — the PBX ids make re-reading charge nothing twice.
    """

    def __init__(self, path: str, *, from_end: bool = False) -> None:
        self.path = path
        self.handle = None
        self.inode: tuple[int, int] | None = None
        self.offset = 0
        self.line = 0
        self.source: str | None = None
        self.from_end = from_end
        self.rotations = 0

    def _open(self) -> bool:
        try:
            handle = open(self.path, "rb")  # noqa: SIM115 (kept open between polls)
        except FileNotFoundError:
            return False
        st = os.fstat(handle.fileno())
        self.handle, self.inode = handle, (st.st_dev, st.st_ino)
        self.offset, self.line = 0, 0
        if self.from_end:
            self.offset = st.st_size
            self.from_end = False
        return True

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None

    def _read_complete(self) -> tuple[list[str], int]:
        """The complete lines after the offset (a last line without its end waits), and
        the offset after them."""
        self.handle.seek(self.offset)
        data = self.handle.read()
        cut = data.rfind(b"\n")
        if cut < 0:
            return [], self.offset
        chunk = data[:cut + 1]
        return _decode(chunk).splitlines(keepends=True), self.offset + len(chunk)

    def poll(self) -> CdrImport:
        """Import what was completed since the last poll. If the import fails (the
        database went away), the position stays: the next poll reads the lines again
        (those stored meanwhile are then duplicates, charged once)."""
        out = CdrImport()
        if self.handle is None and not self._open():
            return out
        while True:
            lines, offset = self._read_complete()
            out.merge(self._import(lines))
            self.offset = offset
            try:
                st = os.stat(self.path)
            except FileNotFoundError:
                return out  # rotated away, the new one not there yet: keep the old open
            if (st.st_dev, st.st_ino) != self.inode:
                # rotated: the old file is finished (read above); the new one from its start
                self.close()
                self.rotations += 1
                self.source = None
                if not self._open():
                    return out
                continue
            if st.st_size < self.offset:  # truncated in place (copytruncate)
                self.rotations += 1
                self.offset, self.line, self.source = 0, 0, None
                continue
            return out

    def _import(self, lines: list[str]) -> CdrImport:
        if not lines:
            return CdrImport()
        if self.source is None:
            first = next((ln for ln in lines if ln.strip()), None)
            if first is not None:
                self.source = detect(first.rstrip("\r\n"))
        result = import_lines(lines, source=self.source, first_line=self.line + 1)
        self.line += len(lines)
        return result
