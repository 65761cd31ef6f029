from __future__ import annotations

import signal

from django.core.management.base import BaseCommand

from ficha.cli.web import make_server


class Command(BaseCommand):
    help = "Run the web server (console, portal, API) with Waitress."

    def add_arguments(self, parser):
        parser.add_argument("--addr", help="host:port (default: FICHA_HTTP_ADDR)")
        parser.add_argument("--threads", type=int, default=8)

    def handle(self, *args, addr=None, threads=8, **opts):
        server = make_server(addr, threads)
        self.stdout.write(f"Ficha web server on http://{server.effective_host}:"
                          f"{server.effective_port}/")

        def _stop(*_args):
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, _stop)
        try:
            server.run()
        except KeyboardInterrupt:
            pass
        finally:
            server.close()
