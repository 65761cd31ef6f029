"""CDR lines into calls, in batches; on PostgreSQL a second thread writes one batch while
the next is read and rated."""

from __future__ import annotations

import contextlib
import gc
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator

from django.db import IntegrityError, connection, transaction

from ..cdr import Cdr, CdrError, parse_lines
from .context import _Context
from .prepare import _prepare, _Prepared
from .result import CdrImport, Problem
from .store import _write

BATCH = 5000
PIPELINE = True  # PostgreSQL: write batches in a second thread (tests switch it off)
# Python's thread switch interval while a writer thread runs (seconds; Python's default is
# 0.005). A thread back from the database waits for the interpreter lock until the busy
# thread is made to let go: up to the whole interval. The writer makes about a dozen
# round trips a batch while the reading thread is busy, and each cost ~5 ms that way
# (0.03 ms when the other thread is idle); at 0.0005 s, under 1 ms.
SWITCH_INTERVAL = 0.0005



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
    with _lazy_cycle_collection():
        return _import_lines(lines, source, first_line, complete, progress)


def _import_lines(lines: Iterable[str], source: str | None, first_line: int, complete: bool,
                  progress: Callable[[int], None] | None) -> CdrImport:
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
            if not out.source:
                out.source = item.source
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


_process_lock = threading.Lock()
_switch_users = 0
_switch_saved = 0.0
_gc_users = 0
_gc_saved: tuple[int, ...] = ()
_NO_FULL_COLLECTION = 2**31 - 1  # young collections between two full ones: "never"
_YOUNG_THRESHOLD = 100_000  # objects allocated (net) between two young collections


def _quick_switches(on: bool) -> None:
    """Shorten Python's thread switch interval (:data:`SWITCH_INTERVAL`) while at least
    one writer thread runs; the interval before the first is put back after the last."""
    global _switch_users, _switch_saved
    with _process_lock:
        if on:
            if not _switch_users:
                _switch_saved = sys.getswitchinterval()
                sys.setswitchinterval(min(_switch_saved, SWITCH_INTERVAL))
            _switch_users += 1
        else:
            _switch_users -= 1
            if not _switch_users:
                sys.setswitchinterval(_switch_saved)


@contextlib.contextmanager
def _lazy_cycle_collection() -> Iterator[None]:
    """Python's cycle collector made lazy while at least one import runs: no full
    collection, a young one only after :data:`_YOUNG_THRESHOLD` objects (not 700); the
    thresholds before the first import put back after the last.

    An import keeps a batch's records, rows and tuples alive: hundreds of thousands of
    objects over a file, which die by reference counting but first outlive young
    collections. Young collections walked them again and again, and each time enough had
    outlived those, a full collection walked every object of the process with both
    threads stopped (in the benchmark, which holds 100,000 other rows: 4 full and ~500
    young collections per 100,000 CDRs, 0.7-0.85 s). The import makes next to no
    reference cycles; other threads' are still collected, later."""
    global _gc_users, _gc_saved
    with _process_lock:
        if not _gc_users:
            _gc_saved = gc.get_threshold()
            young = _gc_saved[0] and max(_gc_saved[0], _YOUNG_THRESHOLD)  # 0: off
            gc.set_threshold(young, _gc_saved[1], _NO_FULL_COLLECTION)
        _gc_users += 1
    try:
        yield
    finally:
        with _process_lock:
            _gc_users -= 1
            if not _gc_users:
                gc.set_threshold(*_gc_saved)


class _Writer:
    """The thread that writes prepared batches, one transaction each, in order."""

    def __init__(self, ctx: _Context) -> None:
        import queue

        self.ctx = ctx
        self.queue: queue.Queue = queue.Queue(maxsize=2)
        self.written: list[CdrImport] = []
        self.failed: list[tuple[list[Cdr], _Prepared]] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="cdr-writer", daemon=True)
        _quick_switches(True)
        try:
            self.thread.start()
        except BaseException:
            _quick_switches(False)
            raise

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
        try:
            self.thread.join()
        finally:
            _quick_switches(False)
        if self.error is not None:
            raise self.error
        return self.written, self.failed
