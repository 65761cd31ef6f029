"""A deck exported from the console reads back into the same rows."""

from __future__ import annotations

from ficha.callshop import services as callshop

from .rates_support import SYSTEM, make_deck


def test_the_export_is_a_csv_download_that_imports_back_identically(client, manager):
    deck = make_deck()
    client.force_login(manager)
    r = client.get(f"/console/rates/{deck.pk}/export.csv")
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv")
    assert 'attachment; filename="rates-retail.csv"' == r["Content-Disposition"]
    copy = callshop.import_deck(SYSTEM, r.content, "copy")
    assert copy.ok and callshop.deck_rows(copy.deck) == callshop.deck_rows(deck)


def test_cashiers_may_not_export(client, cashier):
    deck = make_deck()
    client.force_login(cashier)
    assert client.get(f"/console/rates/{deck.pk}/export.csv").status_code == 403
