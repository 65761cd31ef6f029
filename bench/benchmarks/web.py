"""The web door: requests per second and p99 latency at 32 connections, through real
servers on loopback, for Ficha's server (``ficha web``: Granian, one WSGI worker process per
core) against the alternatives measured in the same run.

``web.servers``
    Three pages — the portal login page (anonymous), the console dashboard (a logged-in
    owner's session cookie) and an API GET (``/api/v1/customers``, a Bearer token) — are
    loaded by ``wrk`` (Debian's ``wrk``: 2 threads, 32 connections) from every server in
    turn, alternating the order between repetitions. The servers, all on the same
    throw-away database, with the same worker processes (one per core) and threads
    (``FICHA_WEB_THREADS``) wherever the server has them:

    * ``ficha web`` — Granian, WSGI, ``FICHA_WEB_WORKERS`` processes (the subject);
    * Waitress — one process, at least 4 threads (what ``ficha web`` used before; it has
      no other model);
    * Gunicorn — ``gthread`` workers (Linux and macOS only);
    * Uvicorn — Django's ASGI application, one worker process per core.

    An alternative that is not installed is left out with a message (``pip install -e
    '.[bench]'`` brings them). Per page two rows: requests/s against the best alternative
    of that page (target ≥ 1.0×), and p99 written as a rate, ``1000 / p99 ms`` against 10
    (p99 ≤ 100 ms, target ≥ 1.0×). Any answer other than 2xx from ``ficha web`` fails the
    run; an alternative's are counted in the JSON.

The wrk run lasts ``max(2, 5 × --seconds)`` seconds after a 1 s warm-up of each server and
page. On a machine where other work runs, rerun before trusting a MISS.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connections

from ..runner import Context, Measurement, register

CONNECTIONS = 32
TIMEOUT_S = 5  # wrk's request timeout
PAGES = {
    "portal login": ("/login", "anonymous"),
    "console dashboard": ("/console/", "session"),
    "API GET customers": ("/api/v1/customers", "token"),
}


@dataclass
class Server:
    name: str
    label: str
    argv: list[str]
    port: int = 0
    proc: subprocess.Popen | None = None
    log: object = None
    rates: dict[str, list[float]] = field(default_factory=dict)
    p99s: dict[str, list[float]] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def servers(workers: int, threads: int) -> tuple[list[Server], list[str]]:
    """The servers to measure (the subject first) and why any alternative is missing.
    Every server gets the same processes and threads as ``ficha web``, except Waitress: it
    has one process, so it keeps at least its default of 4 threads."""
    waitress_threads = max(4, threads)
    py = sys.executable
    found, missing = [], []
    port = free_port()
    found.append(Server(
        "ficha", f"ficha web (Granian WSGI, {workers} processes x {threads} threads)",
        [py, "-c", "from ficha.cli import main; main()", "web", "--addr",
         f"127.0.0.1:{port}", "--workers", str(workers), "--threads", str(threads)],
        port))
    candidates = [
        ("waitress", f"Waitress (1 process x {waitress_threads} threads)", "waitress",
         lambda p: ["-m", "waitress", f"--listen=127.0.0.1:{p}",
                    f"--threads={waitress_threads}",
                    "ficha.wsgi:application"]),
        ("gunicorn", f"Gunicorn gthread ({workers} processes x {threads} threads)", "gunicorn",
         lambda p: ["-m", "gunicorn", "-w", str(workers), "-k", "gthread", "--threads",
                    str(threads), "-b", f"127.0.0.1:{p}", "--log-level", "warning",
                    "ficha.wsgi:application"]),
        ("uvicorn", f"Uvicorn ASGI ({workers} processes)", "uvicorn",
         lambda p: ["-m", "uvicorn", "--workers", str(workers), "--host", "127.0.0.1",
                    "--port", str(p), "--no-access-log", "--log-level", "warning",
                    "ficha.asgi:application"]),
    ]
    for name, label, module, args in candidates:
        if name == "gunicorn" and sys.platform == "win32":
            missing.append("gunicorn: not on Windows")
            continue
        if not _has(module):
            missing.append(f"{name}: not installed (pip install -e '.[bench]')")
            continue
        port = free_port()
        found.append(Server(name, label, [py, *args(port)], port))
    return found, missing


_RATE = re.compile(r"Requests/sec:\s*([\d.]+)")
_P99 = re.compile(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_DONE = re.compile(r"(\d+) requests in ")
_NON2XX = re.compile(r"Non-2xx or 3xx responses:\s*(\d+)")
_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


def parse_wrk(text: str) -> tuple[float, float, int]:
    """(good answers/s, p99 in ms, failed requests) from ``wrk --latency`` output.

    wrk's requests/s counts every answer; an error page (a 500 after a lost database
    connection) comes back fast and would make a server that fails look quick, so the
    rate here counts only the 2xx/3xx answers."""
    rate = _RATE.search(text)
    p99 = _P99.search(text)
    if not rate or not p99:
        raise ValueError(f"unexpected wrk output:\n{text}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    failed = int(_NON2XX.search(text).group(1)) if _NON2XX.search(text) else 0
    answered = int(_DONE.search(text).group(1)) if _DONE.search(text) else 0
    good_rate = float(rate.group(1))
    if failed and answered:
        good_rate *= max(0, answered - failed) / answered
    p99_ms = float(p99.group(1)) * scale
    errors = _ERRORS.search(text)
    if errors:
        failed += sum(int(errors.group(i)) for i in (1, 2, 3))  # connect, read, write
        # wrk leaves requests that timed out out of its latency figures: when more than
        # 1 % did, the 99th percentile is at least the timeout.
        done = _DONE.search(text)
        timeouts = int(errors.group(4))
        if done and timeouts * 100 > int(done.group(1)) + timeouts:
            p99_ms = max(p99_ms, TIMEOUT_S * 1000.0)
    return good_rate, p99_ms, failed


def wrk(url: str, headers: dict[str, str], seconds: float) -> tuple[float, float, int]:
    cmd = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", "--latency",
           "--timeout", f"{TIMEOUT_S}s"]
    for key, value in headers.items():
        cmd += ["-H", f"{key}: {value}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=seconds + 60)
    rate, p99, failed = parse_wrk(out.stdout)
    if rate == 0:  # nothing answered within the timeout: the latency is at least that
        p99 = TIMEOUT_S * 1000.0
    return rate, p99, failed


def _fixture() -> dict[str, dict[str, str]]:
    """Demo data, an owner's session cookie and an API token: headers per kind of page."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from ficha.accounts import services as accounts
    from ficha.accounts import tokens
    from ficha.cli.demo import load_demo
    from ficha.core import audit, roles

    roles.sync_roles()
    owner, _password = accounts.ensure_owner("bench-owner-pass-1")
    load_demo()
    _token, secret = tokens.create_token(
        audit.Actor(source="cli", label="bench"), f"bench-{os.getpid()}", roles.OWNER)
    session = SessionStore()
    session[SESSION_KEY] = str(owner.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = owner.get_session_auth_hash()
    session.create()
    return {
        "anonymous": {},
        "session": {"Cookie": f"{settings.SESSION_COOKIE_NAME}={session.session_key}"},
        "token": {"Authorization": f"Bearer {secret}"},
    }


def _start(server: Server, logdir: str) -> None:
    server.log = open(os.path.join(logdir, f"{server.name}.log"), "w")  # noqa: SIM115
    server.proc = subprocess.Popen(server.argv, stdout=server.log, stderr=subprocess.STDOUT,
                                   env=dict(os.environ))


def wait_healthz(server: Server, timeout: float = 90) -> None:
    """Until the started server answers /healthz (raises if it exits or stays silent)."""
    deadline = time.monotonic() + timeout
    while True:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited; see its log")
        try:
            with urllib.request.urlopen(server.base + "/healthz", timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{server.name} did not answer in {timeout:.0f} s")
            time.sleep(0.3)


def _wait_ready(server: Server, headers: dict[str, dict[str, str]], timeout: float = 90):
    wait_healthz(server, timeout)
    for page, (path, kind) in PAGES.items():
        req = urllib.request.Request(server.base + path, headers=headers[kind])
        with urllib.request.urlopen(req, timeout=10) as resp:
            if resp.status != 200 or resp.url.rstrip("/") != (server.base + path).rstrip("/"):
                raise RuntimeError(f"{server.name}: {page} answered {resp.status} {resp.url}")


def _stop(server: Server) -> None:
    if server.proc is not None and server.proc.poll() is None:
        server.proc.terminate()
        try:
            server.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()
    if server.log is not None:
        server.log.close()


@register("web.servers", "pages/s and p99 at 32 connections: ficha web vs other servers")
def web_servers(ctx: Context) -> list[Measurement]:
    if shutil.which("wrk") is None:
        ctx.log("web.servers: skipped, wrk is not installed (apt-get install wrk)")
        return []
    headers = _fixture()
    connections.close_all()
    chosen, missing = servers(settings.WEB_WORKERS, settings.WEB_THREADS)
    for why in missing:
        ctx.log(f"web.servers: without {why}")
    if len(chosen) < 2:
        ctx.log("web.servers: skipped, no alternative server to compare with")
        return []
    seconds = max(2.0, 5 * ctx.seconds) if ctx.fixed_ops is None else 1.0
    logdir = tempfile.mkdtemp(prefix="ficha-bench-web-")
    try:
        for server in chosen:
            _start(server, logdir)
        for server in chosen:
            _wait_ready(server, headers)
            ctx.log(f"web.servers: {server.label} ready on {server.base}")
        for page, (path, kind) in PAGES.items():
            for server in chosen:  # warm-up: first requests, connections, template caches
                wrk(server.base + path, headers[kind], 1)
            for rep in range(ctx.repeats):
                order = chosen if rep % 2 == 0 else chosen[::-1]
                for server in order:
                    rate, p99, failed = wrk(server.base + path, headers[kind], seconds)
                    if failed and server is chosen[0]:
                        raise RuntimeError(f"{server.name}: {failed} failed requests on {page}")
                    if failed:  # an alternative that drops requests: noted, not fatal
                        ctx.log(f"web.servers[{page}]: {server.name} failed {failed} requests")
                        server.failed[page] = server.failed.get(page, 0) + failed
                    server.rates.setdefault(page, []).append(rate)
                    server.p99s.setdefault(page, []).append(p99)
                ctx.log(f"web.servers[{page}] rep {rep + 1}/{ctx.repeats}: " + ", ".join(
                    f"{s.name} {s.rates[page][-1]:,.0f}/s p99 {s.p99s[page][-1]:.0f} ms"
                    for s in chosen))
    finally:
        for server in chosen:
            _stop(server)
        shutil.rmtree(logdir, ignore_errors=True)
    return measurements(chosen, ctx.db)


def measurements(chosen: list[Server], db: str = "") -> list[Measurement]:
    """Per page: the subject's rate against the best alternative's (median of the paired
    per-repetition ratios), and the subject's p99 against 100 ms."""
    subject, alternatives = chosen[0], chosen[1:]
    out = []
    for page in PAGES:
        best = max(alternatives, key=lambda s: statistics.median(s.rates[page]))
        ratios = [a / b for a, b in zip(subject.rates[page], best.rates[page], strict=True)]
        details = {s.name: {"label": s.label, "rates": [round(r, 1) for r in s.rates[page]],
                            "p99_ms": [round(p, 1) for p in s.p99s[page]],
                            "failed": s.failed.get(page, 0)} for s in chosen}
        out.append(Measurement(
            name=f"web[{page}]", db=db, unit="requests/s",
            value=statistics.median(subject.rates[page]),
            baseline=statistics.median(best.rates[page]),
            ratio=statistics.median(ratios), target=1.0,
            subject_label=subject.label, baseline_label=f"{best.label}, best alternative",
            details=details,
        ))
        p99 = max(statistics.median(subject.p99s[page]), 0.001)  # wrk rounds to 10 us
        out.append(Measurement(
            name=f"web[{page}] p99 <= 100 ms ({p99:.0f} ms)", db=db,
            unit="1/p99", value=1000.0 / p99, baseline=10.0, target=1.0,
            subject_label=f"{subject.label}: p99 {p99:.1f} ms at {CONNECTIONS} connections",
            baseline_label="100 ms",
            details={s.name: round(statistics.median(s.p99s[page]), 1) for s in chosen},
        ))
    return out
