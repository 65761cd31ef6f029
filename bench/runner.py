"""The benchmark registry and the timing helpers every benchmark uses.

A benchmark is a function ``fn(ctx: Context) -> list[Measurement]`` registered with
:func:`register`. It runs inside a fully set-up Django (a throw-away data directory or a
scratch PostgreSQL database, already migrated) and measures one or more *subjects*
against a *baseline* timed in the same run, usually with :meth:`Context.compare`.

Nothing in this module imports Django: ``python -m bench --list`` and the parent
process that spawns one child per database stay light.
"""

from __future__ import annotations

import gc
import importlib
import math
import pkgutil
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

# A workload: ``work(n)`` performs ``n`` operations (postings, requests, ...) and returns
# nothing. Looping inside the callable keeps the harness's own cost out of the numbers.
Work = Callable[[int], None]
Benchmark = Callable[["Context"], "list[Measurement]"]

REGISTRY: dict[str, Benchmark] = {}
_DESCRIPTIONS: dict[str, str] = {}


def register(name: str, description: str = "") -> Callable[[Benchmark], Benchmark]:
    """Add a benchmark to the registry under ``name`` (``python -m bench NAME``)."""

    def add(fn: Benchmark) -> Benchmark:
        if name in REGISTRY and REGISTRY[name] is not fn:
            raise ValueError(f"benchmark {name!r} is registered twice")
        REGISTRY[name] = fn
        doc_lines = (fn.__doc__ or "").strip().splitlines()
        _DESCRIPTIONS[name] = description or (doc_lines[0] if doc_lines else "")
        return fn

    return add


def description(name: str) -> str:
    return _DESCRIPTIONS.get(name, "")


def discover() -> dict[str, Benchmark]:
    """Import every module of ``bench.benchmarks`` so their ``@register`` calls run."""
    from . import benchmarks

    for info in pkgutil.iter_modules(benchmarks.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{benchmarks.__name__}.{info.name}")
    return REGISTRY


@dataclass
class Measurement:
    """One result row: the subject's rate against the baseline's rate (higher is better).

    ``value`` and ``baseline`` are rates in ``unit`` / ``baseline_unit`` (operations per
    second). A benchmark that measures durations converts them to rates first, so that
    ``ratio = value / baseline`` and ``ratio >= target`` always means PASS.
    """

    name: str
    unit: str
    value: float
    baseline: float
    target: float
    baseline_unit: str = ""
    db: str = ""
    subject_label: str = ""  # what was measured, in words
    baseline_label: str = ""  # what it was compared with
    ratio: float | None = None  # set by Context.compare (median of paired ratios)
    details: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.baseline_unit:
            self.baseline_unit = self.unit
        if self.ratio is None:
            self.ratio = self.value / self.baseline if self.baseline else math.inf

    @property
    def passed(self) -> bool:
        return self.ratio >= self.target

    def as_dict(self) -> dict:
        out = asdict(self)
        out["passed"] = self.passed
        return out


@dataclass
class Context:
    """What a benchmark gets: the database it runs on and how long to time things.

    ``seconds`` is the length of one timed repetition; ``repeats`` repetitions of the
    subject and of the baseline alternate, so that a burst of load from elsewhere on the
    machine hits both sides alike. ``fixed_ops`` replaces calibration with an exact
    operation count (the smoke test uses it; numbers are then meaningless).
    """

    db: str  # "sqlite" or "postgres": the row label
    vendor: str  # Django's connection.vendor: "sqlite" or "postgresql"
    seconds: float = 1.0
    repeats: int = 5
    warmup: float = 0.3
    fixed_ops: int | None = None
    verbose: bool = True

    def log(self, message: str) -> None:
        if self.verbose:
            print(f"  [{self.db}] {message}", file=sys.stderr, flush=True)

    # -- timing ---------------------------------------------------------------------------
    @staticmethod
    def _time(work: Work, n: int) -> float:
        gc.collect()
        start = time.perf_counter()
        work(n)
        return max(time.perf_counter() - start, 1e-9)

    def calibrate(self, work: Work) -> int:
        """Warm ``work`` up, then return how many operations fill ``seconds``."""
        if self.fixed_ops is not None:
            work(1)  # one warm-up call: first-use caches, prepared statements
            return self.fixed_ops
        n, warm = 1, 0.0
        while True:
            elapsed = self._time(work, n)
            warm += elapsed
            if elapsed >= 0.05 and warm >= self.warmup:
                break
            if elapsed < 0.05:
                n *= 2
        return max(1, math.ceil(n * self.seconds / elapsed))

    def compare(
        self,
        name: str,
        subject: Work,
        baseline: Work,
        *,
        unit: str,
        baseline_unit: str = "",
        target: float,
        subject_label: str = "",
        baseline_label: str = "",
    ) -> Measurement:
        """Time ``subject`` and ``baseline`` in alternating repetitions.

        Reports the median rate of each side and the median of the per-pair ratios
        (each pair ran back to back, under the same conditions).
        """
        self.log(f"{name}: warming up")
        n_subject = self.calibrate(subject)
        n_baseline = self.calibrate(baseline)
        subject_rates, baseline_rates, ratios = [], [], []
        for i in range(self.repeats):
            # Alternate which side goes first so neither always meets a warmer table.
            order = ((subject, n_subject, subject_rates), (baseline, n_baseline, baseline_rates))
            if i % 2:
                order = order[::-1]
            for work, n, rates in order:
                rates.append(n / self._time(work, n))
            ratios.append(subject_rates[-1] / baseline_rates[-1])
            self.log(f"{name}: rep {i + 1}/{self.repeats} "
                     f"{subject_rates[-1]:,.0f} vs {baseline_rates[-1]:,.0f} {unit}")
        return Measurement(
            name=name,
            db=self.db,
            unit=unit,
            baseline_unit=baseline_unit or unit,
            value=statistics.median(subject_rates),
            baseline=statistics.median(baseline_rates),
            ratio=statistics.median(ratios),
            target=target,
            subject_label=subject_label,
            baseline_label=baseline_label,
            details={
                "repeats": self.repeats,
                "ops_per_rep": {"subject": n_subject, "baseline": n_baseline},
                "subject_rates": [round(r, 1) for r in subject_rates],
                "baseline_rates": [round(r, 1) for r in baseline_rates],
                "ratios": [round(r, 4) for r in ratios],
            },
        )
