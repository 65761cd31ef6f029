"""A fresh install has no country code in its dialing plan. A national number (01 40 …
in France) then became the E.164 digits 140… and matched prefix 1 (North America): the
call was allowed and charged at the US price. Without a country code, only numbers
written with + or the international prefix can be read; the others are refused with
what to set, and `ficha rates plan` sets it."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ficha.callshop import services as callshop
from ficha.callshop.matching import DialPlan, NumberError

from .pbx_support import make_deck

DECK = "prefix,description,price\n1,USA/Canada,5\n33,France,100\n"


@pytest.mark.parametrize("dialled", ["01 40 00 00 00", "140000000", "100"])
def test_without_a_country_code_a_national_or_local_number_is_refused(dialled):
    with pytest.raises(NumberError, match="country code"):
        DialPlan("00", "0", "").normalise(dialled)


@pytest.mark.parametrize("dialled", ["+33 1 40 00 00 00", "0033140000000"])
def test_without_a_country_code_international_numbers_still_read(dialled):
    assert DialPlan("00", "0", "").normalise(dialled) == "33140000000"


@pytest.mark.django_db
def test_the_rate_tool_does_not_charge_a_national_call_as_north_america(owner, capsys):
    deck = make_deck(DECK, "retail")
    with pytest.raises(callshop.CallshopError, match="country code"):
        callshop.quote(deck, "0140000000", 60)
    call_command("rates", "plan", "--country-code", "33")
    out = capsys.readouterr().out
    assert "country code 33" in out
    assert callshop.quote(deck, "0140000000", 60).rated.terms.description == "France"
    call_command("rates", "plan")  # no option: shows the plan, changes nothing
    assert "international prefix 00, national trunk prefix 0, country code 33" in (
        capsys.readouterr().out
    )


@pytest.mark.django_db
def test_rates_plan_refuses_a_bad_country_code(owner):
    with pytest.raises(CommandError, match="country code"):
        call_command("rates", "plan", "--country-code", "0033")
