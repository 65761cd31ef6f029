"""The periodic worker: every FICHA_WORKER_INTERVAL seconds, runs the jobs each app
registered in ``ficha.core.jobs``.

Jobs claim their rows with conditional UPDATEs, so several workers (or a worker and
``ficha serve``) can run at once without doing the same work twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.db import close_old_connections, connection

from ficha.core import jobs as registry

log = logging.getLogger("ficha.worker")


OPTIMIZE_EVERY = 3600.0  # seconds between SQLite planner-statistics refreshes
_last_optimize = 0.0


def optimize_database() -> int:
    """SQLite only: refresh the query planner's statistics (``PRAGMA optimize``) hourly,
    so list pages keep using the right indexes as tables grow. Returns 1 when it ran."""
    global _last_optimize
    if connection.vendor != "sqlite" or time.monotonic() - _last_optimize < OPTIMIZE_EVERY:
        return 0
    with connection.cursor() as cur:
        cur.execute("PRAGMA optimize")
    _last_optimize = time.monotonic()
    return 1


def jobs() -> list[tuple[str, Callable[[], int]]]:
    """(name, function) pairs: the worker's own database upkeep, then every job the apps
    registered (``ficha.core.jobs``, filled from each app's ``AppConfig.ready``); each
    function returns how many items it handled."""
    return [("db.optimize", optimize_database), *registry.registered()]


def run_once() -> dict[str, int]:
    done: dict[str, int] = {}
    for name, job in jobs():
        close_old_connections()
        try:
            done[name] = job()
        except Exception:  # one failing job must not stop the others
            log.exception("job %s failed", name)
            done[name] = -1
        if done[name]:
            log.info("job %s handled %s", name, done[name])
    close_old_connections()
    return done


def run_forever(stop: threading.Event, interval: float | None = None) -> None:
    interval = settings.WORKER_INTERVAL if interval is None else interval
    log.info("worker started, every %ss", interval)
    while not stop.is_set():
        run_once()
        stop.wait(interval)
    log.info("worker stopped")
