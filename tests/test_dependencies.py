"""A fresh machine installs the dependency set CI tested, free of known vulnerabilities."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import audit  # noqa: E402


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not an exact pin (name==version)"
            pins[canonicalize_name(name)] = version
    return pins


def _project():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _closure() -> set[str]:
    """Every distribution that ficha[test] pulls in, by walking the installed metadata."""
    todo = [Requirement(r) for r in _project()["dependencies"]]
    todo += [Requirement(r) for r in _project()["optional-dependencies"]["test"]]
    seen: set[str] = set()
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen:
            continue
        seen.add(name)
        for raw in metadata.requires(req.name) or []:
            sub = Requirement(raw)
            extras = {e: True for e in req.extras}
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in extras or [""]):
                todo.append(sub)
    return seen


def test_every_installed_dependency_is_pinned_to_the_installed_version():
    pins = _pins()
    unpinned, differ = [], []
    # pip itself (pip-audit needs it) is the virtualenv's own, like setuptools and wheel.
    for name in sorted(_closure() - {"pip", "setuptools", "wheel"}):
        installed = metadata.version(name)
        if name not in pins:
            unpinned.append(f"{name}=={installed}")
        elif Version(pins[name]) != Version(installed):
            differ.append(f"{name}: installed {installed}, pinned {pins[name]}")
    assert not unpinned, f"not in constraints.txt (run scripts/lock.sh): {unpinned}"
    assert not differ, f"installed versions differ from constraints.txt: {differ}"


def test_every_install_command_uses_the_constraints():
    readme = (ROOT / "README.md").read_text()
    installs = re.findall(r"pip install[^\n`]*", readme)
    assert installs and all("-c constraints.txt" in cmd for cmd in installs), installs
    for script in ("scripts/test.sh", ".ci/run"):
        lines = [ln for ln in (ROOT / script).read_text().splitlines()
                 if "pip install" in ln and not ln.lstrip().startswith("#")]
        assert lines and all("-c constraints.txt" in ln for ln in lines), (script, lines)


def test_floors_exclude_releases_with_known_vulnerabilities():
    reqs = {canonicalize_name(Requirement(r).name): Requirement(r)
            for r in _project()["dependencies"]}
    # CVE-2025-57833 (5.2.6), CVE-2025-59681 (5.2.7), CVE-2025-64459 (5.2.8)
    assert "5.2.7" not in reqs["django"].specifier
    assert "5.2.8" in reqs["django"].specifier
    pins = _pins()
    assert reqs["django"].specifier.contains(pins["django"])
    # Waitress is no longer the web server, only an alternative bench/ measures against;
    # its floor there still excludes CVE-2024-49768 and CVE-2024-49769 (fixed in 3.0.1).
    bench = {canonicalize_name(Requirement(r).name): Requirement(r)
             for r in _project()["optional-dependencies"]["bench"]}
    assert "3.0.0" not in bench["waitress"].specifier


def test_audit_skips_with_a_clear_line_when_the_advisory_source_is_closed(capsys, monkeypatch):
    monkeypatch.setattr(audit, "PROBE", "http://127.0.0.1:9/pypi/Django/5.2.0/json")
    called = []
    monkeypatch.setattr(audit.subprocess, "call", lambda cmd: called.append(cmd) or 1)
    assert audit.main() == 0
    assert "dependency audit SKIPPED" in capsys.readouterr().out
    assert not called


def test_audit_fails_when_pip_audit_finds_a_vulnerability(capsys, monkeypatch):
    monkeypatch.setattr(audit, "advisory_source_answers", lambda: None)
    called = []
    # pip-audit exits 1 when a pinned version has a known vulnerability.
    monkeypatch.setattr(audit.subprocess, "call", lambda cmd: called.append(cmd) or 1)
    assert audit.main() == 1
    cmd = called[0]
    assert cmd[cmd.index("--requirement") + 1].endswith("constraints.txt")
    assert "--strict" in cmd


def test_plain_pytest_skips_slow_tests_and_says_so():
    test = "tests/test_bench_smoke.py::test_the_runner_sets_up_migrates_measures_and_cleans_up"
    out = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", test],
                         cwd=ROOT, capture_output=True, text=True, timeout=300).stdout
    assert "1 skipped" in out, out[-2000:]
    assert "--run-slow" in out
    assert "--run-slow" in (ROOT / "scripts" / "test.sh").read_text()
