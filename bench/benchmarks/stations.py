"""The café station link: 1,000 simulated agents against one ``ficha stationd`` process.

``stations.link``
    The station door runs as its own process (``ficha stationd`` on loopback, production
    settings, the throw-away database). The benchmark process pairs 1,000 stations (the
    device secret written as pairing stores it), then connects 1,000 asyncio agents
    (``ficha_protocol.client.AgentLink``, the code the real agent uses), each
    heartbeating every 5 s with a random phase. While they run:

    * the console's room map fragment (``stations.room()`` and the ``_room.html``
      template: what ``/console/stations/room/`` renders) is rendered every 2 s in a
      thread, as an open console polls it;
    * twice a second a state change is made through the services, each on a station no
      other change touched: a guest session started (the agent must receive a STATE in
      ``session`` mode, the map must show it) or a command sent (``message``: the agent
      must receive it).

    Rows, each a rate against a budget (target ≥ 1.0×):

    * heartbeat p99 ≤ 50 ms, written as ``1000 / p99 ms`` against 20;
    * commands delivered ≤ 2 s: ``1 / slowest delivery`` against 0.5;
    * state changes seen by their agent and on the room map: seen / made (1.0 = none
      missed);
    * server RSS with every station connected ≤ 256 MB (``256 / RSS MB``; the RSS before
      the agents connected is in the details and the label).

The run lasts ``max(20, 10 × --seconds)`` seconds after every agent is connected
(20 stations and 6 s for the smoke test, with the door in a thread).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from django.db import close_old_connections, connections
from django.template.loader import render_to_string

from ..runner import Context, Measurement, register

HEARTBEAT_S = 5.0
CHANGE_EVERY_S = 0.5
MAP_EVERY_S = 2.0
P99_BUDGET_MS = 50.0
DELIVERY_BUDGET_S = 2.0
RSS_BUDGET_MB = 256.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _fixture(n: int) -> list[tuple[int, str]]:
    """``n`` paired agent stations: (id, secret)."""
    from ficha.core import audit
    from ficha.stations import services as st
    from ficha.stations.models import Station
    from ficha_protocol import messages as m

    actor = audit.Actor(source="bench", label="bench")
    have = Station.objects.filter(name__startswith="B-").count()
    for i in range(have, n):
        st.create_station(actor, f"B-{i:04d}", col=1 + i % 25, row=1 + (i // 25) % 30)
    out = []
    for station in Station.objects.filter(name__startswith="B-").order_by("pk")[:n]:
        secret = m.new_secret()
        Station.objects.filter(pk=station.pk).update(secret=secret)
        out.append((station.pk, secret))
    return out


class Sim:
    """The simulated agents and what they saw."""

    def __init__(self, url: str, stations: list[tuple[int, str]]):
        from ficha_protocol import client

        self.links = {}
        self.seen_session: dict[int, float] = {}  # station -> when a session state arrived
        self.seen_command: dict[int, float] = {}
        for pk, secret in stations:
            creds = client.Credentials(url=url, station=pk, secret=secret)
            self.links[pk] = client.AgentLink(
                creds, heartbeat=HEARTBEAT_S,
                on_state=lambda state, pk=pk: self._state(pk, state),
                on_command=lambda cmd, pk=pk: self._command(pk, cmd))

    def _state(self, pk: int, state: dict) -> None:
        if state.get("mode") == "session" and pk not in self.seen_session:
            self.seen_session[pk] = time.monotonic()

    def _command(self, pk: int, cmd: dict):
        if cmd.get("action") == "message" and pk not in self.seen_command:
            self.seen_command[pk] = time.monotonic()
        return True, ""

    async def connect_all(self, concurrency: int = 50) -> None:
        sem = asyncio.Semaphore(concurrency)

        async def one(link):
            async with sem:
                await link.connect(timeout=60)
            self.readers.append(asyncio.ensure_future(link.receive_forever()))

        self.readers: list[asyncio.Task] = []
        await asyncio.gather(*(one(link) for link in self.links.values()))

    async def run(self, seconds: float) -> None:
        end = time.monotonic() + seconds

        async def agent(link):
            await asyncio.sleep(random.uniform(0, HEARTBEAT_S))
            while time.monotonic() < end:
                await link.heartbeat()
                await asyncio.sleep(max(0.0, HEARTBEAT_S - link.heartbeat_rtts[-1]))

        await asyncio.gather(*(agent(link) for link in self.links.values()))

    async def close(self) -> None:
        for reader in self.readers:
            reader.cancel()
        await asyncio.gather(*self.readers, return_exceptions=True)
        await asyncio.gather(*(link.close() for link in self.links.values()),
                             return_exceptions=True)

    def rtts_ms(self) -> list[float]:
        return sorted(r * 1000 for link in self.links.values() for r in link.heartbeat_rtts)


def _changes(sim: Sim, ids: list[int], stop: threading.Event, made: list) -> None:
    """Twice a second: a session started or a message sent, each on a fresh station."""
    from ficha.core import audit
    from ficha.stations import services as st
    from ficha.stations.models import Station

    actor = audit.Actor(source="bench", label="bench")
    pool = list(ids)
    random.shuffle(pool)
    try:
        while not stop.is_set() and pool:
            pk = pool.pop()
            station = Station.objects.get(pk=pk)
            kind = "session" if len(made) % 2 == 0 else "command"
            if kind == "session":
                st.start_postpaid(actor, station, "bench")
            else:
                st.run(actor, station, "message", text="bench")
            made.append((pk, kind, time.monotonic()))
            stop.wait(CHANGE_EVERY_S)
    finally:
        close_old_connections()


def poll_room(seconds: float) -> dict:
    """Render the room map fragment every 2 s for ``seconds`` (in its own process, as a
    console's web worker would); note when each station first shows a session."""

    polls, on_map = [], {}
    end = time.monotonic() + seconds
    try:
        _poll(end, polls, on_map)
    finally:
        connections.close_all()  # this thread's connection (PostgreSQL counts them)
    return {"polls": polls, "on_map": on_map}


def _poll(end: float, polls: list, on_map: dict) -> None:
    from ficha.stations import services as st

    while time.monotonic() < end:
        t0 = time.monotonic()
        cells = st.room()
        render_to_string("console/stations/_room.html", {
            "cells": cells, "unpaid": [], "labels": st.STATE_LABELS,
            "station_url": "/console/stations/",
            "counts": {s: sum(1 for c in cells if c.state == s) for s in st.STATE_LABELS}})
        polls.append(time.monotonic() - t0)
        for c in cells:
            if c.state == st.SESSION and str(c.station.pk) not in on_map:
                on_map[str(c.station.pk)] = time.time()
        time.sleep(max(0.0, MAP_EVERY_S - (time.monotonic() - t0)))


def _start_poller(seconds: float, logdir: str):
    out = os.path.join(logdir, "room.json")
    code = ("import django, json, sys; django.setup(); "
            "from bench.benchmarks.stations import poll_room; "
            f"json.dump(poll_room({seconds!r}), open({out!r}, 'w'))")
    proc = subprocess.Popen([sys.executable, "-c", code], env=dict(os.environ),
                            cwd=os.getcwd())
    return proc, out


def _start_server(port: int, logdir: str):
    log = open(os.path.join(logdir, "stationd.log"), "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-c", "from ficha.cli import main; main()", "stationd", "--addr",
         f"127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError("ficha stationd exited; see its log")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, log
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("ficha stationd did not listen in 60 s")
            time.sleep(0.2)


@register("stations.link", "1,000 agents heartbeating: p99, command delivery, missed "
                           "changes, server RSS")
def stations_link(ctx: Context, *, stations: int | None = None,
                  in_process: bool | None = None) -> list[Measurement]:
    small = ctx.fixed_ops is not None
    n = stations or (20 if small else 1000)
    in_process = small if in_process is None else in_process
    seconds = 6.0 if small else max(20.0, 10 * ctx.seconds)
    creds = _fixture(n)
    connections.close_all()
    port = free_port() if not in_process else 0
    logdir = tempfile.mkdtemp(prefix="ficha-bench-stations-")
    proc = log = thread = None
    if in_process:
        from ficha.stations.link import ServerThread

        thread = ServerThread(("127.0.0.1", 0)).start()
        port = thread.address[1]
    else:
        proc, log = _start_server(port, logdir)
    idle_rss = rss_mb(proc.pid) if proc else 0.0
    url = f"ws://127.0.0.1:{port}/agent"
    sim = Sim(url, creds)
    made: list = []
    polls: list[float] = []
    on_map: dict[int, float] = {}
    stop = threading.Event()
    loaded_rss = 0.0
    poller = None
    loop = asyncio.new_event_loop()
    try:
        t0 = time.monotonic()
        loop.run_until_complete(sim.connect_all())
        ctx.log(f"stations.link: {n} agents connected in {time.monotonic() - t0:.1f} s")
        if in_process:
            poll_thread_result: dict = {}
            poller = threading.Thread(target=lambda: poll_thread_result.update(
                poll_room(seconds + DELIVERY_BUDGET_S + 2 * MAP_EVERY_S)))
            poller.start()
        else:
            poller, room_file = _start_poller(seconds + DELIVERY_BUDGET_S + 2 * MAP_EVERY_S,
                                              logdir)
        changer = threading.Thread(target=_changes, args=(sim, [c[0] for c in creds], stop,
                                                          made))
        changer.start()
        run = loop.create_task(sim.run(seconds))
        loop.run_until_complete(asyncio.sleep(seconds / 2))
        loaded_rss = rss_mb(proc.pid) if proc else 0.0
        loop.run_until_complete(run)
        stop.set()
        changer.join()
        # let the last change reach its agent (2 s budget) and the map poller finish
        loop.run_until_complete(asyncio.sleep(DELIVERY_BUDGET_S))
        if in_process:
            poller.join()
            result = poll_thread_result
        else:
            poller.wait(timeout=120)
            with open(room_file) as fh:
                result = json.load(fh)
        polls = result["polls"]
        on_map = {int(k): v for k, v in result["on_map"].items()}
        loop.run_until_complete(sim.close())
    finally:
        stop.set()
        loop.close()
        if thread is not None:
            thread.stop()
        for p in (proc, poller if isinstance(poller, subprocess.Popen) else None):
            if p is not None and p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
        if log is not None:
            log.close()
    return _measurements(ctx, n, sim, made, polls, on_map, idle_rss, loaded_rss)


def _measurements(ctx, n, sim, made, polls, on_map, idle_rss, loaded_rss):
    rtts = sim.rtts_ms()
    if not rtts:
        raise RuntimeError("no heartbeat was answered")
    p99 = max(rtts[min(len(rtts) - 1, int(len(rtts) * 0.99))], 0.001)
    delays = []
    missed_agent = missed_map = 0
    sessions = [(pk, t) for pk, kind, t in made if kind == "session"]
    commands = [(pk, t) for pk, kind, t in made if kind == "command"]
    for pk, t in sessions:
        seen = sim.seen_session.get(pk)
        if seen is None:
            missed_agent += 1
        else:
            delays.append(seen - t)
        if pk not in on_map:
            missed_map += 1
    for pk, t in commands:
        seen = sim.seen_command.get(pk)
        if seen is None:
            missed_agent += 1
        else:
            delays.append(seen - t)
    slowest = max(delays) if delays else float("inf")
    label = f"{n} stations, heartbeat every {HEARTBEAT_S:.0f} s"
    details = {"heartbeats": len(rtts), "p50_ms": round(statistics.median(rtts), 2),
               "p99_ms": round(p99, 2), "max_ms": round(rtts[-1], 2),
               "changes": len(made), "delivery_p50_s": round(statistics.median(delays), 3)
               if delays else None, "delivery_max_s": round(slowest, 3),
               "room_map_renders": len(polls),
               "room_map_render_max_ms": round(max(polls) * 1000, 1) if polls else None,
               "rss_idle_mb": round(idle_rss, 1), "rss_loaded_mb": round(loaded_rss, 1)}
    ctx.log(f"stations.link: {details}")
    out = [
        Measurement(name=f"stations.link heartbeat p99 <= 50 ms ({p99:.1f} ms)", db=ctx.db,
                    unit="1/p99", value=1000.0 / p99, baseline=1000.0 / P99_BUDGET_MS,
                    target=1.0, subject_label=f"{label}: p99 {p99:.1f} ms",
                    baseline_label="50 ms", details=details),
        Measurement(name=f"stations.link commands delivered <= 2 s ({slowest:.2f} s)",
                    db=ctx.db, unit="1/s", value=1.0 / max(slowest, 1e-3),
                    baseline=1.0 / DELIVERY_BUDGET_S, target=1.0,
                    subject_label=f"slowest of {len(delays)} deliveries",
                    baseline_label="2 s"),
        Measurement(name="stations.link changes seen by their agent", db=ctx.db,
                    unit="seen", value=float(len(made) - missed_agent),
                    baseline=float(max(1, len(made))), target=1.0,
                    subject_label=f"{len(made) - missed_agent} of {len(made)}",
                    baseline_label="every change"),
        Measurement(name="stations.link sessions seen on the room map", db=ctx.db,
                    unit="seen", value=float(len(sessions) - missed_map),
                    baseline=float(max(1, len(sessions))), target=1.0,
                    subject_label=f"{len(sessions) - missed_map} of {len(sessions)}",
                    baseline_label="every session started"),
    ]
    if loaded_rss:
        out.append(Measurement(
            name=f"stations.link server RSS <= 256 MB ({loaded_rss:.0f} MB)", db=ctx.db,
            unit="1/MB", value=1.0 / loaded_rss, baseline=1.0 / RSS_BUDGET_MB, target=1.0,
            subject_label=f"ficha stationd with {n} agents: {loaded_rss:.0f} MB "
                          f"(idle {idle_rss:.0f} MB)", baseline_label="256 MB"))
    return out
