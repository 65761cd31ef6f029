from __future__ import annotations

import asyncio
import signal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection


class Command(BaseCommand):
    help = ("Run the RADIUS server for hotspot gateways (authentication and accounting) "
            "until Ctrl-C. Addresses: FICHA_RADIUS_AUTH_ADDR, FICHA_RADIUS_ACCT_ADDR.")

    def add_arguments(self, parser):
        parser.add_argument("--auth", help="host:port for authentication (default: "
                            "FICHA_RADIUS_AUTH_ADDR, 0.0.0.0:1812; 'off' disables)")
        parser.add_argument("--acct", help="host:port for accounting (default: "
                            "FICHA_RADIUS_ACCT_ADDR, 0.0.0.0:1813; 'off' disables)")
        parser.add_argument("--threads", type=int, default=None,
                            help="database worker threads (default: 1 on SQLite, 4 else)")

    def handle(self, *args, auth=None, acct=None, threads=None, **opts):
        from ficha.hotspot.radius import RadiusServer, parse_addr

        auth_addr = parse_addr(auth if auth is not None else settings.RADIUS_AUTH_ADDR, 1812)
        acct_addr = parse_addr(acct if acct is not None else settings.RADIUS_ACCT_ADDR, 1813)
        if auth_addr is None and acct_addr is None:
            raise CommandError("both RADIUS sockets are off")
        if threads is None:
            threads = 1 if connection.vendor == "sqlite" else 4
        server = RadiusServer(auth_addr, acct_addr, threads=threads)

        async def main():
            try:
                await server.start()
            except OSError as exc:
                raise CommandError(f"cannot open the RADIUS sockets: {exc}") from None
            for kind, addr in server.addresses.items():
                self.stdout.write(f"RADIUS {kind} on {addr[0]}:{addr[1]}")
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
