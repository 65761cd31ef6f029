"""Every kind of ledger transaction the services post has a label in the console (the
customer history and the shift page show ``kind_label``, never a raw code such as
``hotspot.usage``)."""

from __future__ import annotations

import re
from pathlib import Path

from django.utils import translation

from ficha.reports import labels

SRC = Path(__file__).resolve().parents[1] / "src" / "ficha"
# ledger.post("kind", ...), Posting("kind", ...), and kinds named in a constant
POSTED = re.compile(r'(?:ledger\.post|Posting)\(\s*"([a-z_.]+)"|LEDGER_KIND = "([a-z_.]+)"')


def posted_kinds() -> set[str]:
    kinds = set()
    for path in SRC.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        for match in POSTED.finditer(path.read_text(encoding="utf-8")):
            kinds.add(match.group(1) or match.group(2))
    return kinds


def test_the_scan_finds_the_services_postings():
    found = posted_kinds()
    assert {"hotspot.usage", "cafe.usage", "callshop.call", "recharge.redeem",
            "package"} <= found


def test_every_posted_kind_and_its_reversal_has_a_label():
    for kind in sorted(posted_kinds()):
        assert kind in labels.KINDS, f"no console label for ledger kind {kind!r}"
        assert labels.kind_label(f"{kind}.reversal") != f"{kind}.reversal"


def test_labels_are_translated():
    with translation.override("fr"):
        assert labels.kind_label("hotspot.usage") != "Wi-Fi usage"
        assert labels.kind_label("callshop.call") != "Phone call"
