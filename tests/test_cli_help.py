"""`ficha COMMAND --help` leaves nothing on disk: no ./ficha-data, secret key or static
folder in the directory it is run from; a command that runs still creates them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ficha.cli import only_help

FICHA = [sys.executable, "-c", "from ficha.cli import main; main()"]


def _ficha(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """``ficha ARGS`` run in ``cwd`` with no FICHA_* variable: the data directory is the
    default, ./ficha-data."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("FICHA_") and k != "DJANGO_SETTINGS_MODULE"}
    return subprocess.run([*FICHA, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("args", [
    ("serve", "--help"),
    ("recharges", "sell", "-h"),
    ("manage", "migrate", "--help"),
    ("manage",),
])
def test_help_creates_nothing(tmp_path, args):
    done = _ficha(tmp_path, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "usage:" in done.stdout or "Available subcommands" in done.stdout
    assert list(tmp_path.iterdir()) == []


def test_a_command_that_runs_still_creates_the_data_directory_and_secret_key(tmp_path):
    done = _ficha(tmp_path, "manage", "check")
    assert done.returncode == 0, done.stdout + done.stderr
    data = tmp_path / "ficha-data"
    assert (data / "secret_key").read_text().strip()
    assert (data / "static").is_dir()


@pytest.mark.parametrize("argv, expected", [
    (["serve", "--help"], True),
    (["serve", "-h"], True),
    (["recharges", "sell", "--hel"], True),
    (["help", "migrate"], True),
    (["help"], True),
    (["init", "--version"], True),
    (["serve"], False),
    (["recharges", "sell", "--batch", "Promo"], False),
    (["manage", "shell", "-c", "print('--help')"], False),
    (["manage", "dbshell", "--", "-h"], False),  # after "--": the client's own option
])
def test_only_help_reads_what_django_will_do(argv, expected):
    assert only_help(argv) is expected
