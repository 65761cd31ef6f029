"""The station link benchmark works (bench/ measures speed by hand; nothing here is timed):
20 simulated agents against the door in a thread, on the test database."""

from __future__ import annotations

import pytest
from django.db import connection

from bench.benchmarks import stations as sb
from bench.runner import Context, discover
from ficha.stations.models import CafeSession, StationCommand

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_the_station_benchmark_is_registered():
    assert "stations.link" in discover()


def test_a_small_run_reports_every_row_and_misses_nothing():
    ctx = Context(db=connection.vendor, vendor=connection.vendor, fixed_ops=3, repeats=1,
                  verbose=False)
    rows = sb.stations_link(ctx, stations=20, in_process=True)
    names = [r.name for r in rows]
    assert any("heartbeat p99" in n for n in names)
    assert any("commands delivered" in n for n in names)
    seen = {r.name: r for r in rows}
    agents = seen["stations.link changes seen by their agent"]
    assert agents.baseline >= 4 and agents.value == agents.baseline  # nothing missed
    assert seen["stations.link sessions seen on the room map"].ratio == 1.0
    assert CafeSession.objects.exists()
    assert StationCommand.objects.filter(action="message", acked_at__isnull=False).exists()
