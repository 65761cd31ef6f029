"""Work started in several threads at once, for the concurrency tests."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from django.db import connection


def run_together(n_threads: int, work):
    """Run ``work(i)`` in n threads started together (a barrier); returns the results in
    order, or raises the first thread's exception. Each thread closes its connection."""
    start = threading.Barrier(n_threads)

    def one(i):
        try:
            start.wait(timeout=60)
            return work(i)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=n_threads) as pool:
        return list(pool.map(one, range(n_threads)))
