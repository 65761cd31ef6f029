from __future__ import annotations

import argparse
import gc
import signal
import subprocess
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from ficha.cli.doors import addr_text, radius_addrs, run_door


class Command(BaseCommand):
    help = ("Run the RADIUS server for hotspot gateways (authentication and accounting) "
            "until Ctrl-C. Addresses: FICHA_RADIUS_AUTH_ADDR, FICHA_RADIUS_ACCT_ADDR.")

    def add_arguments(self, parser):
        parser.add_argument("--auth", help="host:port for authentication (default: "
                            "FICHA_RADIUS_AUTH_ADDR, 0.0.0.0:1812; 'off' disables)")
        parser.add_argument("--acct", help="host:port for accounting (default: "
                            "FICHA_RADIUS_ACCT_ADDR, 0.0.0.0:1813; 'off' disables)")
        parser.add_argument("--threads", type=int, default=None,
                            help="database worker threads per kind of packet (default 1: "
                                 "one thread batches best; more processes use more cores)")
        parser.add_argument("--processes", type=int, default=None,
                            help="PostgreSQL only: processes sharing the ports "
                                 "(SO_REUSEPORT; default: FICHA_RADIUS_WORKERS, one per "
                                 "core on PostgreSQL, 1 on SQLite)")
        parser.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)

    def handle(self, *args, auth=None, acct=None, threads=None, processes=None,
               reuse_port=False, **opts):
        from ficha.hotspot.radius import RadiusServer

        auth_addr, acct_addr = radius_addrs(auth, acct)
        if auth_addr is None and acct_addr is None:
            raise CommandError("both RADIUS sockets are off")
        threads = threads or 1
        if reuse_port:  # a child of the first process: never spawns more
            processes = 1
        elif processes is None:
            processes = settings.RADIUS_WORKERS
        if processes < 1:
            raise CommandError("--processes must be at least 1")
        if processes > 1 and connection.vendor == "sqlite":
            raise CommandError("more than one RADIUS process (--processes, "
                               "FICHA_RADIUS_WORKERS) needs PostgreSQL: on SQLite one "
                               "process keeps every write")
        children = []
        if processes > 1:
            reuse_port = True
            argv = [sys.executable, "-c", "from ficha.cli import main; main()", "radiusd",
                    "--reuse-port", "--threads", str(threads),
                    "--auth", addr_text(auth_addr), "--acct", addr_text(acct_addr)]
        server = RadiusServer(auth_addr, acct_addr, threads=threads, reuse_port=reuse_port)

        def started():
            # Django, the dictionaries and the NAS table are loaded: keep them out of the
            # garbage collector's full passes (they cost ~0.15 ms a login, cProfile)
            gc.freeze()
            for kind, addr in server.addresses.items():
                self.stdout.write(f"RADIUS {kind} on {addr[0]}:{addr[1]}")
            for _n in range(processes - 1):
                children.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL))
            if children:
                self.stdout.write(f"{processes} processes share the ports")

        def stopping():
            for child in children:
                child.send_signal(signal.SIGTERM)

        def stopped():
            for child in children:
                try:
                    child.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    child.kill()

        run_door(self, server, what="the RADIUS sockets", started=started, stopping=stopping,
                 stopped=stopped)
