"""The AGI script's ``end`` when Ficha answers 5xx or 429 for a moment (a restart, a busy
database): the talk time must still arrive, else a prepaid call is never debited and
its credit stays held. A 4xx answer is final and not retried."""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "contrib" / "asterisk" / "ficha-agi.py"


class _Ficha(http.server.BaseHTTPRequestHandler):
    answers: list[int] = []
    seen: list[tuple[str, dict]] = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append((self.path, body))
        status = self.answers.pop(0) if self.answers else 200
        payload = json.dumps({"detail": "busy", "code": "x"} if status >= 400 else {"id": 7})
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(payload.encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def ficha():
    _Ficha.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ficha)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _run_end(server, billsec="61"):
    # Asterisk's AGI: the agi_* lines and an empty line on stdin, then one answer per command.
    stdin = "agi_request: ficha-agi.py\nagi_uniqueid: 1733130000.5\n\n" + "200 result=1\n" * 5
    url = f"http://127.0.0.1:{server.server_address[1]}"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "end", "7", billsec],
        input=stdin,
        text=True,
        capture_output=True,
        timeout=60,
        env={
            "FICHA_URL": url,
            "FICHA_TOKEN": "t",
            "FICHA_AGI_CONFIG": "/nonexistent",
            "FICHA_AGI_RETRY_DELAY": "0",
        },
    )
    assert done.returncode == 0, done.stderr
    return done


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_end_is_retried_after_a_server_error(ficha, status):
    _Ficha.answers = [status]
    _run_end(ficha)
    assert [p for p, _b in _Ficha.seen] == ["/api/v1/calls/7/end"] * 2
    assert _Ficha.seen[-1][1] == {"billsec": 61}


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_end_refused_with_a_4xx_is_not_retried(ficha, status):
    _Ficha.answers = [status]
    _run_end(ficha)
    assert len(_Ficha.seen) == 1
