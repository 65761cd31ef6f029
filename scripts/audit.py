#!/usr/bin/env python3
"""Audit the locked dependency set (constraints.txt) for known vulnerabilities.

    .venv/bin/python scripts/audit.py

Runs pip-audit over exactly the versions pinned in constraints.txt, against PyPI's advisory
data (the JSON API's ``vulnerabilities``). It first checks that this source answers and
really reports advisories (Django 5.2.0 has known ones); when it does not (no network, a
mirror without the JSON API) it prints one line saying the audit was skipped and exits 0,
so a closed network never fails CI. A known vulnerability in a pinned version exits 1.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE = "https://pypi.org/pypi/Django/5.2.0/json"


def advisory_source_answers(url: str = PROBE, timeout: float = 10) -> str | None:
    """None when the source works; otherwise why not."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            data = json.load(resp)
    except Exception as exc:  # no route, DNS, 404 from a mirror, bad JSON...
        return f"{url} did not answer ({exc.__class__.__name__}: {exc})"
    if not data.get("vulnerabilities"):
        return f"{url} answered without advisories (a mirror without vulnerability data?)"
    return None


def main() -> int:
    why_not = advisory_source_answers()
    if why_not:
        print(f"== dependency audit SKIPPED: the advisory source is not reachable: {why_not}")
        return 0
    print("== dependency audit (pip-audit, PyPI advisories) of constraints.txt")
    cmd = [sys.executable, "-m", "pip_audit", "--requirement", str(ROOT / "constraints.txt"),
           "--no-deps", "--disable-pip", "--vulnerability-service", "pypi",
           "--progress-spinner", "off", "--strict"]
    return subprocess.call(cmd)


if __name__ == "__main__":
    sys.exit(main())
