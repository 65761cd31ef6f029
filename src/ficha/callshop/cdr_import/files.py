"""A whole CDR file imported, audited."""

from __future__ import annotations

from django.utils.translation import gettext as _

from ficha.core import audit

from .pipeline import import_lines
from .result import CdrImport, Progress


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def import_file(actor: audit.Actor, data: bytes | str, *, name: str = "",
                progress: Progress | None = None) -> CdrImport:
    """Import a whole CDR file (Asterisk or FreeSWITCH, detected). Audited. A last line
    without its line end is reported (the PBX may still be writing it) and not read."""
    text = _decode(data) if isinstance(data, bytes) else data
    lines = text.splitlines(keepends=True)
    total = len(lines)
    report = (lambda n: progress(n, total)) if progress is not None else None
    result = import_lines(lines, complete=False, progress=report)
    if progress is not None:
        progress(total, total)
    audit.record(actor, "callshop.cdr_import", object_type="callshop.call",
                 summary=_("CDR file %(name)s imported: %(new)d calls, %(dup)d duplicates, "
                           "%(bad)d problems") % {"name": name or "-", "new": result.imported,
                                                 "dup": result.duplicates,
                                                 "bad": result.problem_count},
                 after={"file": name[:200], **result.as_dict()})
    return result
