from __future__ import annotations

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand

from ficha.cli import worker
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

    def handle(self, *args, demo=False, addr=None, no_worker=False, **opts):
        self.stdout.write(f"Data directory: {settings.DATA_DIR}")
        initialise(self)  # migrate, owner login (as `ficha init`)
        if demo:
            from ficha.cli.demo import load_demo

            summary = load_demo()
            self.stdout.write(summary)
        server = make_server(addr)
        url = f"http://{server.effective_host}:{server.effective_port}"
        self.stdout.write(self.style.SUCCESS(
            f"Ficha is running: console {url}/console/  portal {url}/  (Ctrl-C stops)"
        ))
        stop = threading.Event()
        thread = None
        if not no_worker:
            thread = threading.Thread(target=worker.run_forever, args=(stop,), daemon=True,
                                      name="ficha-worker")
            thread.start()

        def _stop(*_args):
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, _stop)
        try:
            server.run()
        except KeyboardInterrupt:
            self.stdout.write("Stopping…")
        finally:
            stop.set()
            server.close()
            if thread is not None:
                thread.join(timeout=10)
        self.stdout.write("Stopped.")
