"""One deck's page: its rates searched and paged, its settings changed (audited)."""

from __future__ import annotations

from ficha.callshop import services as callshop
from ficha.core.models import AuditLog

from .rates_support import make_deck


def url(deck) -> str:
    return f"/console/rates/{deck.pk}/"


def test_the_rates_are_listed_with_their_terms(client, manager):
    deck = make_deck()
    client.force_login(manager)
    text = client.get(url(deck)).content.decode()
    assert "United Kingdom" in text and "30/6" in text and "Cote d&#x27;Ivoire" in text


def test_search_by_prefix_digits_or_destination(client, manager):
    deck = make_deck()
    client.force_login(manager)
    text = client.get(url(deck), {"q": "+33 6"}).content.decode()
    assert "France mobile" in text and ">France<" not in text and "United Kingdom" not in text
    text = client.get(url(deck), {"q": "kingdom"}).content.decode()
    assert "United Kingdom" in text and "France" not in text.split('id="rates"')[1]


def test_htmx_search_gets_only_the_table(client, manager):
    deck = make_deck()
    client.force_login(manager)
    r = client.get(url(deck), {"q": "44"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="rates")
    text = r.content.decode()
    assert r.status_code == 200 and "<html" not in text and "United Kingdom" in text


def test_a_large_deck_is_paged(client, manager):
    lines = "".join(f"{1000 + n};Dest {n};{n}\n" for n in range(120))
    deck = make_deck("big", text=lines)
    client.force_login(manager)
    first = client.get(url(deck)).content.decode()
    assert "Page 1 of 3" in first and "Dest 0<" in first and "Dest 50<" not in first
    third = client.get(url(deck), {"page": 3}).content.decode()
    assert "Dest 119<" in third and "Dest 0<" not in third


def test_renaming_and_changing_the_rounding_is_audited_and_rates_with_it(client, owner):
    deck = make_deck()
    client.force_login(owner)
    r = client.post(
        url(deck),
        {
            "name": "sell",
            "description": "",
            "price_group": "",
            "rounding": "up",
            "whole_duration": "on",
            "default_min_block": "60",
            "default_increment": "60",
        },
    )
    assert r.status_code == 302
    deck.refresh_from_db()
    assert (deck.name, deck.rounding, deck.whole_duration) == ("sell", "up", True)
    log = AuditLog.objects.get(action="callshop.deck_update")
    assert log.actor == owner and log.before["name"] == "retail" and log.after["name"] == "sell"
    # the next quote uses the new settings: 35 s to the UK at 30/6 with whole duration
    assert callshop.quote(deck, "+44 20 7000 0000", 35).rated.billed_seconds == 36


def test_a_rename_onto_another_deck_is_refused(client, manager):
    deck = make_deck()
    make_deck("other")
    client.force_login(manager)
    r = client.post(
        url(deck),
        {
            "name": "other",
            "rounding": "half_up",
            "default_min_block": "60",
            "default_increment": "60",
        },
    )
    assert r.status_code == 400 and "exists already" in r.content.decode()
    deck.refresh_from_db()
    assert deck.name == "retail"


def test_an_unknown_deck_is_404_and_cashiers_are_refused(client, manager, cashier):
    deck = make_deck()
    client.force_login(manager)
    assert client.get("/console/rates/9999/").status_code == 404
    client.force_login(cashier)
    assert client.get(url(deck)).status_code == 403
    assert (
        client.post(
            url(deck),
            {"name": "x", "rounding": "up", "default_min_block": "60", "default_increment": "60"},
        ).status_code
        == 403
    )
