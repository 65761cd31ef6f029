"""The tally: append-only count/value deltas per status and batch (instant totals)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.db import connection, transaction
from django.db.models import Max

from ..models import Tally


def _tally(*deltas: tuple[str, int, int, int]) -> None:
    """Record (key, batch id, count, value) deltas."""
    rows = [Tally(key=k, batch_id=b, count=c, value=v) for k, b, c, v in deltas if c or v]
    if rows:
        Tally.objects.bulk_create(rows)


def _tally_rows(rows: Iterable[tuple[int, int]], *moves: tuple[str, int]) -> None:
    """For rows of (batch id, amount), apply each (key, sign) move per batch."""
    per_batch: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for batch_id, amount in rows:
        per_batch[batch_id][0] += 1
        per_batch[batch_id][1] += amount
    _tally(*[(key, b, sign * n, sign * v) for b, (n, v) in per_batch.items()
             for key, sign in moves])


def compact_tally(min_extra: int = 0) -> int:
    """Fold the tally's rows into one per key and batch. Returns how many were folded.

    Does nothing unless there are more than ``min_extra`` rows beyond one per group.
    """
    table = connection.ops.quote_name(Tally._meta.db_table)
    with transaction.atomic():
        top = Tally.objects.aggregate(m=Max("id"))["m"]
        if top is None:
            return 0
        groups = Tally.objects.filter(id__lte=top).values("key", "batch_id").distinct()
        if Tally.objects.filter(id__lte=top).count() <= groups.count() + min_extra:
            return 0
        with connection.cursor() as cur:
            cur.execute(f"DELETE FROM {table} WHERE id <= %s "
                        f"RETURNING key, batch_id, count, value", [top])
            rows = cur.fetchall()
        sums: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
        for key, batch_id, n, v in rows:
            sums[key, batch_id][0] += n
            sums[key, batch_id][1] += v
        _tally(*[(k, b, n, v) for (k, b), (n, v) in sums.items()])
    return len(rows)

