"""``python -m ficha_protocol``: pair a PC, or run a headless agent (for tests and setups
without the lock screen). The real agent (``ficha-agent``) builds on the same client.

    python -m ficha_protocol pair SERVER CODE [--save agent.json] [--hostname NAME]
    python -m ficha_protocol run [--creds agent.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import socket
import sys

from .client import AgentLink, Credentials, LinkError, pair


def _pair(args) -> int:
    try:
        creds = asyncio.run(pair(args.server, args.code,
                                 hostname=args.hostname or socket.gethostname()))
    except LinkError as exc:
        print(f"pairing refused: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"cannot reach {args.server}: {exc}", file=sys.stderr)
        return 2
    creds.save(args.save)
    print(f"paired as station {creds.name or creds.station}; secret saved in {args.save}")
    return 0


def _run(args) -> int:
    creds = Credentials.load(args.creds)

    def show(state: dict) -> None:
        print(json.dumps({"state": state}, ensure_ascii=False), flush=True)

    def command(cmd: dict):
        print(json.dumps({"command": cmd}, ensure_ascii=False), flush=True)
        return True, ""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):
                pass
        link = AgentLink(creds, version="headless", on_state=show, on_command=command)
        await link.run(stop)

    try:
        asyncio.run(main())
    except LinkError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ficha_protocol")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pair", help="trade a pairing code for this PC's device secret")
    p.add_argument("server", help="host:port, ws://host:port or wss://host:port")
    p.add_argument("code", help="the one-time code the console shows")
    p.add_argument("--save", default="agent.json", help="where to keep the secret (0600)")
    p.add_argument("--hostname", default="", help="the name the console shows")
    r = sub.add_parser("run", help="stay connected, print states and commands as JSON")
    r.add_argument("--creds", default="agent.json")
    args = parser.parse_args(argv)
    return _pair(args) if args.cmd == "pair" else _run(args)


if __name__ == "__main__":
    sys.exit(main())
