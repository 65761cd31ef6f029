from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand

from ficha.cli import worker


class Command(BaseCommand):
    help = "Run the periodic worker (expiry of recharges, alarms) until stopped."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="run every job once and exit")
        parser.add_argument("--interval", type=float, default=None, help="seconds between runs")

    def handle(self, *args, once: bool = False, interval=None, **opts):
        if once:
            for name, count in worker.run_once().items():
                self.stdout.write(f"{name}: {count}")
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            worker.run_forever(stop, interval)
        except KeyboardInterrupt:
            stop.set()
