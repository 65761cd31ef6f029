"""`ficha serve` as a user runs it: a real process, a real port, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .ports import free_port

pytestmark = pytest.mark.slow

FICHA = [sys.executable, "-c", "from ficha.cli import main; main()"]


def _env(data_dir: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("FICHA_") and k != "DJANGO_SETTINGS_MODULE"}
    env.update(FICHA_DATA_DIR=str(data_dir), FICHA_WORKER_INTERVAL="1", **extra)
    return env


def _start(data_dir: Path, *args: str, **extra):
    port = free_port()
    proc = subprocess.Popen(
        [*FICHA, "serve", "--addr", f"127.0.0.1:{port}", *args],
        env=_env(data_dir, **extra), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}/healthz"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(proc.stdout.read())
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return proc, port, json.loads(resp.read())
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise AssertionError("ficha serve did not answer /healthz in 90 s")


def _stop(proc) -> str:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    return out


def test_serve_first_run_prints_owner_once_and_stops_on_ctrl_c(tmp_path):
    data = tmp_path / "data"
    proc, port, health = _start(data, "--demo")
    try:
        assert health == {"status": "ok"}, "anonymous callers see the status only"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/console/login/", timeout=5) as r:
            assert r.status == 200
    finally:
        out = _stop(proc)
    assert proc.returncode == 0, out
    assert "password:" in out and "Demo data loaded" in out and "Stopped." in out
    assert (data / "ficha.sqlite3").exists() and (data / "secret_key").exists()

    proc, _port, _health = _start(data, "--demo")
    out = _stop(proc)
    assert "password:" not in out, "the owner password must be printed only once"
    assert "already loaded" in out


def test_serve_takes_the_owner_password_from_the_environment(tmp_path):
    proc, _port, _ = _start(tmp_path / "d", FICHA_OWNER_PASSWORD="from-env-pass-1")
    out = _stop(proc)
    assert "password:" not in out
    check = subprocess.run(
        [*FICHA, "manage", "shell", "-c",
         "from django.contrib.auth import authenticate;"
         "print(bool(authenticate(username='owner', password='from-env-pass-1')))"],
        env=_env(tmp_path / "d"), capture_output=True, text=True, timeout=60,
    )
    assert check.stdout.strip().endswith("True"), check.stderr


def test_worker_once_runs_its_jobs(tmp_path):
    env = _env(tmp_path / "w")
    subprocess.run([*FICHA, "manage", "migrate", "-v0"], env=env, check=True, timeout=120)
    out = subprocess.run([*FICHA, "worker", "--once"], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr


def _start_web(data_dir: Path, *args: str):
    """`ficha web` with two worker processes on a free port; waits for /healthz."""
    env = _env(data_dir)
    subprocess.run([*FICHA, "manage", "migrate", "-v0"], env=env, check=True, timeout=120)
    port = free_port()
    proc = subprocess.Popen(
        [*FICHA, "web", "--addr", f"127.0.0.1:{port}", "--workers", "2", *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(proc.stdout.read())
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return proc, port
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise AssertionError("ficha web did not answer /healthz in 90 s")


def _children(pid: int) -> set[int]:
    """Live descendants of ``pid`` (Linux /proc)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        found |= frontier
    return found


def _read_response(sock: socket.socket, timeout: float) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_web_refuses_a_large_body_unread_and_stops_every_worker_on_sigterm(tmp_path):
    proc, port = _start_web(tmp_path / "web")
    try:
        workers = _children(proc.pid)
        assert len(workers) >= 2, "one process per worker (and no more than a helper)"

        # Headers announcing 50 MB and a few bytes only: the answer comes at once, so the
        # server did not wait for (read, buffer or spool) the body.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"POST /api/v1/me HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Content-Type: application/json\r\n"
                         b"Content-Length: 52428800\r\n\r\n{\"a\": ")
            started = time.monotonic()
            head = _read_response(sock, timeout=10)
            assert head.startswith(b"HTTP/1.1 413"), head[:200]
            assert time.monotonic() - started < 10
            rest = b""
            while chunk := sock.recv(65536):  # then the server closes the connection
                rest += chunk
            assert b"request_too_large" in head + rest

        # The same server keeps serving.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=10) as r:
            assert r.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    time.sleep(0.5)
    left = [pid for pid in workers if Path(f"/proc/{pid}").exists()
            and Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"]
    assert not left, "worker processes left behind"


def test_web_refuses_an_address_another_server_listens_on():
    """Granian listens with SO_REUSEPORT: a second server on the same address would share
    the port and get half the requests. `ficha web` and `ficha serve` refuse instead."""
    from ficha.cli.web import make_server

    taken = socket.socket()
    if hasattr(socket, "SO_REUSEPORT"):  # as Granian does
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        with pytest.raises(SystemExit, match="already in use"):
            make_server(f"127.0.0.1:{port}").check_address()
    finally:
        taken.close()
    make_server(f"127.0.0.1:{port}").check_address()  # free again: fine
