"""The one clock every service reads, so that tests can move time."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator

from django.utils import timezone

_frozen: dt.datetime | None = None


def now() -> dt.datetime:
    """Aware current time (UTC), or the frozen instant inside :func:`frozen`."""
    if _frozen is not None:
        return _frozen
    return timezone.now()


def is_frozen() -> bool:
    """Is a test holding the clock (:func:`frozen`)?"""
    return _frozen is not None


def today() -> dt.date:
    return timezone.localdate(now())


@contextlib.contextmanager
def frozen(at: dt.datetime) -> Iterator[None]:
    """Freeze :func:`now` at ``at`` (aware) for every thread, for tests."""
    global _frozen
    if timezone.is_naive(at):
        raise ValueError("freeze the clock with an aware datetime")
    previous, _frozen = _frozen, at
    try:
        yield
    finally:
        _frozen = previous
