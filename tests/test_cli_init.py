"""`ficha init` as a production set-up runs it: migrate and create the owner once, then
`ficha web` and `ficha worker` started apart find a ready database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .ports import free_port

pytestmark = pytest.mark.slow

FICHA = [sys.executable, "-c", "from ficha.cli import main; main()"]
PORT = free_port()


def _env(data_dir: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("FICHA_") and k != "DJANGO_SETTINGS_MODULE"}
    env.update(FICHA_DATA_DIR=str(data_dir), **extra)
    return env


def _run(data_dir: Path, *args: str, **extra) -> str:
    done = subprocess.run([*FICHA, *args], env=_env(data_dir, **extra), capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _check_login(data_dir: Path, password: str) -> str:
    code = ("from django.contrib.auth import authenticate; "
            f"u = authenticate(username='owner', password={password!r}); "
            "print('ok' if u and u.groups.filter(name='owner').exists() else 'no')")
    return _run(data_dir, "manage", "shell", "-c", code).strip().splitlines()[-1]


def test_init_prints_the_owner_password_once_and_is_idempotent(tmp_path):
    first = _run(tmp_path, "init")
    assert "shown only once" in first and "username: owner" in first
    password = first.split("password: ", 1)[1].split()[0]
    again = _run(tmp_path, "init")
    assert "password:" not in again and "Owner login: owner" in again
    assert _check_login(tmp_path, password) == "ok"  # the second run changed nothing


def test_init_takes_the_password_then_web_and_worker_run_apart(tmp_path):
    out = _run(tmp_path, "init", FICHA_OWNER_PASSWORD="very-secret-owner-9")
    assert "password:" not in out and "ficha web" in out
    assert _check_login(tmp_path, "very-secret-owner-9") == "ok"
    _run(tmp_path, "worker", "--once")  # the worker finds its tables
    web = subprocess.Popen([*FICHA, "web", "--addr", f"127.0.0.1:{PORT}"],
                           env=_env(tmp_path), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/healthz", timeout=2) as r:
                    health = json.loads(r.read())
                break
            except OSError:
                if web.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(web.stdout.read() if web.poll() is not None
                                         else "ficha web did not answer")
                time.sleep(0.3)
        # anonymous: the status only (the details are for staff, docs/security.md)
        assert health == {"status": "ok"}
        with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/console/login/", timeout=5) as r:
            assert r.status == 200
    finally:
        web.terminate()
        web.wait(20)
