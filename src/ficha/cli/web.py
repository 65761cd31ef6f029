"""The production web server: Waitress (pure Python, same behaviour on Linux and Windows)."""

from __future__ import annotations

import logging

from django.conf import settings

log = logging.getLogger("ficha.web")


def parse_addr(addr: str) -> tuple[str, int]:
    host, _sep, port = addr.rpartition(":")
    if not host:
        host = "127.0.0.1"
    host = host.strip("[]")
    try:
        port_n = int(port)
    except ValueError:
        raise SystemExit(f"FICHA_HTTP_ADDR must be host:port, not {addr!r}")
    return host, port_n


def make_server(addr: str | None = None, threads: int = 8):
    from waitress.server import create_server

    from ficha.wsgi import application

    host, port = parse_addr(addr or settings.HTTP_ADDR)
    return create_server(
        application, host=host, port=port, threads=threads,
        ident="ficha", trusted_proxy=None, clear_untrusted_proxy_headers=False,
    )
