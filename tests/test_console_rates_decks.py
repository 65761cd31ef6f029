"""The console's rate-deck list: several decks, creating one (audited), who may see it."""

from __future__ import annotations

import pytest

from ficha.callshop.models import Deck
from ficha.core.models import AuditLog

from .rates_support import make_deck

URL = "/console/rates/"


def test_a_manager_sees_every_deck_with_its_rate_count(client, manager):
    make_deck("retail")
    make_deck("members", price_group="member")
    client.force_login(manager)
    r = client.get(URL)
    text = r.content.decode()
    assert r.status_code == 200
    assert "retail" in text and "members" in text and "Member" in text
    assert text.count(">4</td>") == 2  # four rates in each


def test_creating_a_deck_for_a_price_group(client, owner):
    client.force_login(owner)
    r = client.post(
        URL,
        {
            "name": "guests",
            "price_group": "guest",
            "rounding": "half_even",
            "default_min_block": "30",
            "default_increment": "6",
        },
    )
    deck = Deck.objects.get(name="guests")
    assert r.status_code == 302 and r["Location"] == f"/console/rates/{deck.pk}/"
    assert (deck.price_group, deck.rounding, deck.default_min_block, deck.default_increment) == (
        "guest",
        "half_even",
        30,
        6,
    )
    log = AuditLog.objects.get(action="callshop.deck_create")
    assert log.actor == owner


def test_a_second_deck_for_the_same_group_is_refused_with_the_reason(client, manager):
    make_deck("members", price_group="member")
    client.force_login(manager)
    r = client.post(
        URL,
        {
            "name": "members 2",
            "price_group": "member",
            "rounding": "half_up",
            "default_min_block": "60",
            "default_increment": "60",
        },
    )
    assert r.status_code == 400 and "already rates this price group" in r.content.decode()
    assert not Deck.objects.filter(name="members 2").exists()


def test_a_duplicate_name_is_refused(client, manager):
    make_deck("retail")
    client.force_login(manager)
    r = client.post(
        URL,
        {
            "name": "retail",
            "rounding": "half_up",
            "default_min_block": "60",
            "default_increment": "60",
        },
    )
    assert r.status_code == 400 and "exists already" in r.content.decode()
    assert Deck.objects.count() == 1


@pytest.mark.parametrize("who", ["cashier", "seller"])
def test_cashiers_and_sellers_may_not_manage_decks(client, request, who):
    client.force_login(request.getfixturevalue(who))
    assert client.get(URL).status_code == 403
    r = client.post(
        URL,
        {"name": "x", "rounding": "half_up", "default_min_block": "60", "default_increment": "60"},
    )
    assert r.status_code == 403 and not Deck.objects.exists()


def test_the_page_is_in_the_navigation_of_those_who_may_use_it(client, manager, cashier):
    client.force_login(manager)
    assert URL.encode() in client.get("/console/").content
    client.force_login(cashier)
    assert URL.encode() not in client.get("/console/").content
