"""The production web server: Granian running Django's WSGI application in worker processes.

Why Granian (measured in bench/, ``web.*``): one Python process can use only one core, so
the web door runs ``FICHA_WEB_WORKERS`` processes (default: one per core), each with
``FICHA_WEB_THREADS`` threads for Django. Granian's HTTP layer is Rust; it hands Django the
request before reading its body, so the size check (``ficha.core.middleware``) refuses a
large body without it ever being read.

Workers are started with the ``spawn`` method on every platform (Windows has no other), so
each one imports Django afresh and shares nothing with the parent: no database connection
or lock held by the periodic worker thread of ``ficha serve`` leaks into them.
"""

from __future__ import annotations

import logging
import multiprocessing
import sys

from django.conf import settings

log = logging.getLogger("ficha.web")

WSGI_TARGET = "ficha.wsgi:application"


def parse_addr(addr: str) -> tuple[str, int]:
    host, _sep, port = addr.rpartition(":")
    if not host:
        host = "127.0.0.1"
    host = host.strip("[]")
    try:
        port_n = int(port)
    except ValueError:
        raise SystemExit(f"FICHA_HTTP_ADDR must be host:port, not {addr!r}")
    if not 0 < port_n < 65536:
        raise SystemExit(f"FICHA_HTTP_ADDR: port {port_n} is out of range")
    return host, port_n


def url_of(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


class WebServer:
    """Granian, configured from Ficha's settings. ``run()`` blocks until SIGINT/SIGTERM
    (Ctrl-C), then stops every worker process and returns."""

    def __init__(self, addr: str | None = None, workers: int | None = None,
                 threads: int | None = None) -> None:
        self.host, self.port = parse_addr(addr or settings.HTTP_ADDR)
        self.workers = max(1, workers or settings.WEB_WORKERS)
        self.threads = max(1, threads or settings.WEB_THREADS)
        if sys.platform == "win32" and self.workers > 1:
            # Granian runs one worker process on Windows (it says so and falls back).
            log.warning("Windows: Granian serves with one worker process, not %d", self.workers)
            self.workers = 1

    @property
    def url(self) -> str:
        return url_of(self.host, self.port)

    def _granian(self):
        from granian import Granian
        from granian.constants import Interfaces
        from granian.http import HTTP1Settings
        from granian.log import LogLevels

        return Granian(
            WSGI_TARGET,
            address=self.host,
            port=self.port,
            interface=Interfaces.WSGI,
            workers=self.workers,
            # Django runs in these threads; each keeps its own database connection, so
            # the count is bounded (a flood queues in Granian, not in PostgreSQL).
            blocking_threads=self.threads,
            backpressure=self.threads,
            websockets=False,
            http1_settings=HTTP1Settings(header_read_timeout=10_000),
            log_level=LogLevels.warning,
            workers_kill_timeout=10,
        )

    def run(self) -> None:
        from django.db import connections

        # The workers open their own connections; none is inherited or kept here.
        connections.close_all()
        multiprocessing.set_start_method("spawn", force=True)
        self._granian().serve()


def make_server(addr: str | None = None, workers: int | None = None,
                threads: int | None = None) -> WebServer:
    return WebServer(addr, workers, threads)
