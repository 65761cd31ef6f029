"""Shared by the tests of the console's rate-deck pages (tests/test_console_rates_*.py)."""

from __future__ import annotations

from ficha.callshop import services as callshop
from ficha.core import audit

SYSTEM = audit.Actor(source="test", label="test")

# XOF (no decimals), the full form: France per started minute, the UK 30/6 with a connect
# fee, Côte d'Ivoire per second with 5 s of grace and a minimum cost.
FULL = """prefix;description;price;connect_fee;billing;grace;min_cost
33;France;100;0;60/60;0;0
336;France mobile;150;0;60/60;0;0
44;United Kingdom;60;20;30/6;0;0
225;Cote d'Ivoire;50;0;1/1;5;30
"""


def make_deck(name: str = "retail", text: str = FULL, **options):
    result = callshop.import_deck(SYSTEM, text, name)
    assert result.ok, result.errors
    if options:
        callshop.update_deck(SYSTEM, result.deck, **options)
    return callshop.find_deck(name)
