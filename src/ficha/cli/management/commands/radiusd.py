from __future__ import annotations

import argparse
import asyncio
import gc
import signal
import subprocess
import sys

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
        parser.add_argument("--processes", type=int, default=None,
                            help="PostgreSQL only: processes sharing the ports "
                                 "(SO_REUSEPORT; default: FICHA_RADIUS_WORKERS, one per "
                                 "core on PostgreSQL, 1 on SQLite)")
        parser.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)

    def handle(self, *args, auth=None, acct=None, threads=None, processes=None,
               reuse_port=False, **opts):
        from ficha.hotspot.radius import RadiusServer, parse_addr

        auth_addr = parse_addr(auth if auth is not None else settings.RADIUS_AUTH_ADDR, 1812)
        acct_addr = parse_addr(acct if acct is not None else settings.RADIUS_ACCT_ADDR, 1813)
        if auth_addr is None and acct_addr is None:
            raise CommandError("both RADIUS sockets are off")
        if threads is None:
            threads = 1 if connection.vendor == "sqlite" else 4
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
                    "--auth", _addr_text(auth_addr), "--acct", _addr_text(acct_addr)]
        server = RadiusServer(auth_addr, acct_addr, threads=threads, reuse_port=reuse_port)

        async def main():
            try:
                await server.start()
            except OSError as exc:
                raise CommandError(f"cannot open the RADIUS sockets: {exc}") from None
            # Django, the dictionaries and the NAS table are loaded: keep them out of the
            # garbage collector's full passes (they cost ~0.15 ms a login, cProfile)
            gc.freeze()
            for kind, addr in server.addresses.items():
                self.stdout.write(f"RADIUS {kind} on {addr[0]}:{addr[1]}")
            for _n in range(processes - 1):
                children.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL))
            if children:
                self.stdout.write(f"{processes} processes share the ports")
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
            for child in children:
                child.send_signal(signal.SIGTERM)
            await server.stop()
            for child in children:
                try:
                    child.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    child.kill()

        asyncio.run(main())
        self.stdout.write("Stopped.")


def _addr_text(addr) -> str:
    if addr is None:
        return "off"
    host, port = addr
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
