"""CDR lines into calls, in batches; on PostgreSQL a second thread writes one batch while
the next is read and rated."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from django.db import IntegrityError, connection, transaction

from ..cdr import Cdr, CdrError, parse_lines
from .context import _Context
from .prepare import _prepare, _Prepared
from .result import CdrImport, Problem
from .store import _write

BATCH = 5000
PIPELINE = True  # PostgreSQL: write batches in a second thread (tests switch it off)



def _import_batch(ctx: _Context, records: list[Cdr], out: CdrImport,
                  seen: set[str] | None = None) -> None:
    """Import one batch of parsed records, all in one transaction. ``seen``: the PBX ids
    of this import's earlier batches (a repeat is a duplicate without asking the
    database); this batch's are added once it is stored."""
    if not records:
        return
    seen = set() if seen is None else seen
    outermost = not connection.in_atomic_block
    for attempt in range(3):
        result = CdrImport()
        try:
            with transaction.atomic():
                prepared = _prepare(ctx, records, result, seen)
                _write(ctx, prepared, result, last=outermost)
        except IntegrityError:
            # A PBX id stored in parallel (an API call, another importer): check again.
            if attempt == 2:
                raise
            continue
        seen |= prepared.uids
        out.merge(result)
        return



def import_lines(lines: Iterable[str], *, source: str | None = None, first_line: int = 1,
                 complete: bool = True, progress: Callable[[int], None] | None = None
                 ) -> CdrImport:
    """Import CDR lines (each with its newline), in batches of :data:`BATCH`.

    On PostgreSQL, outside a transaction, the batches are written by a second thread (its
    own connection) while the next one is read and rated: the database's work and
    Python's overlap. A batch it could not write (a PBX id stored meanwhile by someone
    else) is done again at the end, the plain way.
    """
    started = time.perf_counter()
    out = CdrImport()
    ctx = _Context()
    writer = _Writer(ctx) if PIPELINE and connection.vendor == "postgresql" \
        and not connection.in_atomic_block else None
    seen: set[str] = set()
    batch: list[Cdr] = []
    pending: list[list[Cdr]] = []

    def flush(records: list[Cdr]) -> None:
        if writer is None:
            _import_batch(ctx, records, out, seen)
            return
        result = CdrImport()
        prepared = _prepare(ctx, records, result, seen)
        seen.update(prepared.uids)  # optimistic: taken back if the write fails
        writer.put(records, prepared, result)

    try:
        for item in parse_lines(lines, source=source, first_line=first_line,
                                complete=complete):
            if isinstance(item, CdrError):
                out.records += 1
                out.add_problem(Problem(item.line, item.message, item.text))
                continue
            out.source = out.source or item.source
            batch.append(item)
            if len(batch) >= BATCH:
                flush(batch)
                batch = []
                if progress is not None:
                    progress(item.line)
        if batch:
            flush(batch)
    finally:
        if writer is not None:
            written, failed = writer.finish()
            for result in written:
                out.merge(result)
            for records, prepared in failed:
                seen.difference_update(prepared.uids)
                pending.append(records)
    for records in pending:
        _import_batch(ctx, records, out, seen)
    out.seconds = time.perf_counter() - started
    return out



class _Writer:
    """The thread that writes prepared batches, one transaction each, in order."""

    def __init__(self, ctx: _Context) -> None:
        import queue
        import threading

        self.ctx = ctx
        self.queue: queue.Queue = queue.Queue(maxsize=2)
        self.written: list[CdrImport] = []
        self.failed: list[tuple[list[Cdr], _Prepared]] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="cdr-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        from django.db import connection as conn

        try:
            while True:
                item = self.queue.get()
                if item is None:
                    return
                if self.error is not None:
                    continue  # drain after a failure
                records, prepared, result = item
                try:
                    with transaction.atomic():
                        _write(self.ctx, prepared, result, last=True)
                except IntegrityError:
                    self.failed.append((records, prepared))
                    continue
                self.written.append(result)
        except BaseException as exc:  # reported to the importing thread
            self.error = exc
            while self.queue.get() is not None:  # let the producer finish
                pass
        finally:
            conn.close()

    def put(self, records: list[Cdr], prepared: _Prepared, result: CdrImport) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put((records, prepared, result))

    def finish(self) -> tuple[list[CdrImport], list[tuple[list[Cdr], _Prepared]]]:
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.written, self.failed
