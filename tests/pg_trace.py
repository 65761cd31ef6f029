"""Round trips to PostgreSQL counted in libpq's protocol trace (tests only)."""

from __future__ import annotations

import tempfile

from django.db import connection


def round_trips(block) -> int:
    """How many times the client waited for the server while ``block`` ran (libpq's
    protocol trace): each Query message (simple protocol), and each Flush or Sync that
    ends a run of messages sent together (extended protocol, pipeline)."""
    from psycopg import pq

    connection.ensure_connection()
    raw = connection.connection
    with tempfile.TemporaryFile("w+") as trace:
        raw.pgconn.trace(trace.fileno())
        raw.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            block()
        finally:
            raw.pgconn.untrace()
        trace.seek(0)
        sent = [line.split("\t")[2].split()[0] for line in trace.read().splitlines()
                if line.startswith("F")]
    waits = 0
    for before, message in zip(["start", *sent], sent, strict=False):
        if message == "Query" or (message in ("Flush", "Sync")
                                  and before not in ("Flush", "Sync")):
            waits += 1
    return waits
