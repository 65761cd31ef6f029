"""Issue 8: an Access-Reject's Reply-Message speaks the customer's language — the one they
last used the portal in — once the request proved to be theirs; else the NAS's, else the
venue's."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import translation
from django.utils.translation import gettext

from ficha.accounts import services as accounts
from ficha.accounts.models import Customer
from ficha.core import audit
from ficha.core import services as core_services
from ficha.hotspot import services as hs

from .hotspot_support import give_credit, make_nas, make_plan
from .test_hotspot_radius import (
    MA,
    live,  # noqa: F401 - the fixture
    needs_radclient,
    run_radclient,
)

USED_UP = "Your credit is used up: enter a recharge code."
WRONG = "Wrong username or password."


def _in(language: str, text: str) -> str:
    with translation.override(language):
        translated = gettext(text)
    assert translated != text or language == "en"  # the catalogue has it
    return translated


@pytest.fixture
def english_venue(db):
    core_services.update_settings(audit.SYSTEM, currency_locked=False, language="en")


def _french_customer(make_customer, name="amelie"):
    customer = make_customer(name, password="amelie-pass-1")
    assert accounts.remember_language(customer, "fr")
    return customer


def test_remember_language_keeps_only_languages_ficha_speaks(make_customer):
    customer = make_customer("bob", password="bob-pass-12")
    assert Customer.objects.get(pk=customer.pk).language == ""
    assert accounts.remember_language(customer, "de")
    assert not accounts.remember_language(customer, "de")  # no change, no write
    assert not accounts.remember_language(customer, "zz")  # not offered: ignored
    assert not accounts.remember_language(customer, "")
    assert Customer.objects.get(pk=customer.pk).language == "de"


def test_a_french_customer_gets_a_french_reject_from_an_english_venue(english_venue, make_customer):
    nas = make_nas()  # no language of its own: the venue's (English)
    make_plan()
    amelie = _french_customer(make_customer)  # no credit
    d = hs.authorize(nas, hs.AuthRequest("amelie", password="amelie-pass-1"))
    assert not d.accept and d.reason == "credit"
    assert d.message == _in("fr", USED_UP)
    assert ("Reply-Message", d.message) in d.attributes
    assert translation.get_language() == "en"  # the caller's language is left alone
    # the customer's language wins over the NAS's too
    german_nas = make_nas(name="de-gw", address="10.9.9.9", language="de")
    assert hs.authorize(
        german_nas, hs.AuthRequest("amelie", password="amelie-pass-1")
    ).message == _in("fr", USED_UP)
    # without a remembered language: the NAS's
    Customer.objects.filter(pk=amelie.pk).update(language="")
    assert hs.authorize(
        german_nas, hs.AuthRequest("amelie", password="amelie-pass-1")
    ).message == _in("de", USED_UP)


def test_a_wrong_password_never_reveals_the_account_by_its_language(english_venue, make_customer):
    nas = make_nas()
    make_plan()
    _french_customer(make_customer)
    known = hs.authorize(nas, hs.AuthRequest("amelie", password="not-hers-1"))
    unknown = hs.authorize(nas, hs.AuthRequest("nobody", password="not-hers-1"))
    assert known.message == unknown.message == WRONG  # the venue's language for both


def test_a_code_only_login_without_an_account_speaks_the_nas_language(
    english_venue, office, make_customer
):
    from ficha.recharges import services as rs

    make_plan()
    code = rs.generate(office, count=1, amount=1200).recharges.get().code  # never sold
    english = hs.authorize(make_nas(), hs.AuthRequest(code, password=code))
    italian = hs.authorize(
        make_nas(name="it-gw", address="10.9.9.8", language="it"),
        hs.AuthRequest(code, password=code),
    )
    assert not english.accept and english.customer is None
    assert english.message and italian.message == _in("it", english.message)


def test_the_batch_path_speaks_each_customers_language(english_venue, make_customer):
    nas = make_nas(vendor="mikrotik")
    make_plan(price_per_hour=3600, increment_seconds=60)
    french = _french_customer(make_customer)
    german = make_customer("gerda", password="gerda-pass-1")
    accounts.remember_language(german, "de")
    plain = make_customer("pat", password="pat-pass-12")
    funded = make_customer("fred", password="fred-pass-1")
    accounts.remember_language(funded, "fr")
    give_credit(funded, 600)
    people = [french, german, plain, funded]
    # tickets: the batch's common login (one statement for all on PostgreSQL)
    items = [(nas, hs.AuthRequest(p.username, password=hs.issue_ticket(p).secret)) for p in people]
    decisions = hs.authorize_many(items)
    assert [d.accept for d in decisions] == [False, False, False, True]
    assert [d.message for d in decisions[:3]] == [_in("fr", USED_UP), _in("de", USED_UP), USED_UP]
    assert translation.get_language() == "en"


def test_logging_in_at_the_portal_in_french_remembers_french(db, make_customer):
    customer = make_customer("ada", password="ada-secret-1")
    client = Client()
    client.cookies["django_language"] = "fr"
    resp = client.post(
        "/login", {"action": "password", "username": "ada", "password": "ada-secret-1"}
    )
    assert resp.status_code == 302
    assert Customer.objects.get(pk=customer.pk).language == "fr"
    # switching language with the portal's buttons: the next page remembers it
    resp = client.post("/i18n/setlang/", {"language": "pt", "next": "/"})
    assert resp.status_code == 302
    assert client.get("/").status_code == 200
    assert Customer.objects.get(pk=customer.pk).language == "pt"


def test_a_code_login_at_the_portal_remembers_the_browser_language(db, office, desk, english_venue):
    from ficha.recharges import services as rs

    batch = rs.generate(office, count=1, amount=1200)
    recharge = batch.recharges.get()
    rs.sell(desk, [recharge])
    client = Client()
    resp = client.post(
        "/login", {"action": "code", "code": recharge.code}, HTTP_ACCEPT_LANGUAGE="es-ES,es;q=0.9"
    )
    assert resp.status_code == 302
    assert accounts.find_customer(recharge.code).language == "es"


@needs_radclient
@pytest.mark.slow
@pytest.mark.usefixtures("live")  # the real server on UDP, an English venue
def test_radclient_gets_the_french_reply_message(english_venue, make_customer):
    _french_customer(make_customer)  # no credit
    ok, out = run_radclient("auth", 'User-Name = amelie, User-Password = "amelie-pass-1"' + MA)
    assert ok and "Access-Reject" in out, out
    assert "Votre cr" in out and "code de recharge" in out, out
