"""The agent's configuration file (TOML) and where it lives.

Default place, unless ``--config PATH`` (or ``FICHA_AGENT_CONFIG``) says otherwise:

* Windows: ``%PROGRAMDATA%\\Ficha\\agent.toml``;
* Linux and others: ``/etc/ficha-agent/agent.toml`` when it exists, else
  ``$XDG_CONFIG_HOME/ficha-agent/agent.toml`` (``~/.config/ficha-agent/agent.toml``).

The device secret is kept next to it in ``secret.json`` (mode 0600) unless ``secret_file``
says where.
"""

from __future__ import annotations

import os
import sys
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

FILE_NAME = "agent.toml"

TEMPLATE = """\
# Ficha station agent (docs/agent.md). Written by `ficha-agent pair`.
# The server's station link, as paired: ws://HOST:8765 or wss://HOST:8765
server = "{server}"
# Where the device secret is kept (mode 0600); relative to this file.
secret_file = "secret.json"
# Language of the screens until the server tells the venue's ("" = the system's).
language = ""
# Let the lock screen be closed with Ctrl+Shift+F12 (set up and testing only).
debug_exit = false
"""


def config_dir() -> Path:
    if sys.platform == "win32":
        return Path(os.environ.get("PROGRAMDATA", r"C:\ProgramData")) / "Ficha"
    system = Path("/etc/ficha-agent")
    if (system / FILE_NAME).exists():
        return system
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "ficha-agent"


def default_path() -> Path:
    env = os.environ.get("FICHA_AGENT_CONFIG")
    return Path(env) if env else config_dir() / FILE_NAME


class ConfigError(ValueError):
    pass


@dataclass
class Config:
    path: Path
    server: str = ""
    secret_file: str = "secret.json"
    language: str = ""
    debug_exit: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def secret_path(self) -> Path:
        p = Path(self.secret_file).expanduser()
        return p if p.is_absolute() else self.path.parent / p

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> Config:
        path = Path(path) if path else default_path()
        cfg = cls(path=path)
        if not path.exists():
            return cfg
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from exc
        known = {f.name: f.type for f in fields(cls) if f.name not in ("path", "extra")}
        for key, value in data.items():
            if key not in known:
                cfg.extra[key] = value
                continue
            want = bool if key == "debug_exit" else str
            if not isinstance(value, want):
                raise ConfigError(f"{path}: {key} must be a {want.__name__}")
            setattr(cfg, key, value)
        return cfg

    def write_new(self, server: str) -> None:
        """Write the file for a freshly paired PC (keeps an existing file as it is)."""
        self.server = server
        if self.path.exists():
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(TEMPLATE.format(server=server.replace('"', "")), encoding="utf-8")


def boot_marker() -> str:
    """Something that changes at each boot of the PC: Linux's boot id, else the boot time
    to the minute (wall clock minus the monotonic clock, which counts from boot)."""
    import time

    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return f"boot-{int((time.time() - time.monotonic()) // 60)}"


def count_start(path: Path) -> tuple[str, int]:
    """Note one more start of the agent since boot in ``path`` (``agent-state.json``);
    returns (boot id, restarts since boot) for the heartbeat: a jump in ``restarts`` tells
    the console the agent was killed and started again."""
    import json

    boot = boot_marker()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = {}
    starts = int(data.get("starts", 0)) + 1 if data.get("boot") == boot else 1
    try:
        path.write_text(json.dumps({"boot": boot, "starts": starts}))
    except OSError:
        pass  # a read-only config dir: the counter stays at 0
    return boot, starts - 1
