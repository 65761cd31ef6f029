"""The worker's job registry: each app registers its periodic jobs from ``AppConfig.ready``.

A job is a function without arguments that returns how many items it handled. The worker
(``ficha worker``, or ``ficha serve``) runs every registered job each round, in the order
they were registered; it knows no job by name. Jobs must be safe to run in several
workers at once (they claim their rows with conditional UPDATEs or row locks).
"""

from __future__ import annotations

from collections.abc import Callable

Job = Callable[[], int]

_JOBS: dict[str, Job] = {}


def register(name: str, job: Job) -> None:
    """Add (or replace) the job called ``name``."""
    _JOBS[name] = job


def registered() -> list[tuple[str, Job]]:
    """(name, function) pairs, in registration order."""
    return list(_JOBS.items())
