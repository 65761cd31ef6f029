"""What the commands that run a network door share (``ficha radiusd``, ``ficha stationd``
and the threads of ``ficha serve``): where each door listens, how many database threads it
gets, and running one in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

from django.core.management.base import BaseCommand, CommandError

RADIUS_AUTH_PORT, RADIUS_ACCT_PORT, STATION_PORT = 1812, 1813, 8765


def listen_addr(text: str | None, default_port: int) -> tuple[str, int] | None:
    """``host:port``, ``[v6]:port`` or a bare host (the default port); ``off`` or nothing
    is None. One reading for every door: the RADIUS server's own."""
    from ficha.hotspot.radius import parse_addr

    return parse_addr(text or "", default_port)


def addr_text(addr: tuple[str, int] | None) -> str:
    """The other way round: what ``listen_addr`` reads back to the same address."""
    if addr is None:
        return "off"
    host, port = addr
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def radius_addrs(auth: str | None = None, acct: str | None = None):
    """The RADIUS sockets' addresses: the options given, else FICHA_RADIUS_*_ADDR."""
    from django.conf import settings

    return (
        listen_addr(auth if auth is not None else settings.RADIUS_AUTH_ADDR, RADIUS_AUTH_PORT),
        listen_addr(acct if acct is not None else settings.RADIUS_ACCT_ADDR, RADIUS_ACCT_PORT),
    )


def station_addr(addr: str | None = None) -> tuple[str, int] | None:
    """The station link's address: the option given, else FICHA_STATION_ADDR."""
    from django.conf import settings

    return listen_addr(addr if addr is not None else settings.STATION_ADDR, STATION_PORT)


def db_threads(threads: int | None = None) -> int:
    """A door's database worker threads: as asked, else 1 on SQLite (one writer at a
    time) and 4 on PostgreSQL."""
    if threads is not None:
        return threads
    from django.db import connection

    return 1 if connection.vendor == "sqlite" else 4


async def until_stopped() -> None:
    """Returns at the first SIGINT (Ctrl-C) or SIGTERM (where the loop can catch them)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    await stop.wait()


def run_door(
    command: BaseCommand,
    server,
    *,
    what: str,
    started: Callable[[], None],
    stopping: Callable[[], None] | None = None,
    stopped: Callable[[], None] | None = None,
) -> None:
    """Start ``server`` (an asyncio door with ``start()``/``stop()``), call ``started``
    (it says where the door listens), run until Ctrl-C or SIGTERM, then stop it:
    ``stopping`` runs before the server stops, ``stopped`` after. A socket that cannot be
    opened is a CommandError naming ``what``."""

    async def main():
        try:
            await server.start()
        except OSError as exc:
            raise CommandError(f"cannot open {what}: {exc}") from None
        started()
        command.stdout.flush()
        await until_stopped()
        command.stdout.write("Stopping…")
        if stopping is not None:
            stopping()
        await server.stop()
        if stopped is not None:
            stopped()

    asyncio.run(main())
    command.stdout.write("Stopped.")
