from __future__ import annotations

from django.core.management.base import BaseCommand

from ficha.cli.web import make_server


class Command(BaseCommand):
    help = ("Run the web server (console, portal, API): Granian with one worker process per "
            "core (FICHA_WEB_WORKERS) until Ctrl-C or SIGTERM.")

    def add_arguments(self, parser):
        parser.add_argument("--addr", help="host:port (default: FICHA_HTTP_ADDR)")
        parser.add_argument("--workers", type=int, default=None,
                            help="worker processes (default: FICHA_WEB_WORKERS, one per core)")
        parser.add_argument("--threads", type=int, default=None,
                            help="threads per worker process (default: FICHA_WEB_THREADS)")

    def handle(self, *args, addr=None, workers=None, threads=None, **opts):
        server = make_server(addr, workers, threads)
        server.check_address()
        self.stdout.write(f"Ficha web server on {server.url}/ ({server.workers} worker "
                          f"processes x {server.threads} threads; Ctrl-C stops)")
        self.stdout.flush()
        server.run()
