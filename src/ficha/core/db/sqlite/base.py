"""Django's SQLite backend with fair, queued writers.

SQLite lets one writer at a time in, and a waiting writer polls (the busy handler) instead of
queueing: under load a writer can lose every race until its busy timeout expires and the user
sees ``database is locked``. This backend queues writers instead:

- every write transaction (``BEGIN IMMEDIATE``, Django's ``atomic``) and every write statement
  outside one (autocommit) first takes a first-come-first-served lock shared by the threads
  of the process, then an exclusive lock on the file ``<database>.lock`` shared by the
  processes (web workers, the worker, RADIUS), and only then asks SQLite for its write lock,
  which is therefore free — or held for a moment by a program that does not queue (the
  ``sqlite3`` shell), in which case ``BEGIN IMMEDIATE`` is retried: it has done no work yet;
- both locks are released when the transaction commits or rolls back (or the connection
  closes). The operating system drops the file lock of a process that dies.

Readers never queue (WAL lets them read while a writer writes).
"""

from __future__ import annotations

import logging
import os
import threading
import time

from django.db import OperationalError
from django.db.backends.sqlite3 import base as sqlite3_base

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None
    import msvcrt

log = logging.getLogger(__name__)

# How long a writer waits in the queue before giving up (seconds). Waiting is fair, so this
# only ends a wait behind a stuck writer; settings' OPTIONS["write_queue_timeout"] changes it.
DEFAULT_QUEUE_TIMEOUT = 600.0
_READ_PREFIXES = ("SELECT", "PRAGMA", "EXPLAIN", "BEGIN", "COMMIT", "END", "ROLLBACK",
                  "SAVEPOINT", "RELEASE", "VALUES")


class _TicketLock:
    """A first-come-first-served lock between the threads of one process."""

    def __init__(self):
        self._cond = threading.Condition(threading.Lock())
        self._next = 0
        self._serving = 0
        self._abandoned: set[int] = set()

    def acquire(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            ticket = self._next
            self._next += 1
            while self._serving != ticket:
                left = deadline - time.monotonic()
                if left <= 0:
                    # Give the turn up without blocking the ones behind: when our turn comes
                    # it is passed on at once (see release).
                    self._abandoned.add(ticket)
                    return False
                self._cond.wait(left)
            return True

    def release(self) -> None:
        with self._cond:
            self._serving += 1
            while self._serving in self._abandoned:
                self._abandoned.discard(self._serving)
                self._serving += 1
            self._cond.notify_all()


class _FileLock:
    """An exclusive lock on a file, between processes; one per database file and process."""

    def __init__(self, path: str):
        self.path = path
        self._fd: int | None = None
        self._pid = None

    def _open(self) -> int:
        if self._fd is None or self._pid != os.getpid():  # a forked child needs its own
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd

    def acquire(self, timeout: float) -> bool:
        fd = self._open()
        if fcntl is not None:
            try:  # the common case: free
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                pass
            # Only one thread per process gets here (the ticket lock), so a short poll
            # between the processes is cheap, and it can give up at the deadline.
            deadline = time.monotonic() + timeout
            delay = 0.0005
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return True
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        return False
                    time.sleep(delay)
                    delay = min(delay * 2, 0.01)
        deadline = time.monotonic() + timeout  # pragma: no cover - Windows
        while True:  # pragma: no cover - Windows
            try:
                os.lseek(fd, 0, os.SEEK_SET)
                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
                return True
            except OSError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.005)

    def release(self) -> None:
        if fcntl is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        else:  # pragma: no cover - Windows
            os.lseek(self._fd, 0, os.SEEK_SET)
            msvcrt.locking(self._fd, msvcrt.LK_UNLCK, 1)


_registry_lock = threading.Lock()
_queues: dict[str, tuple[_TicketLock, _FileLock | None]] = {}


def _forget_queues_in_child() -> None:
    # A forked process (a web worker) starts with no turn held and its own lock file handle.
    _queues.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_queues_in_child)


def _queue_for(name: str, in_memory: bool) -> tuple[_TicketLock, _FileLock | None]:
    key = name if in_memory else os.path.abspath(name)
    with _registry_lock:
        if key not in _queues:
            _queues[key] = (_TicketLock(), None if in_memory else _FileLock(key + ".lock"))
        return _queues[key]


def _is_busy(exc: Exception) -> bool:
    text = str(exc).lower()
    return "database is locked" in text or "database is busy" in text


class DatabaseWrapper(sqlite3_base.DatabaseWrapper):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._holds_write_queue = False
        self._cursor_class = _cursor_class(self)

    def get_connection_params(self):
        params = super().get_connection_params()
        options = self.settings_dict["OPTIONS"]
        self.write_queue_timeout = float(options.get("write_queue_timeout",
                                                     DEFAULT_QUEUE_TIMEOUT))
        params.pop("write_queue_timeout", None)
        return params

    # --- the queue -------------------------------------------------------------------------
    def _enter_write_queue(self) -> None:
        if self._holds_write_queue:
            return
        timeout = getattr(self, "write_queue_timeout", DEFAULT_QUEUE_TIMEOUT)
        tickets, file_lock = _queue_for(self.settings_dict["NAME"], self.is_in_memory_db())
        start = time.monotonic()
        if not tickets.acquire(timeout):
            raise OperationalError(f"database is locked: no write turn after {timeout:.0f} s")
        try:
            left = max(timeout - (time.monotonic() - start), 0.0)
            if file_lock is not None and not file_lock.acquire(left):
                raise OperationalError(
                    f"database is locked: no write turn after {timeout:.0f} s "
                    f"(another process holds {file_lock.path})")
        except BaseException:
            tickets.release()
            raise
        self._holds_write_queue = True
        waited = time.monotonic() - start
        if waited > 5:
            log.warning("waited %.1f s for a write turn on %s", waited,
                        self.settings_dict["NAME"])

    def _leave_write_queue(self) -> None:
        if not self._holds_write_queue:
            return
        self._holds_write_queue = False
        tickets, file_lock = _queue_for(self.settings_dict["NAME"], self.is_in_memory_db())
        try:
            if file_lock is not None:
                file_lock.release()
        finally:
            tickets.release()

    def _leave_if_idle(self) -> None:
        if self.connection is None or not self.connection.in_transaction:
            self._leave_write_queue()

    # --- where transactions start and end ----------------------------------------------
    def _start_transaction_under_autocommit(self):
        self._enter_write_queue()
        try:
            self._begin_with_retry()
        except BaseException:
            self._leave_write_queue()
            raise

    def _begin_with_retry(self):
        deadline = time.monotonic() + getattr(self, "write_queue_timeout",
                                              DEFAULT_QUEUE_TIMEOUT)
        delay = 0.01
        while True:
            try:
                return super()._start_transaction_under_autocommit()
            except OperationalError as exc:
                # BEGIN did nothing yet: safe to try again while a writer that does not
                # queue (e.g. the sqlite3 shell) finishes.
                if not _is_busy(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    def _commit(self):
        try:
            return super()._commit()
        finally:
            self._leave_if_idle()

    def _rollback(self):
        try:
            return super()._rollback()
        finally:
            self._leave_if_idle()

    def close(self):
        try:
            super().close()
        finally:
            if self.connection is None:
                self._leave_write_queue()

    # --- writes outside a transaction (autocommit) -------------------------------------
    def create_cursor(self, name=None):
        return self.connection.cursor(factory=self._cursor_class)

    def _autocommit_write(self, sql: str) -> bool:
        if self._holds_write_queue or self.in_atomic_block or self.connection.in_transaction:
            return False
        return not sql.lstrip()[:12].lstrip("(").upper().startswith(_READ_PREFIXES)


def _cursor_class(wrapper: DatabaseWrapper):
    class QueuedCursor(sqlite3_base.SQLiteCursorWrapper):
        """A write statement in autocommit is a transaction of its own: it queues too."""

        def execute(self, query, params=None):
            if not wrapper._autocommit_write(query):
                return super().execute(query, params)
            wrapper._enter_write_queue()
            try:
                return super().execute(query, params)
            finally:
                wrapper._leave_write_queue()

        def executemany(self, query, param_list):
            if not wrapper._autocommit_write(query):
                return super().executemany(query, param_list)
            wrapper._enter_write_queue()
            try:
                return super().executemany(query, param_list)
            finally:
                wrapper._leave_write_queue()

    return QueuedCursor
