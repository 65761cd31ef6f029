"""Every door reads amounts with the one parser: the console in the page's language, the
API and the command line in one locale-independent form; above the venue's limits the
console asks again, and every money form says back the amount it understood."""

from __future__ import annotations

import html
import io
import re

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.urls import reverse

from ficha.accounts import services as accounts
from ficha.core import audit
from ficha.core import services as core_services
from ficha.ledger import services as ledger
from ficha.ledger.models import Shift, Transaction
from ficha.recharges.models import Batch

from .conftest import actor_for

V1 = "/api/v1"


def text(response) -> str:
    """The page as read: entities decoded, every kind of space one space."""
    return re.sub(r"\s+", " ", html.unescape(response.content.decode()))


def limits(**values):
    core_services.update_settings(audit.SYSTEM, currency_locked=False, **values)


@pytest.fixture
def counter(client, cashier):
    client.force_login(cashier)
    return client


# --- console ------------------------------------------------------------------------------
def test_console_deposit_reads_grouping_in_english(counter, cashier, make_customer):
    customer = make_customer()
    ledger.open_shift(actor_for(cashier), 0)
    url = reverse("console:customer_deposit", args=[customer.pk])
    response = counter.post(url, {"amount": "1,000"}, follow=True)
    assert accounts.balance(customer) == 1000  # issue 6: it was recorded as 1
    assert "XOF 1,000 deposited to" in text(response)


def test_console_deposit_in_french_refuses_a_decimal_comma_for_xof(client, cashier,
                                                                    make_customer):
    customer = make_customer()
    ledger.open_shift(actor_for(cashier), 0)
    client.force_login(cashier)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    url = reverse("console:customer_deposit", args=[customer.pk])
    response = client.post(url, {"amount": "1,000"})
    assert response.status_code == 200 and 'lang="fr"' in text(response)
    # the error names what was typed (French quotes it « 1,000 »)
    assert "1,000" in text(response) and "has-error" in text(response)
    assert accounts.balance(customer) == 0
    response = client.post(url, {"amount": "1 000"}, follow=True)
    assert accounts.balance(customer) == 1000


@pytest.mark.parametrize("typed", ["1e9", "1E3", "NaN", "Infinity", "12,5"])
def test_console_refuses_exponents_and_non_numbers_everywhere(counter, cashier, make_customer,
                                                              typed):
    customer = make_customer()
    ledger.open_shift(actor_for(cashier), 0)
    response = counter.post(reverse("console:customer_deposit", args=[customer.pk]),
                            {"amount": typed})
    assert response.status_code == 200 and "is not an amount" in text(response)
    response = counter.post(reverse("console:shift_close"), {"counted": typed})
    assert "is not an amount" in text(response)
    assert accounts.balance(customer) == 0 and Shift.objects.get().closed_at is None


def test_a_deposit_above_the_limit_is_confirmed_first(counter, cashier, make_customer):
    limits(max_deposit=100_000)
    customer = make_customer()
    ledger.open_shift(actor_for(cashier), 0)
    url = reverse("console:customer_deposit", args=[customer.pk])

    response = counter.post(url, {"amount": "1,000,000"})
    page = text(response)
    assert "You typed “1,000,000” → XOF 1,000,000" in page
    assert "XOF 100,000" in page and 'name="amount_confirm"' in page
    assert 'value="1000000"' in page and "Yes, XOF 1,000,000 is right" in page
    assert accounts.balance(customer) == 0

    # a confirmation of another amount does not count
    counter.post(url, {"amount": "2,000,000", "amount_confirm": "1000000"})
    assert accounts.balance(customer) == 0
    response = counter.post(url, {"amount": "1,000,000", "amount_confirm": "1000000"},
                            follow=True)
    assert accounts.balance(customer) == 1_000_000
    assert "XOF 1,000,000 deposited to" in text(response)
    # at or under the limit: no question
    counter.post(url, {"amount": "100,000"})
    assert accounts.balance(customer) == 1_100_000


def test_shift_close_with_a_large_variance_is_confirmed_first(counter, cashier):
    limits(max_shift_variance=5_000)
    ledger.open_shift(actor_for(cashier), 10_000)
    url = reverse("console:shift_close")
    response = counter.post(url, {"counted": "2,000"})
    page = text(response)
    assert "XOF 8,000 short" in page and 'name="counted_confirm"' in page
    assert Shift.objects.get().closed_at is None
    response = counter.post(url, {"counted": "2,000", "counted_confirm": "2000"}, follow=True)
    shift = Shift.objects.get()
    assert shift.closed_at is not None and shift.variance == -8000
    assert "XOF 2,000 counted" in text(response)


def test_shift_close_within_the_limit_needs_no_confirmation(counter, cashier):
    limits(max_shift_variance=5_000)
    ledger.open_shift(actor_for(cashier), 10_000)
    counter.post(reverse("console:shift_close"), {"counted": "14,000"})
    assert Shift.objects.get().variance == 4000


def test_generating_codes_above_the_face_value_limit_is_confirmed_first(client, manager):
    limits(max_face_value=10_000)
    client.force_login(manager)
    url = reverse("console:recharge_generate")
    response = client.post(url, {"count": "2", "amount": "2,000,000", "label": "big"})
    assert "You typed “2,000,000” → XOF 2,000,000" in text(response)
    assert not Batch.objects.exists()
    client.post(url, {"count": "2", "amount": "2,000,000", "label": "big",
                      "amount_confirm": "2000000"})
    assert Batch.objects.get().amount == 2_000_000  # issue 6: "2,000" made codes of 2


def test_settings_take_the_limits_as_typed_and_say_them_back(client, owner):
    client.force_login(owner)
    venue = core_services.venue_settings()
    data = {"venue_name": venue.venue_name, "currency": venue.currency,
            "time_zone": venue.time_zone, "language": "en", "code_length": venue.code_length,
            "max_deposit": "100,000", "max_face_value": "", "max_shift_variance": "5 000"}
    response = client.post(reverse("console:settings"), data, follow=True)
    venue = core_services.venue_settings()
    assert (venue.max_deposit, venue.max_face_value, venue.max_shift_variance) == \
        (100_000, 0, 5000)
    page = text(response)
    assert "Largest deposit without confirmation: XOF 100,000." in page
    assert 'value="100,000"' in page  # shown back as typed in this language

    bad = dict(data, max_deposit="1e5", max_face_value="-5", time_zone="Mars/Olympus")
    page = text(client.post(reverse("console:settings"), bad))
    # every error at once, not one per try
    assert "Exponents" in page and "cannot be negative" in page
    assert "Unknown time zone" in page
    assert core_services.venue_settings().max_deposit == 100_000


# --- API ----------------------------------------------------------------------------------
@pytest.fixture
def api(api_client, cashier, make_customer):
    ledger.open_shift(actor_for(cashier), 0)
    customer = make_customer()
    return api_client(user=cashier), f"{V1}/customers/{customer.pk}/deposits", customer


@pytest.mark.parametrize("amount,why", [
    ("1,000", "without grouping"),
    ("1 000", "without grouping"),
    ("2.000", "ambiguous"),
    ("1e3", "Exponents"),
    ("1e9", "Exponents"),
    ("NaN", "in figures"),
])
def test_api_refuses_what_it_would_have_to_guess(api, amount, why):
    client, url, customer = api
    response = client.post(url, {"amount": amount})
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid_amount" and why in body["detail"]
    assert body["detail"].startswith("amount: ")
    assert accounts.balance(customer) == 0


@pytest.mark.parametrize("language", ["de", "fr", "en"])
def test_accept_language_never_changes_how_the_api_reads_amounts(api, language):
    client, url, customer = api
    plain = client.post(url, {"amount": "2.000"})
    localised = client.post(url, {"amount": "2.000"}, headers={"Accept-Language": language})
    assert plain.status_code == localised.status_code == 400
    assert plain.json()["code"] == localised.json()["code"] == "invalid_amount"
    ok = client.post(url, {"amount": "2000"}, headers={"Accept-Language": language})
    assert ok.status_code == 201 and ok.json()["amount"]["amount_minor"] == 2000
    assert accounts.balance(customer) == 2000


def test_api_shift_and_generate_refuse_exponents(api_client, cashier, manager):
    client = api_client(user=cashier)
    assert client.post(f"{V1}/shifts", {"opening_float": "1e3"}).status_code == 400
    ledger.open_shift(actor_for(cashier), 0)
    response = client.post(f"{V1}/shifts/current/close", {"counted": "1e3"})
    assert response.status_code == 400 and "Exponents" in response.json()["detail"]
    boss = api_client(user=manager)
    response = boss.post(f"{V1}/recharges/batches", {"count": 1, "amount": "1e12"})
    assert response.status_code == 400 and response.json()["code"] == "invalid_amount"
    assert not Batch.objects.exists()
    assert not Transaction.objects.filter(kind="shift.close").exists()


# --- command line -------------------------------------------------------------------------
@pytest.mark.parametrize("amount", ["1e12", "1,000", "2.000", "NaN"])
def test_cli_amounts_use_the_api_form(owner, amount):
    with pytest.raises(CommandError):
        call_command("recharges", "generate", "--count", "1", "--amount", amount,
                     stdout=io.StringIO(), stderr=io.StringIO())
    assert not Batch.objects.exists()
    call_command("recharges", "generate", "--count", "1", "--amount", "2000",
                 stdout=io.StringIO(), stderr=io.StringIO())
    assert Batch.objects.get().amount == 2000


def test_the_confirmation_works_in_the_htmx_panel_too(counter, cashier, make_customer):
    limits(max_deposit=1000)
    customer = make_customer()
    ledger.open_shift(actor_for(cashier), 0)
    url = reverse("console:customer_deposit", args=[customer.pk])
    response = counter.post(url, {"amount": "5,000"}, HTTP_HX_REQUEST="true")
    page = text(response)
    assert page.startswith('<section class="card money-panel"') or 'id="money-panel"' in page
    assert "<html" not in page and 'name="amount_confirm"' in page
    response = counter.post(url, {"amount": "5,000", "amount_confirm": "5000"},
                            HTTP_HX_REQUEST="true")
    assert accounts.balance(customer) == 5000
    assert "XOF 5,000 deposited to" in text(response)


def test_limits_are_kept_by_the_settings_service(db):
    with pytest.raises(core_services.SettingsError):
        limits(max_deposit=-1)
    with pytest.raises(core_services.SettingsError):
        limits(max_face_value=10**15)
    limits(max_shift_variance=5000)
    assert core_services.over_limit("max_shift_variance", -5001) == 5000  # short counts
    assert core_services.over_limit("max_shift_variance", 5000) == 0
    assert core_services.over_limit("max_deposit", 10**12) == 0  # 0: no limit
    assert audit_changes() == [{"max_shift_variance": 5000}]


def audit_changes() -> list[dict]:
    from ficha.core.models import AuditLog

    out = []
    for row in AuditLog.objects.filter(action="settings.update").order_by("id"):
        out.append({k: v for k, v in row.after.items() if row.before.get(k) != v})
    return out
