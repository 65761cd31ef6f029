"""The books on disk: the data directory is 0700 and every file in it 0600 (no other local
user reads the SQLite file, its -wal/-shm, the secret key or uploads), on a new install and
after any start of an older one."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .ports import free_ports

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX file modes")

ROOT = Path(__file__).resolve().parent.parent


def _env(data_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("FICHA_") and k != "DJANGO_SETTINGS_MODULE"}
    env.update(FICHA_DATA_DIR=str(data_dir), FICHA_WORKER_INTERVAL="1",
               FICHA_OWNER_PASSWORD="correct-horse-9")
    return env


def _modes(data_dir: Path) -> dict[str, str]:
    """Every path under data_dir (itself as '.') with its octal mode."""
    found = {".": oct(stat.S_IMODE(data_dir.stat().st_mode))}
    for p in data_dir.rglob("*"):
        found[str(p.relative_to(data_dir))] = oct(stat.S_IMODE(p.lstat().st_mode))
    return found


def _wrong(data_dir: Path) -> dict[str, str]:
    return {name: mode for name, mode in _modes(data_dir).items()
            if mode != ("0o700" if (data_dir / name).is_dir() else "0o600")}


def _make_old_install(data: Path) -> None:
    """What an install made before this rule looks like: 0755 directories, 0644 files."""
    (data / "uploads" / "ids").mkdir(parents=True)
    for name in ("ficha.sqlite3", "ficha.sqlite3-wal", "ficha.sqlite3-shm",
                 "uploads/ids/passport.jpg"):
        (data / name).write_bytes(b"x")
    (data / "secret_key").write_text("k" * 50)
    for p in [data, *data.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)


def test_loading_the_settings_repairs_an_older_install(tmp_path):
    data = tmp_path / "data"
    _make_old_install(data)
    assert _wrong(data)  # the situation the rule fixes
    subprocess.run([sys.executable, "-c", "import django; django.setup()"], check=True,
                   env={**_env(data), "DJANGO_SETTINGS_MODULE": "ficha.settings"}, timeout=120)
    assert not _wrong(data), _modes(data)


def test_a_new_data_directory_and_its_secret_key_are_private(tmp_path):
    data = tmp_path / "fresh" / "data"
    subprocess.run([sys.executable, "-c", "import django; django.setup()"], check=True,
                   env={**_env(data), "DJANGO_SETTINGS_MODULE": "ficha.settings"}, timeout=120)
    assert (data / "secret_key").exists()
    assert not _wrong(data), _modes(data)


def test_uploaded_files_are_private(settings, tmp_path):
    from django.core.files.base import ContentFile
    from django.core.files.storage import FileSystemStorage

    storage = FileSystemStorage(location=tmp_path / "uploads")
    name = storage.save("ids/scan.jpg", ContentFile(b"id document"))
    assert oct(stat.S_IMODE((tmp_path / "uploads" / name).stat().st_mode)) == "0o600"
    assert oct(stat.S_IMODE((tmp_path / "uploads" / "ids").stat().st_mode)) == "0o700"


def _serve(data: Path, port: int):
    proc = subprocess.Popen(
        [sys.executable, "-c", "from ficha.cli import main; main()", "serve",
         "--addr", f"127.0.0.1:{port}"],
        env=_env(data), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(proc.stdout.read())
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                json.loads(r.read())
                return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise AssertionError("ficha serve did not answer in 120 s")


def _stop(proc) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()


@pytest.mark.slow
def test_files_are_private_while_ficha_serve_runs_and_after_a_restart(tmp_path):
    data = tmp_path / "data"
    port, second = free_ports(2)
    proc = _serve(data, port)
    reader = None
    try:
        # Hold the database open (Ficha's own connections come and go with requests): its
        # -wal and -shm exist, created by SQLite with the database file's mode.
        reader = sqlite3.connect(data / "ficha.sqlite3")
        reader.execute("SELECT count(*) FROM sqlite_master").fetchall()
        assert (data / "ficha.sqlite3-wal").exists() and (data / "ficha.sqlite3-shm").exists()
        assert not _wrong(data), _modes(data)
    finally:
        if reader is not None:
            reader.close()
        _stop(proc)
    # an older install (or a careless chmod) is repaired by the next start
    for p in [data, *data.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    proc = _serve(data, second)
    try:
        assert not _wrong(data), _modes(data)
    finally:
        _stop(proc)
