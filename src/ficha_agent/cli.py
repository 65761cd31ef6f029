"""``ficha-agent``: pair this PC with the server, then run the lock screen.

ficha-agent pair SERVER CODE [--config PATH] [--hostname NAME]
ficha-agent run [--config PATH]
ficha-agent where [--config PATH]      # print the configuration file's path
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import sys

from ficha_protocol.client import Credentials, LinkError, pair

from .config import Config, ConfigError, count_start


def _pair(cfg: Config, args) -> int:
    try:
        creds = asyncio.run(
            pair(args.server, args.code, hostname=args.hostname or socket.gethostname())
        )
    except LinkError as exc:
        print(f"pairing refused: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"cannot reach {args.server}: {exc}", file=sys.stderr)
        return 2
    cfg.write_new(args.server)
    creds.save(cfg.secret_path)
    print(
        f"paired as station {creds.name or creds.station}; configuration in {cfg.path}, "
        f"secret in {cfg.secret_path}"
    )
    return 0


def _run(cfg: Config) -> int:
    try:
        creds = Credentials.load(cfg.secret_path)
    except FileNotFoundError:
        print(
            f"not paired: no {cfg.secret_path}; run `ficha-agent pair SERVER CODE` first",
            file=sys.stderr,
        )
        return 2
    from .gui import App  # Tk only when the screen is needed
    from .net import Bridge

    boot_id, restarts = count_start(cfg.path.parent / "agent-state.json")
    bridge = Bridge(
        creds,
        power=bool(cfg.extra.get("power_commands", True)),
        boot_id=boot_id,
        restarts=restarts,
    ).start()
    app = App(bridge, debug_exit=cfg.debug_exit, language=cfg.language)
    # a service stop (SIGTERM) or Ctrl+C: leave cleanly, telling the server `bye`
    signal.signal(signal.SIGTERM, lambda *_a: app.root.after(0, app.quit))
    try:
        app.run()
    finally:
        bridge.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ficha-agent", description="Ficha's station agent")
    parser.add_argument(
        "--config", default=None, help="the configuration file (default: the platform's config dir)"
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pair", help="trade the console's pairing code for a device secret")
    p.add_argument("server", help="host:port, ws://host:port or wss://host:port")
    p.add_argument("code", help="the one-time code the console shows")
    p.add_argument("--hostname", default="", help="the name the console shows")
    sub.add_parser("run", help="show the lock screen and stay connected")
    sub.add_parser("where", help="print where the configuration file is")
    args = parser.parse_args(argv)
    try:
        cfg = Config.load(args.config)
    except ConfigError as exc:
        print(f"bad configuration: {exc}", file=sys.stderr)
        return 2
    if args.cmd == "where":
        print(cfg.path)
        return 0
    return _pair(cfg, args) if args.cmd == "pair" else _run(cfg)


if __name__ == "__main__":
    sys.exit(main())
