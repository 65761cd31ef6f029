"""``python -m bench [NAME ...] [--db sqlite|postgres|both]``: run, compare, print a table.

The parent process runs each database in a child process (``--child DB``): Django can be
set up only once per process, and a child starts from a clean slate. The child sets up a
throw-away Django (bench.env), runs the chosen benchmarks and hands its measurements back
as JSON; the parent prints one table for all of them.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import fnmatch
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

from . import runner
from .env import DEFAULT_PG, Unavailable, django_env

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
DBS = {"sqlite": ["sqlite"], "postgres": ["postgres"], "both": ["sqlite", "postgres"]}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Run Ficha's benchmarks; each result is a ratio against a baseline "
                    "measured in the same run.",
    )
    p.add_argument("names", nargs="*", metavar="NAME",
                   help="benchmarks to run (shell-style patterns allowed); default: all")
    p.add_argument("--db", choices=sorted(DBS), default="both",
                   help="database(s) to run on (default: both)")
    p.add_argument("--seconds", type=float, default=1.0,
                   help="length of one timed repetition (default: 1.0)")
    p.add_argument("--repeats", type=int, default=5,
                   help="repetitions per side; the median is reported (default: 5)")
    p.add_argument("--quick", action="store_true",
                   help="shorter run for a rough look (0.3 s x 3 repetitions)")
    p.add_argument("--json", nargs="?", const="", default=None, metavar="PATH",
                   help="also write the results as JSON (default path: "
                        "bench/results/<timestamp>.json)")
    p.add_argument("--pg", default=os.environ.get("FICHA_BENCH_PG_URL", DEFAULT_PG),
                   metavar="URL",
                   help="PostgreSQL server to create the scratch database on "
                        "(default: $FICHA_BENCH_PG_URL or %(default)s)")
    p.add_argument("--profile", action="store_true",
                   help="run under cProfile; print the top functions and save "
                        "bench/results/<db>.prof")
    p.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    p.add_argument("--child", choices=["sqlite", "postgres"], help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    return p


class UsageError(Exception):
    """A wrong command line (an unknown benchmark name)."""


def _select(names: list[str], available: list[str]) -> list[str]:
    if not names:
        return available
    chosen: list[str] = []
    for pattern in names:
        hits = [n for n in available if fnmatch.fnmatchcase(n, pattern)]
        if not hits:
            raise UsageError(
                f"no benchmark matches {pattern!r}; available: {', '.join(available)}"
            )
        chosen += [h for h in hits if h not in chosen]
    return chosen


# --- child: one database ------------------------------------------------------------------
def _child(args: argparse.Namespace) -> int:
    result: dict = {"db": args.child, "skipped": None, "error": None, "measurements": []}
    try:
        with django_env(args.child, args.pg) as info:
            result["env"] = info
            registry = runner.discover()
            names = _select(args.names, sorted(registry))
            ctx = runner.Context(db=args.child, vendor=info["vendor"],
                                 seconds=args.seconds, repeats=args.repeats,
                                 warmup=min(0.5, args.seconds))
            profiler = None
            if args.profile:
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            try:
                for name in names:
                    ctx.log(f"running {name}")
                    for m in registry[name](ctx):
                        m.db = args.child
                        result["measurements"].append(m.as_dict())
            finally:
                if profiler is not None:
                    profiler.disable()
                    _report_profile(profiler, args.child)
    except Unavailable as exc:
        result["skipped"] = str(exc)
    except UsageError as exc:
        result["usage"] = str(exc)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # reported by the parent, with the traceback on stderr
        import traceback

        traceback.print_exc()
        result["error"] = f"{type(exc).__name__}: {exc}"
    Path(args.out).write_text(json.dumps(result))
    return 0


def _report_profile(profiler, db: str) -> None:
    import pstats

    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{db}.prof"
    profiler.dump_stats(path)
    print(f"\n== cProfile ({db}), saved to {path}", file=sys.stderr)
    stats = pstats.Stats(profiler, stream=sys.stderr)
    stats.sort_stats("tottime").print_stats(25)


# --- parent: every database, one table ----------------------------------------------------
def _run_child(db: str, args: argparse.Namespace) -> dict:
    fd, out = tempfile.mkstemp(prefix="ficha-bench-", suffix=".json")
    os.close(fd)
    cmd = [sys.executable, "-m", "bench", *args.names, "--child", db, "--out", out,
           "--seconds", str(args.seconds), "--repeats", str(args.repeats), "--pg", args.pg]
    if args.profile:
        cmd.append("--profile")
    try:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
        proc = subprocess.run(cmd, cwd=ROOT, env=env)
        text = Path(out).read_text()
        if proc.returncode != 0 or not text:
            return {"db": db, "skipped": None, "measurements": [],
                    "error": f"child process exited with status {proc.returncode}"}
        return json.loads(text)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(out)


def _rate(value: float, unit: str) -> str:
    return f"{value:,.0f} {unit}"


def format_table(results: list[dict]) -> str:
    header = ("benchmark", "db", "subject", "baseline", "ratio", "target", "result")
    rows = []
    notes = []
    for res in results:
        env = res.get("env") or {}
        if env.get("server_version"):
            extra = ", ".join(f"{k}={env[k]}" for k in ("journal_mode", "transaction_mode")
                              if env.get(k))
            name = "SQLite" if env.get("vendor") == "sqlite" else "PostgreSQL"
            notes.append(f"{res['db']}: {name} {env['server_version']}"
                         + (f" ({extra})" if extra else "")
                         + f", Django {env.get('django', '?')}")
        if res.get("skipped"):
            notes.append(f"{res['db']}: skipped — {res['skipped']}")
        if res.get("error"):
            notes.append(f"{res['db']}: ERROR — {res['error']}")
        for m in res["measurements"]:
            rows.append((
                m["name"], m["db"], _rate(m["value"], m["unit"]),
                _rate(m["baseline"], m["baseline_unit"]), f"{m['ratio']:.2f}x",
                f">= {m['target']:.2f}x", "PASS" if m["passed"] else "MISS",
            ))
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    right = {2, 3, 4, 5}

    def line(cells) -> str:
        return "  ".join(
            str(c).rjust(w) if i in right else str(c).ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    out = [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)] if rows \
        else ["no measurements"]
    return "\n".join(out + ([""] + notes if notes else []))


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                              capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _write_json(path_arg: str, args: argparse.Namespace, results: list[dict]) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = Path(path_arg) if path_arg else RESULTS / f"{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": _git_commit(),
        "python": platform.python_version(),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "settings": {"seconds": args.seconds, "repeats": args.repeats},
        "runs": results,
    }
    path.write_text(json.dumps(doc, indent=2))
    return path


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.quick:
        args.seconds, args.repeats = 0.3, 3
    if args.seconds <= 0 or args.repeats < 1:
        raise SystemExit("--seconds must be > 0 and --repeats >= 1")
    if args.child:
        return _child(args)
    if args.list:
        # Benchmark modules import Ficha's models, so listing needs Django set up.
        with django_env("sqlite", migrate=False):
            registry = runner.discover()
            for name in sorted(registry):
                print(f"{name:24} {runner.description(name)}")
        return 0
    results = []
    for db in DBS[args.db]:
        res = _run_child(db, args)
        if res.get("usage"):
            print(f"python -m bench: {res['usage']}", file=sys.stderr)
            return 2
        results.append(res)
    print()
    print(format_table(results))
    if args.json is not None:
        print(f"\nresults written to {_write_json(args.json, args, results)}")
    if any(r.get("error") for r in results):
        return 2
    if any(not m["passed"] for r in results for m in r["measurements"]):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
