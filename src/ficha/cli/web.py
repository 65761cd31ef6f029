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

import errno
import logging
import multiprocessing
import socket
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

    def check_address(self) -> None:
        """Refuse to start (SystemExit with the reason) when the address is taken.

        Granian binds with SO_REUSEPORT, so without this a second Ficha (another data
        directory, an older version still running) would share the port with the first
        and the kernel would split the requests between them. A plain bind (no
        SO_REUSEPORT) fails while anything listens there."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        probe = socket.socket(family, socket.SOCK_STREAM)
        try:
            if sys.platform != "win32":  # on Windows SO_REUSEADDR would allow stealing
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((self.host, self.port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1)):
                raise SystemExit(
                    f"{self.host}:{self.port} is already in use: is Ficha (or another "
                    f"server) already running there? Stop it, or choose another address "
                    f"with FICHA_HTTP_ADDR or --addr.")
            raise SystemExit(f"Cannot listen on {self.host}:{self.port}: {exc.strerror or exc}")
        finally:
            probe.close()

    def run(self) -> None:
        from django.db import connections

        # The workers open their own connections; none is inherited or kept here.
        connections.close_all()
        multiprocessing.set_start_method("spawn", force=True)
        self._granian().serve()


def make_server(addr: str | None = None, workers: int | None = None,
                threads: int | None = None) -> WebServer:
    return WebServer(addr, workers, threads)
