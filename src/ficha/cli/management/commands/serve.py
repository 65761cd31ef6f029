from __future__ import annotations

import threading

from django.conf import settings
from django.core.management.base import BaseCommand

from ficha.cli import worker
from ficha.cli.doors import db_threads, radius_addrs, station_addr
from ficha.cli.management.commands.init import initialise
from ficha.cli.web import make_server


class Command(BaseCommand):
    help = ("Migrate, make sure an owner login exists, then run the web server and the "
            "periodic worker together until Ctrl-C.")

    def add_arguments(self, parser):
        parser.add_argument("--demo", action="store_true",
                            help="load demo data (a venue, customers, some history) once")
        parser.add_argument("--addr", help="host:port (default: FICHA_HTTP_ADDR)")
        parser.add_argument("--no-worker", action="store_true", help="do not run the worker")
        parser.add_argument("--no-radius", action="store_true",
                            help="do not run the RADIUS server (FICHA_RADIUS_*_ADDR)")
        parser.add_argument("--no-stations", action="store_true",
                            help="do not run the café station link (FICHA_STATION_ADDR)")
        parser.add_argument("--workers", type=int, default=None,
                            help="web worker processes (default: FICHA_WEB_WORKERS)")

    def handle(self, *args, demo=False, addr=None, no_worker=False, workers=None,
               no_radius=False, no_stations=False, **opts):
        server = make_server(addr, workers)
        server.check_address()  # before anything else: a second Ficha must not share it
        self.stdout.write(f"Data directory: {settings.DATA_DIR}")
        initialise(self)  # migrate, owner login (as `ficha init`)
        if demo:
            from ficha.cli.demo import load_demo

            summary = load_demo()
            self.stdout.write(summary)
        url = server.url
        self.stdout.write(self.style.SUCCESS(
            f"Ficha is running: console {url}/console/  portal {url}/  (Ctrl-C stops)"
        ))
        self.stdout.flush()
        stop = threading.Event()
        thread = None
        if not no_worker:
            thread = threading.Thread(target=worker.run_forever, args=(stop,), daemon=True,
                                      name="ficha-worker")
            thread.start()
        radius = None if no_radius else self._start_radius()
        stations = None if no_stations else self._start_stations()
        try:
            # Blocks until Ctrl-C or SIGTERM, then stops the web worker processes.
            server.run()
        except KeyboardInterrupt:
            pass
        finally:
            self.stdout.write("Stopping…")
            stop.set()
            if radius is not None:
                radius.stop()
            if stations is not None:
                stations.stop()
            if thread is not None:
                thread.join(timeout=10)
        self.stdout.write("Stopped.")

    def _start_radius(self):
        """The RADIUS server in a thread; a port already taken only costs a warning."""
        from ficha.hotspot.radius import ServerThread

        auth, acct = radius_addrs()
        if auth is None and acct is None:
            return None
        try:
            radius = ServerThread(auth, acct, threads=1).start()
        except OSError as exc:
            self.stdout.write(self.style.WARNING(
                f"RADIUS server not started ({exc}); set FICHA_RADIUS_AUTH_ADDR and "
                "FICHA_RADIUS_ACCT_ADDR, or run `ficha radiusd` apart."))
            return None
        for kind, where in radius.addresses.items():
            self.stdout.write(f"RADIUS {kind} on {where[0]}:{where[1]}")
        return radius

    def _start_stations(self):
        """The station agents' link in a thread; a port already taken only costs a warning."""
        from ficha.stations.link import ServerThread, tls_context

        where = station_addr()
        if where is None:
            return None
        try:
            link = ServerThread(where, threads=db_threads(), ssl=tls_context(
                settings.STATION_TLS_CERT, settings.STATION_TLS_KEY)).start()
        except OSError as exc:
            self.stdout.write(self.style.WARNING(
                f"Station link not started ({exc}); set FICHA_STATION_ADDR, or run "
                "`ficha stationd` apart."))
            return None
        self.stdout.write(f"Station link on {link.address[0]}:{link.address[1]}")
        return link
