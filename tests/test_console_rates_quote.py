"""The rate tool: a number as dialled and a talk time → the E.164 digits (with the venue's
dialing plan), the prefixes tried, the row matched and the cost step by step, from the
rating engine (the same total the PBX authorization and the CDR import charge)."""

from __future__ import annotations

import pytest

from ficha.callshop import services as callshop

from .rates_support import SYSTEM, make_deck

URL = "/console/rates/quote/"


@pytest.fixture
def deck(db):
    callshop.update_dialing_plan(
        SYSTEM, international_prefix="00", national_prefix="0", country_code="33"
    )
    return make_deck()


def test_a_national_number_is_read_matched_and_costed_step_by_step(client, manager, deck):
    client.force_login(manager)
    r = client.get(URL, {"deck": deck.pk, "number": "06 12 34 56 78", "seconds": "61"})
    text = r.content.decode()
    assert r.status_code == 200
    assert '<td class="mono" id="quote-digits">33612345678<' in text
    assert "national trunk prefix: replaced by the country code" in text
    # tried 336 (chosen) after nothing longer exists in the deck; 33 never needed
    candidates = text.split('id="quote-candidates"')[1].split("</table>")[0]
    assert ">336<" in candidates and "matched" in candidates and ">33<" not in candidates
    steps = text.split('id="quote-steps"')[1].split("</ol>")[0]
    assert "61 s" in steps and "120 s billed" in steps and "150 × 120/60" in steps
    expected = callshop.quote(deck, "0612345678", 61).rated.cost
    assert expected == 300 and "300" in text.split('id="quote-total"')[1].split("</p>")[0]


def test_grace_and_minimum_cost_show_in_the_steps(client, manager, deck):
    client.force_login(manager)
    text = client.get(
        URL, {"deck": deck.pk, "number": "+225 07 07 08 09 10", "seconds": "4"}
    ).content.decode()
    assert "grace 5 s: the call is free" in text
    text = client.get(
        URL, {"deck": deck.pk, "number": "+2250707080910", "seconds": "20"}
    ).content.decode()
    assert "Below the minimum cost 30" in text


def test_an_unknown_destination_says_the_call_would_be_refused(client, manager, deck):
    client.force_login(manager)
    text = client.get(
        URL, {"deck": deck.pk, "number": "+49 30 1234", "seconds": "60"}
    ).content.decode()
    assert "No rate in retail for 49301234" in text


def test_something_that_is_not_a_number_is_a_form_error(client, manager, deck):
    client.force_login(manager)
    r = client.get(URL, {"deck": deck.pk, "number": "*97", "seconds": "60"})
    assert r.status_code == 400 and "is not a phone number" in r.content.decode()
    r = client.get(URL, {"deck": deck.pk, "number": "0612", "seconds": "-1"})
    assert r.status_code == 400


def test_cashiers_may_not_use_the_tool(client, cashier, deck):
    client.force_login(cashier)
    assert client.get(URL, {"deck": deck.pk, "number": "0612", "seconds": "1"}).status_code == 403
