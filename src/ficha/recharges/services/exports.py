"""Exporting codes as CSV: one audited service for the console, the API and the CLI."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, fields

from django.utils.translation import gettext as _

from ficha.core import audit

from ..export import csv_lines
from ..models import Batch
from .queries import RechargeQuery, search, totals


@dataclass
class Export:
    """An export under way: ``count`` codes, and ``lines`` (the header, then one CSV line
    per code, produced lazily for a streamed download)."""

    count: int
    lines: Iterator[str]


def _for_audit(query: RechargeQuery) -> dict:
    out = {}
    for f in fields(query):
        value = getattr(query, f.name)
        if value in (None, "", [], ()) or (f.name == "order" and value == "-id"):
            continue
        if isinstance(value, (dt.date, dt.datetime)):
            value = value.isoformat()
        elif isinstance(value, Batch):
            value = value.label
        elif isinstance(value, (list, tuple)):
            value = list(value)
        out[f.name] = value
    return out


def export(actor: audit.Actor, query: RechargeQuery | None = None, *,
           excel: bool = False) -> Export:
    """The codes of ``query`` as CSV (``recharges.export``'s columns), recorded in the
    audit log: sold, unused codes are money. ``excel``: start with a byte-order mark
    (the console's download, for Excel on Windows)."""
    query = query or RechargeQuery()
    qs = search(query)  # refuses a bad query before anything is recorded
    counts = totals(query)
    count = sum(counts[s]["count"] for s in query.statuses())
    audit.record(
        actor, "recharges.export", object_type="recharges.recharge",
        after={"filters": _for_audit(query), "count": count},
        summary=_("Exported %(count)d recharges") % {"count": count},
    )
    return Export(count=count, lines=csv_lines(qs.iterator(chunk_size=2000), excel=excel))
