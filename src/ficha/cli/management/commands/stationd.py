from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ficha.cli.doors import db_threads, run_door, station_addr


class Command(BaseCommand):
    help = ("Run the café station agents' link (WebSocket, wss with a certificate) until "
            "Ctrl-C. Address: FICHA_STATION_ADDR.")

    def add_arguments(self, parser):
        parser.add_argument("--addr", help="host:port (default: FICHA_STATION_ADDR, "
                            "0.0.0.0:8765)")
        parser.add_argument("--threads", type=int, default=None,
                            help="database worker threads (default: 1 on SQLite, 4 else)")

    def handle(self, *args, addr=None, threads=None, **opts):
        from ficha.stations.link import LinkServer, tls_context

        where = station_addr(addr)
        if where is None:
            raise CommandError("the station link is off (FICHA_STATION_ADDR)")
        ssl = tls_context(settings.STATION_TLS_CERT, settings.STATION_TLS_KEY)
        server = LinkServer(where, threads=db_threads(threads), ssl=ssl)

        def started():
            scheme = "wss" if ssl else "ws"
            self.stdout.write(f"Station link on {scheme}://{server.address[0]}:"
                              f"{server.address[1]}/agent")

        run_door(self, server, what="the station link", started=started)
