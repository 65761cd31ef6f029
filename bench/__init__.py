"""Ficha's benchmarks, run by hand: ``.venv/bin/python -m bench [NAME ...] [--db ...]``.

Every result is a ratio against a baseline measured in the same run (see README.md).
Benchmarks live in ``bench/benchmarks/`` and register themselves with
:func:`bench.runner.register`.
"""

from .runner import Context, Measurement, register

__all__ = ["Context", "Measurement", "register"]
