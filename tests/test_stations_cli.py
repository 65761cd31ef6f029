"""`ficha stationd` as its own process: pairs a PC from the command line, serves an agent,
stops on Ctrl-C. (`ficha serve` starts the same door in a thread.)"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from .ports import free_port
from .test_cli_serve import FICHA, _env

PORT = free_port()


@pytest.mark.slow
def test_ficha_stationd_pairs_serves_and_stops_on_ctrl_c(tmp_path):
    env = _env(tmp_path / "s")
    subprocess.run([*FICHA, "manage", "migrate", "-v0"], env=env, check=True, timeout=300)
    code = subprocess.run(
        [*FICHA, "manage", "shell", "-c",
         "from ficha.core import audit; from ficha.stations import services as st;"
         "s = st.create_station(audit.SYSTEM, 'PC-1');"
         "print(st.issue_pairing_code(audit.SYSTEM, s))"],
        env=env, check=True, capture_output=True, text=True, timeout=120).stdout.split()[-1]
    proc = subprocess.Popen([*FICHA, "stationd", "--addr", f"127.0.0.1:{PORT}"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        saved = tmp_path / "agent.json"
        deadline = time.monotonic() + 90
        while True:
            done = subprocess.run([sys.executable, "-m", "ficha_protocol", "pair",
                                   f"127.0.0.1:{PORT}", code, "--save", str(saved)],
                                  capture_output=True, text=True, timeout=60)
            if done.returncode != 2 or time.monotonic() > deadline:  # 2: not listening yet
                break
            time.sleep(0.5)
        assert done.returncode == 0, done.stderr
        creds = json.loads(saved.read_text())
        assert creds["url"] == f"ws://127.0.0.1:{PORT}/agent" and len(creds["secret"]) >= 40
        agent = subprocess.Popen([sys.executable, "-m", "ficha_protocol", "run", "--creds",
                                  str(saved)], stdout=subprocess.PIPE, text=True)
        try:
            first = json.loads(agent.stdout.readline())
        finally:
            agent.send_signal(signal.SIGINT)
            agent.communicate(timeout=30)
        assert first["state"]["mode"] == "free" and first["state"]["name"] == "PC-1"
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert f"Station link on ws://127.0.0.1:{PORT}/agent" in out and "Stopped." in out
