"""Console forms show every error at once, each on its field, not one per try."""

from __future__ import annotations

import html
import re

import pytest
from django.urls import reverse

from ficha.accounts import services as accounts
from ficha.accounts.models import Customer
from ficha.core import audit


def field_errors(response) -> dict[str, str]:
    page = html.unescape(response.content.decode())
    return dict(re.findall(r'<p class="field-error" id="id_(\w+)_error">([^<]*)</p>', page))


def test_new_customer_shows_every_problem_on_its_field(client, cashier, make_customer):
    make_customer("taken", card_uid="ABCD1234")
    client.force_login(cashier)
    response = client.post(reverse("console:customer_new"), {
        "username": "Taken", "price_group": "guest", "card_uid": "ab:cd:12:34",
        "password": "abc", "pin": "12",
    })
    errors = field_errors(response)
    assert "is taken" in errors["username"]
    assert "another customer" in errors["card_uid"]
    assert "at least 4" in errors["password"]
    assert "4 to 8 digits" in errors["pin"]
    assert Customer.objects.count() == 1


def test_new_login_details_show_both_problems(client, cashier, make_customer):
    customer = make_customer("ana")
    client.force_login(cashier)
    response = client.post(reverse("console:customer_credentials", args=[customer.pk]),
                           {"password": "ab", "pin": "12"})
    errors = field_errors(response)
    assert "at least 4" in errors["password"] and "pin" in errors


def test_new_staff_shows_every_problem(client, owner):
    client.force_login(owner)
    response = client.post(reverse("console:staff_new"), {
        "username": "olga", "role": "cashier", "password": "1234", "password2": "1234",
    })
    errors = field_errors(response)
    assert "is taken" in errors["username"] and errors["password"]


def test_the_api_hears_every_problem_too(make_customer):
    make_customer("taken")
    with pytest.raises(accounts.AccountError) as err:
        accounts.create_customer(audit.SYSTEM, "taken", password="x", pin="1")
    assert set(err.value.errors) == {"username", "password", "pin"}
    assert "is taken" in str(err.value) and "4 to 8 digits" in str(err.value)


def test_the_forms_own_errors_and_the_services_come_together(client, owner, make_customer):
    """A typing error the form catches (an e-mail address, a PIN too long, passwords that
    differ) does not hide what the service would refuse (a taken username)."""
    customer = make_customer("taken")
    client.force_login(owner)
    errors = field_errors(client.post(reverse("console:customer_new"), {
        "username": "taken", "price_group": "guest", "email": "not-an-address",
        "password": "ab"}))
    assert {"username", "email", "password"} <= set(errors)
    assert "is taken" in errors["username"]

    errors = field_errors(client.post(reverse("console:customer_edit", args=[customer.pk]), {
        "username": "taken", "price_group": "guest", "email": "nope", "card_uid": "xyz"}))
    assert {"email", "card_uid"} <= set(errors) and "username" not in errors

    errors = field_errors(client.post(
        reverse("console:customer_credentials", args=[customer.pk]),
        {"password": "ab", "pin": "123456789"}))
    assert "at least 4" in errors["password"] and "pin" in errors

    errors = field_errors(client.post(reverse("console:staff_new"), {
        "username": "olga", "role": "cashier", "password": "a-long-pass-2026",
        "password2": "another-pass-2026"}))
    assert "is taken" in errors["username"] and "differ" in errors["password2"]
