from __future__ import annotations

import asyncio
import signal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection


class Command(BaseCommand):
    help = ("Run the café station agents' link (WebSocket, wss with a certificate) until "
            "Ctrl-C. Address: FICHA_STATION_ADDR.")

    def add_arguments(self, parser):
        parser.add_argument("--addr", help="host:port (default: FICHA_STATION_ADDR, "
                            "0.0.0.0:8765)")
        parser.add_argument("--threads", type=int, default=None,
                            help="database worker threads (default: 1 on SQLite, 4 else)")

    def handle(self, *args, addr=None, threads=None, **opts):
        from ficha.stations.link import LinkServer, parse_addr, tls_context

        where = parse_addr(addr if addr is not None else settings.STATION_ADDR)
        if where is None:
            raise CommandError("the station link is off (FICHA_STATION_ADDR)")
        if threads is None:
            threads = 1 if connection.vendor == "sqlite" else 4
        ssl = tls_context(settings.STATION_TLS_CERT, settings.STATION_TLS_KEY)
        server = LinkServer(where, threads=threads, ssl=ssl)

        async def main():
            try:
                await server.start()
            except OSError as exc:
                raise CommandError(f"cannot open the station link: {exc}") from None
            scheme = "wss" if ssl else "ws"
            self.stdout.write(f"Station link on {scheme}://{server.address[0]}:"
                              f"{server.address[1]}/agent")
            self.stdout.flush()
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    loop.add_signal_handler(sig, stop.set)
                except (NotImplementedError, RuntimeError):
                    pass
            await stop.wait()
            self.stdout.write("Stopping…")
            await server.stop()

        asyncio.run(main())
        self.stdout.write("Stopped.")
