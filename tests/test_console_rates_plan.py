"""The venue's dialing plan in the console: the owner sets the prefixes and the country code
(the same service and capability as `ficha rates plan`, audited), and the rate tool reads
national numbers with it — or says the country code is missing and links to the form."""

from __future__ import annotations

import pytest

from ficha.callshop import services as callshop
from ficha.core.models import AuditLog

from .rates_support import make_deck

URL = "/console/rates/plan/"
QUOTE = "/console/rates/quote/"


def post(client, intl="00", national="0", country="33"):
    return client.post(
        URL,
        {"international_prefix": intl, "national_prefix": national, "country_code": country},
    )


def test_a_fresh_install_has_no_country_code_and_the_rate_tool_links_to_the_form(client, owner, db):
    deck = make_deck()
    client.force_login(owner)
    r = client.get(QUOTE, {"deck": deck.pk, "number": "06 12 34 56 78", "seconds": "60"})
    text = r.content.decode()
    assert r.status_code == 400 and "country code is not set" in text
    assert 'id="quote-plan-missing"' in text and f'href="{URL}"' in text
    page = client.get(URL).content.decode()
    assert 'id="plan-missing"' in page


def test_the_owner_sets_the_country_code_audited_and_the_rate_tool_uses_it(client, owner, db):
    deck = make_deck()
    client.force_login(owner)
    r = post(client, country="33")
    assert r.status_code == 302 and r["Location"] == URL
    plan = callshop.dialing_plan()
    assert (plan.international_prefix, plan.national_prefix, plan.country_code) == ("00", "0", "33")
    log = AuditLog.objects.get(action="callshop.dialing_plan")
    assert (
        log.actor == owner
        and log.before["country_code"] == ""
        and log.after["country_code"] == "33"
    )
    r = client.get(QUOTE, {"deck": deck.pk, "number": "06 12 34 56 78", "seconds": "60"})
    text = r.content.decode()
    assert r.status_code == 200 and ">33612345678<" in text
    assert 'id="quote-plan-missing"' not in text
    assert "country code 33" in text.split('id="quote-plan"')[1].split("</p>")[0]
    assert 'id="plan-missing"' not in client.get(URL).content.decode()


def test_other_prefixes_change_how_numbers_are_read(client, owner, db):
    deck = make_deck()
    client.force_login(owner)
    assert post(client, intl="011", national="", country="1").status_code == 302
    r = client.get(QUOTE, {"deck": deck.pk, "number": "011 33 6 12 34 56 78", "seconds": "60"})
    assert ">33612345678<" in r.content.decode()
    # "00" is no longer the international prefix: read as a national number of +1
    r = client.get(QUOTE, {"deck": deck.pk, "number": "0033612345678", "seconds": "60"})
    assert ">10033612345678<" in r.content.decode()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"country": "3a"}, "Digits only"),
        ({"country": "+33"}, "Digits only"),
        ({"intl": "0 0"}, "Digits only"),
        ({"country": "2250"}, "at most 3 characters"),
        ({"intl": "00000"}, "at most 4 characters"),
        ({"national": "000"}, "at most 2 characters"),
        ({"country": "033"}, "not starting with 0"),
        ({"intl": "0", "national": "0"}, "must differ"),
    ],
)
def test_invalid_input_is_refused_with_a_reason_and_nothing_changes(
    client, owner, db, values, message
):
    client.force_login(owner)
    r = post(client, **values)
    assert r.status_code == 400 and message in r.content.decode()
    assert callshop.dialing_plan().country_code == ""
    assert not AuditLog.objects.filter(action="callshop.dialing_plan").exists()


def test_only_who_may_change_settings_may_change_the_plan(client, manager, cashier, db):
    for user in (manager, cashier):
        client.force_login(user)
        assert client.get(URL).status_code == 403
        assert post(client).status_code == 403
    assert callshop.dialing_plan().country_code == ""
    # the manager still uses the rate tool, sees the plan, but gets no link to change it
    client.force_login(manager)
    text = client.get(QUOTE).content.decode()
    assert 'id="quote-plan"' in text and f'href="{URL}"' not in text
    assert "Ask the owner" in text


def test_the_form_is_reachable_from_the_rate_pages_and_settings(client, owner, db):
    client.force_login(owner)
    for page in ("/console/rates/", QUOTE, "/console/settings/"):
        assert f'href="{URL}"' in client.get(page).content.decode(), page


def test_the_form_shows_the_current_plan(client, owner, db):
    client.force_login(owner)
    post(client, intl="011", national="1", country="1")
    text = client.get(URL).content.decode()
    assert 'value="011"' in text and 'name="country_code"' in text
