from __future__ import annotations

import pytest
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client

from ficha.accounts import services as accounts
from ficha.accounts import tokens
from ficha.core import audit, roles
from ficha.core import services as core_services
from ficha.core.models import AuditLog
from ficha.ledger import services as ledger
from ficha.ledger.models import Shift, Transaction

from .conftest import actor_for

V1 = "/api/v1"


def detail(response) -> str:
    body = response.json()
    assert isinstance(body["detail"], str) and body["detail"]
    return body["detail"]


@pytest.fixture
def as_cashier(api_client, cashier):
    return api_client(user=cashier)


@pytest.fixture
def as_manager(api_client, manager):
    return api_client(user=manager)


# --- authentication and capabilities -----------------------------------------------------
def test_no_credentials_is_401_json(api_client):
    response = api_client().get(f"{V1}/customers")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "Authorization" in detail(response)


@pytest.mark.parametrize("header", ["Bearer nope", "Bearer fch_" + "a" * 43, "Basic dTpw",
                                    "Bearer", "fch_abc"])
def test_bad_authorization_is_401(api_client, header):
    response = api_client(HTTP_AUTHORIZATION=header).get(f"{V1}/me")
    assert response.status_code == 401


def test_a_bearer_header_wins_over_the_session(api_client, manager):
    client = api_client(user=manager, HTTP_AUTHORIZATION="Bearer fch_wrong")
    assert client.get(f"{V1}/me").status_code == 401


def test_token_auth_and_me(api_client, api_token):
    _token, plaintext = api_token("cashier", "till")
    response = api_client(token=plaintext).get(f"{V1}/me")
    assert response.status_code == 200
    body = response.json()
    assert body["username"] == "api-till" and body["role"] == "cashier"
    assert body["via"] == "token" and body["token_name"] == "till"
    assert "deposit" in body["capabilities"] and "adjust" not in body["capabilities"]


def test_session_auth_and_me(as_manager):
    body = as_manager.get(f"{V1}/me").json()
    assert body["username"] == "manu" and body["via"] == "session"
    assert body["open_shift_id"] is None


def test_revoked_token_stops_at_once(api_client, api_token, owner):
    token, plaintext = api_token("manager")
    client = api_client(token=plaintext)
    assert client.get(f"{V1}/customers").status_code == 200
    tokens.revoke_token(actor_for(owner), token)
    assert client.get(f"{V1}/customers").status_code == 401


def test_role_changes_and_disabling_count_on_the_next_token_request(api_client, api_token,
                                                                     owner):
    token, plaintext = api_token("voucher_seller")
    client = api_client(token=plaintext)
    assert client.get(f"{V1}/customers").status_code == 403  # a seller sees no customers
    accounts.set_staff_role(actor_for(owner), token.user, roles.CASHIER)
    assert client.get(f"{V1}/customers").status_code == 200
    assert client.get(f"{V1}/me").json()["role"] == "cashier"
    accounts.set_staff_role(actor_for(owner), token.user, roles.VOUCHER_SELLER)
    assert client.get(f"{V1}/customers").status_code == 403
    token.user.groups.clear()  # no role group at all: nothing is allowed
    assert client.get(f"{V1}/me").status_code == 403
    token.user.groups.set([roles_group(roles.MANAGER)])
    assert client.get(f"{V1}/customers").status_code == 200
    accounts.set_staff_active(actor_for(owner), token.user, False)
    assert client.get(f"{V1}/customers").status_code == 401


def roles_group(name):
    from django.contrib.auth.models import Group

    return Group.objects.get(name=name)


def test_a_token_request_checks_its_token_and_role_without_a_query(api_client, api_token,
                                                                   make_customer,
                                                                   django_assert_num_queries):
    _token, plaintext = api_token("cashier")
    client = api_client(token=plaintext)
    customer = make_customer("ana")
    client.get(f"{V1}/customers/{customer.pk}")  # reads the token, records its first use
    # the token, its user and role groups are remembered by this process (until something
    # changes them, see test_api_tokens): only the customer and its balance are read
    with django_assert_num_queries(2):
        assert client.get(f"{V1}/customers/{customer.pk}").status_code == 200


@pytest.mark.parametrize("role,method,path,body,allowed", [
    ("voucher_seller", "POST", "/customers/{c}/deposits", {"amount_minor": 100}, False),
    ("voucher_seller", "GET", "/customers", None, False),
    ("voucher_seller", "POST", "/customers", {"username": "zed"}, False),
    ("cashier", "POST", "/customers/{c}/adjustments", {"amount_minor": 5, "reason": "x"},
     False),
    ("cashier", "POST", "/customers/{c}/deposits", {"amount_minor": 100}, True),
    ("cashier", "POST", "/customers/{c}/refunds", {"amount_minor": 100}, True),
    ("manager", "POST", "/customers/{c}/adjustments", {"amount_minor": 5, "reason": "x"},
     True),
    ("voucher_seller", "POST", "/shifts", {"opening_float_minor": 0}, True),
])
def test_role_capabilities(api_client, api_token, make_customer, role, method, path, body,
                           allowed):
    customer = make_customer()
    token, plaintext = api_token(role)
    ledger.open_shift(actor_for(token.user), 10_000) if role != "voucher_seller" else None
    client = api_client(token=plaintext)
    url = V1 + path.format(c=customer.pk)
    if method == "GET":
        response = client.get(url)
    else:
        # refunds need credit first
        if "refunds" in path:
            accounts.adjust(audit.SYSTEM, customer, 1000, "seed")
        response = client.post(url, body)
    if allowed:
        assert response.status_code in (200, 201), response.content
    else:
        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"
        assert "may not" in detail(response)


def test_every_operation_requires_a_capability_and_refuses_roles_without_it(
        api_client, api_token, make_customer):
    schema = api_client().get(f"{V1}/openapi.json").json()
    clients = {role: api_client(token=api_token(role)[1]) for role in roles.ROLES}
    anonymous = api_client()
    customer = make_customer()
    checked = 0
    for path, ops in schema["paths"].items():
        url = path.replace("{customer_id}", str(customer.pk)).replace("{shift_id}", "1")
        url = url.replace("{", "").replace("}", "")
        for method, op in ops.items():
            cap = op.get("x-capability")
            assert cap in roles.CAPABILITIES, f"{method} {path} declares no capability"
            assert anonymous.generic(method.upper(), url).status_code == 401, (method, path)
            for role in roles.ROLES:
                if role not in roles.CAPABILITIES[cap][1]:
                    response = clients[role].generic(method.upper(), url, "{}",
                                                     content_type="application/json")
                    assert response.status_code == 403, (role, method, path)
            checked += 1
    assert checked >= 15


def test_session_posts_need_the_csrf_token(manager, make_customer):
    customer = make_customer()
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    url = f"{V1}/customers/{customer.pk}/adjustments"
    body = '{"amount_minor": 100, "reason": "goodwill"}'
    refused = client.post(url, body, content_type="application/json")
    assert refused.status_code == 403
    assert "CSRF" in detail(refused)
    secret = _get_new_csrf_string()
    client.cookies["csrftoken"] = secret
    accepted = client.post(url, body, content_type="application/json",
                           headers={"X-CSRFToken": secret})
    assert accepted.status_code == 201, accepted.content
    # reading needs no CSRF token
    assert client.get(f"{V1}/customers").status_code == 200


def test_token_posts_need_no_csrf_token(api_token, make_customer):
    customer = make_customer()
    _token, plaintext = api_token("manager")
    client = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    response = client.post(f"{V1}/customers/{customer.pk}/adjustments",
                           '{"amount_minor": 100, "reason": "goodwill"}',
                           content_type="application/json")
    assert response.status_code == 201


# --- customers ----------------------------------------------------------------------------
def test_create_customer(as_cashier, cashier):
    response = as_cashier.post(f"{V1}/customers", {
        "username": "Alice", "password": "secret1", "pin": "1234", "full_name": "Alice A",
        "phone": "+221 77", "email": "alice@example.com", "price_group": "member",
        "card_uid": "04:a1:b2:c3",
    })
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["username"] == "Alice" and body["price_group"] == "member"
    assert body["card_uid"] == "04A1B2C3" and body["has_password"] and body["has_pin"]
    assert body["balance"]["amount_minor"] == 0 and body["balance"]["currency"] == "XOF"
    assert "password" not in body and "pin" not in body
    entry = AuditLog.objects.get(action="customer.create")
    assert entry.actor == cashier and entry.source == "api"
    customer = accounts.find_customer("alice")
    assert customer.check_password("secret1") and customer.check_pin("1234")


@pytest.mark.parametrize("payload,status,code", [
    ({"username": "taken"}, 400, "account_error"),
    ({"username": "TAKEN"}, 400, "account_error"),
    ({"username": "has space"}, 400, "account_error"),
    ({"username": ""}, 422, "validation_error"),
    ({}, 422, "validation_error"),
    ({"username": "bob", "email": "not-an-email"}, 400, "account_error"),
    ({"username": "bob", "price_group": "vip"}, 422, "validation_error"),
    ({"username": "bob", "pin": "12"}, 400, "account_error"),
    ({"username": "bob", "colour": "red"}, 422, "validation_error"),
    ({"username": "bob", "full_name": "x" * 151}, 422, "validation_error"),
    ({"username": "bob", "notes": "nul\x00byte"}, 422, "validation_error"),
])
def test_create_customer_refusals(as_cashier, make_customer, payload, status, code):
    make_customer("taken")
    response = as_cashier.post(f"{V1}/customers", payload)
    assert response.status_code == status, response.content
    assert response.json()["code"] == code
    detail(response)


def test_list_search_and_paginate_customers(as_cashier, make_customer):
    for name in ["anna", "bert", "carla", "dora", "emil"]:
        make_customer(name, full_name=f"{name.title()} Smith" if name != "emil" else "Emil X")
    make_customer("zoe", phone="555-0199", status="disabled")
    page = as_cashier.get(f"{V1}/customers", {"page_size": 2, "page": 2}).json()
    assert page["count"] == 6 and page["pages"] == 3 and page["page"] == 2
    assert [c["username"] for c in page["items"]] == ["carla", "dora"]
    found = as_cashier.get(f"{V1}/customers", {"q": "smith"}).json()
    assert [c["username"] for c in found["items"]] == ["anna", "bert", "carla", "dora"]
    assert as_cashier.get(f"{V1}/customers", {"q": "0199"}).json()["items"][0]["username"] \
        == "zoe"
    # phone numbers match whatever spacing was typed, as in the console
    assert [c["username"] for c in as_cashier.get(f"{V1}/customers",
                                                  {"q": "5550199"}).json()["items"]] == ["zoe"]
    disabled = as_cashier.get(f"{V1}/customers", {"status": "disabled"}).json()
    assert [c["username"] for c in disabled["items"]] == ["zoe"]
    beyond = as_cashier.get(f"{V1}/customers", {"page": 9}).json()
    assert beyond["items"] == [] and beyond["count"] == 6
    assert as_cashier.get(f"{V1}/customers", {"page_size": 201}).status_code == 422
    assert as_cashier.get(f"{V1}/customers", {"page": 0}).status_code == 422


def test_list_shows_each_balance(as_cashier, make_customer):
    rich = make_customer("rich")
    make_customer("poor")
    accounts.adjust(audit.SYSTEM, rich, 700, "gift")
    items = as_cashier.get(f"{V1}/customers").json()["items"]
    assert {c["username"]: c["balance"]["amount_minor"] for c in items} == {"poor": 0, "rich": 700}


def test_get_customer_and_404(as_cashier, make_customer):
    customer = make_customer("ana")
    assert as_cashier.get(f"{V1}/customers/{customer.pk}").json()["username"] == "ana"
    missing = as_cashier.get(f"{V1}/customers/{customer.pk + 1000}")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    assert as_cashier.get(f"{V1}/customers/abc").status_code == 422
    assert as_cashier.get(f"{V1}/customers/{2**70}").status_code == 422


def test_patch_customer(as_cashier, make_customer, cashier):
    customer = make_customer("ana", phone="1")
    make_customer("bea")
    url = f"{V1}/customers/{customer.pk}"
    response = as_cashier.patch(url, {"full_name": "Ana Lima", "phone": None})
    assert response.status_code == 200
    assert response.json()["full_name"] == "Ana Lima" and response.json()["phone"] == ""
    entry = AuditLog.objects.filter(action="customer.update").latest("id")
    assert entry.actor == cashier and entry.after == {"full_name": "Ana Lima", "phone": ""}
    clash = as_cashier.patch(url, {"username": "BEA"})
    assert clash.status_code == 400 and "taken" in detail(clash)
    assert as_cashier.patch(url, {"username": None}).status_code == 400
    assert as_cashier.patch(url, {"status": "disabled"}).status_code == 422
    assert as_cashier.patch(url, {}).status_code == 200


def test_disable_enable_and_credentials(as_cashier, make_customer, open_shift):
    customer = make_customer("ana", password=None)
    base = f"{V1}/customers/{customer.pk}"
    assert as_cashier.post(f"{base}/disable").json()["status"] == "disabled"
    refused = as_cashier.post(f"{base}/deposits", {"amount_minor": 100})
    assert refused.status_code == 400 and "disabled" in detail(refused)
    assert as_cashier.post(f"{base}/enable").json()["status"] == "active"
    body = as_cashier.post(f"{base}/credentials", {"password": "open-sesame"}).json()
    assert body["has_password"] and not body["has_pin"]
    customer.refresh_from_db()
    assert customer.check_password("open-sesame")
    body = as_cashier.post(f"{base}/credentials", {"password": ""}).json()
    assert not body["has_password"]


# --- money --------------------------------------------------------------------------------
def test_deposit_balance_and_entries(as_cashier, make_customer, open_shift, cashier):
    customer = make_customer("ana")
    base = f"{V1}/customers/{customer.pk}"
    first = as_cashier.post(f"{base}/deposits", {"amount": "1500", "memo": "cash"})
    assert first.status_code == 201, first.content
    body = first.json()
    assert body["amount"] == {"amount_minor": 1500, "amount": "1500", "currency": "XOF",
                              "formatted": body["amount"]["formatted"]}
    assert body["balance"]["amount_minor"] == 1500 and body["shift_id"] == open_shift.pk
    tx = Transaction.objects.get(pk=body["transaction_id"])
    assert tx.staff == cashier and tx.source == "api" and tx.shift == open_shift
    assert as_cashier.post(f"{base}/deposits", {"amount_minor": 500}).status_code == 201
    assert as_cashier.post(f"{base}/refunds", {"amount_minor": 300}).status_code == 201
    balance = as_cashier.get(f"{base}/balance").json()
    assert balance["balance"]["amount_minor"] == 1700 == accounts.balance(customer)

    entries = as_cashier.get(f"{base}/entries", {"page_size": 2}).json()
    assert entries["count"] == 3 and entries["pages"] == 2
    assert [(e["kind"], e["amount"]["amount_minor"], e["balance_after"]["amount_minor"])
            for e in entries["items"]] == [("refund", -300, 1700), ("deposit", 500, 2000)]
    older = as_cashier.get(f"{base}/entries", {"page_size": 2, "page": 2}).json()["items"]
    assert [(e["kind"], e["balance_after"]["amount_minor"]) for e in older] == \
        [("deposit", 1500)]
    assert older[0]["staff"] == "cass" and older[0]["memo"] == "cash"


@pytest.mark.parametrize("payload,status,code", [
    ({"amount": "12.5"}, 400, "invalid_amount"),  # XOF has no decimals
    ({"amount": "abc"}, 400, "invalid_amount"),
    ({"amount": "-5"}, 400, "invalid_amount"),
    ({"amount_minor": -5}, 400, "invalid_amount"),
    ({"amount_minor": 0}, 400, "account_error"),
    ({"amount": 1500}, 422, "validation_error"),  # a JSON number is not the major form
    ({"amount_minor": 15.0}, 422, "validation_error"),  # floats never carry money
    ({"amount_minor": "1500"}, 422, "validation_error"),
    ({"amount_minor": True}, 422, "validation_error"),
    ({"amount_minor": 10**15}, 422, "validation_error"),
    ({"amount": "5", "amount_minor": 5}, 422, "validation_error"),
    ({}, 422, "validation_error"),
    ({"amount_minor": 5, "currency": "EUR"}, 400, "invalid_amount"),
    ({"amount_minor": 5, "currency": "XOF", "tip": 1}, 422, "validation_error"),
])
def test_deposit_refusals(as_cashier, make_customer, open_shift, payload, status, code):
    customer = make_customer()
    response = as_cashier.post(f"{V1}/customers/{customer.pk}/deposits", payload)
    assert response.status_code == status, response.content
    assert response.json()["code"] == code
    detail(response)
    assert accounts.balance(customer) == 0


def test_both_amount_forms_in_a_currency_with_decimals(as_cashier, cashier, make_customer):
    core_services.update_settings(audit.SYSTEM, currency_locked=False, currency="EUR")
    ledger.open_shift(actor_for(cashier), 0)
    customer = make_customer()
    url = f"{V1}/customers/{customer.pk}/deposits"
    body = as_cashier.post(url, {"amount": "12.50"}).json()
    assert body["amount"]["amount_minor"] == 1250 and body["amount"]["amount"] == "12.50"
    assert body["amount"]["currency"] == "EUR"
    body = as_cashier.post(url, {"amount_minor": 1250, "currency": "EUR"}).json()
    assert body["balance"] == {"amount_minor": 2500, "amount": "25.00", "currency": "EUR",
                               "formatted": "€25.00"}
    assert as_cashier.post(url, {"amount": "1.005"}).status_code == 400
    assert as_cashier.post(url, {"amount_minor": 1, "currency": "XOF"}).status_code == 400


def test_deposit_needs_an_open_shift(as_cashier, make_customer):
    customer = make_customer()
    response = as_cashier.post(f"{V1}/customers/{customer.pk}/deposits", {"amount_minor": 100})
    assert response.status_code == 409
    assert response.json()["code"] == "no_open_shift" and "shift" in detail(response)


def test_refund_cannot_exceed_credit(as_cashier, make_customer, open_shift):
    customer = make_customer()
    accounts.deposit(actor_for(open_shift.opened_by), customer, 200)
    response = as_cashier.post(f"{V1}/customers/{customer.pk}/refunds", {"amount_minor": 201})
    assert response.status_code == 400 and "credit" in detail(response)
    assert accounts.balance(customer) == 200


def test_adjustments(as_manager, make_customer, manager):
    customer = make_customer()
    url = f"{V1}/customers/{customer.pk}/adjustments"
    body = as_manager.post(url, {"amount_minor": 500, "reason": "loyalty gift"}).json()
    assert body["amount"]["amount_minor"] == 500 and body["balance"]["amount_minor"] == 500
    body = as_manager.post(url, {"amount": "-200", "reason": "double charge"}).json()
    assert body["amount"]["amount_minor"] == -200 and body["balance"]["amount_minor"] == 300
    assert AuditLog.objects.filter(action="customer.adjust", actor=manager).count() == 2
    no_reason = as_manager.post(url, {"amount_minor": 5, "reason": "  "})
    assert no_reason.status_code == 400 and "why" in detail(no_reason)
    assert as_manager.post(url, {"amount_minor": 5}).status_code == 422
    negative = as_manager.post(url, {"amount_minor": -301, "reason": "too much"})
    assert negative.status_code == 400 and "negative" in detail(negative)
    assert accounts.balance(customer) == 300


# --- shifts -------------------------------------------------------------------------------
def test_shift_lifecycle(as_cashier, make_customer, cashier):
    assert as_cashier.get(f"{V1}/shifts/current").status_code == 404
    opened = as_cashier.post(f"{V1}/shifts", {"opening_float": "10000"})
    assert opened.status_code == 201, opened.content
    shift = opened.json()
    assert shift["is_open"] and shift["opening_float"]["amount_minor"] == 10_000
    again = as_cashier.post(f"{V1}/shifts", {"opening_float_minor": 0})
    assert again.status_code == 409 and "already" in detail(again)

    customer = make_customer()
    as_cashier.post(f"{V1}/customers/{customer.pk}/deposits", {"amount_minor": 2500})
    current = as_cashier.get(f"{V1}/shifts/current").json()
    assert current["id"] == shift["id"] and current["cash_in_drawer"]["amount_minor"] == 12_500

    closed = as_cashier.post(f"{V1}/shifts/current/close",
                             {"counted_minor": 12_400, "note": "one coin short"})
    assert closed.status_code == 200, closed.content
    body = closed.json()
    assert not body["is_open"] and body["closed_by"] == "cass"
    assert body["expected"]["amount_minor"] == 12_500
    assert body["counted"]["amount_minor"] == 12_400
    assert body["variance"]["amount_minor"] == -100
    assert Shift.objects.get(pk=shift["id"]).variance == -100
    assert as_cashier.get(f"{V1}/shifts/current").status_code == 404
    assert as_cashier.post(f"{V1}/shifts/current/close", {"counted_minor": 0}).status_code \
        == 404
    assert as_cashier.get(f"{V1}/shifts/{shift['id']}").json()["variance"]["amount_minor"] \
        == -100


def test_shift_refusals(as_cashier):
    assert as_cashier.post(f"{V1}/shifts", {"opening_float_minor": -1}).status_code == 400
    assert as_cashier.post(f"{V1}/shifts", {}).status_code == 422
    as_cashier.post(f"{V1}/shifts", {"opening_float_minor": 0})
    negative = as_cashier.post(f"{V1}/shifts/current/close", {"counted": "-3"})
    assert negative.status_code == 400
    assert as_cashier.get(f"{V1}/shifts/current").json()["is_open"]


def test_shift_lists_are_scoped_by_role(api_client, cashier, manager, seller):
    own = ledger.open_shift(actor_for(cashier), 100)
    other = ledger.open_shift(actor_for(seller), 0)
    ledger.close_shift(actor_for(seller), other, 0)
    as_cashier = api_client(user=cashier)
    listing = as_cashier.get(f"{V1}/shifts").json()
    assert [s["id"] for s in listing["items"]] == [own.pk]
    assert as_cashier.get(f"{V1}/shifts/{other.pk}").status_code == 404
    as_manager = api_client(user=manager)
    assert {s["id"] for s in as_manager.get(f"{V1}/shifts").json()["items"]} == \
        {own.pk, other.pk}
    assert as_manager.get(f"{V1}/shifts/{other.pk}").status_code == 200
    open_only = as_manager.get(f"{V1}/shifts", {"open": "true"}).json()["items"]
    assert [s["id"] for s in open_only] == [own.pk]
    by_staff = as_manager.get(f"{V1}/shifts", {"staff": "SELA"}).json()["items"]
    assert [s["id"] for s in by_staff] == [other.pk]


# --- errors and documents -----------------------------------------------------------------
def test_errors_are_json(as_cashier):
    unknown = as_cashier.get(f"{V1}/nowhere")
    assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"
    wrong_method = as_cashier.generic("DELETE", f"{V1}/customers")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["code"] == "method_not_allowed"
    assert "GET" in wrong_method["Allow"]
    garbage = as_cashier.post(f"{V1}/customers", b"{not json")
    assert garbage.status_code == 400 and garbage.json()["code"] == "invalid_json"
    listish = as_cashier.post(f"{V1}/customers", [1, 2])
    assert listish.status_code == 422
    body = listish.json()
    assert body["errors"] and isinstance(body["detail"], str)


def test_validation_errors_name_the_field(as_cashier, make_customer, open_shift):
    customer = make_customer()
    response = as_cashier.post(f"{V1}/customers/{customer.pk}/deposits",
                               {"amount_minor": "ten"})
    body = response.json()
    assert body["detail"].startswith("amount_minor: ")
    assert body["errors"][0]["field"] == "amount_minor"


def test_openapi_document_lists_the_endpoints(api_client):
    response = api_client().get(f"{V1}/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    paths = schema["paths"]
    expected = {
        ("/api/v1/customers", "get"), ("/api/v1/customers", "post"),
        ("/api/v1/customers/{customer_id}", "get"), ("/api/v1/customers/{customer_id}", "patch"),
        ("/api/v1/customers/{customer_id}/disable", "post"),
        ("/api/v1/customers/{customer_id}/enable", "post"),
        ("/api/v1/customers/{customer_id}/balance", "get"),
        ("/api/v1/customers/{customer_id}/deposits", "post"),
        ("/api/v1/customers/{customer_id}/refunds", "post"),
        ("/api/v1/customers/{customer_id}/adjustments", "post"),
        ("/api/v1/customers/{customer_id}/entries", "get"),
        ("/api/v1/shifts", "get"), ("/api/v1/shifts", "post"),
        ("/api/v1/shifts/current", "get"), ("/api/v1/shifts/current/close", "post"),
        ("/api/v1/shifts/{shift_id}", "get"), ("/api/v1/me", "get"),
    }
    present = {(p, m) for p, ops in paths.items() for m in ops}
    assert expected <= present
    deposit = paths["/api/v1/customers/{customer_id}/deposits"]["post"]
    assert deposit["x-capability"] == "deposit"
    assert {"ApiTokenAuth": ["deposit"]} in deposit["security"]
    assert any(p["name"] == "Idempotency-Key" for p in deposit["parameters"])
    assert {"ApiTokenAuth", "StaffSessionAuth"} <= set(schema["components"]["securitySchemes"])


def test_openapi_document_lists_422_on_every_operation(api_client):
    """Every operation answers 422 to a body or query that does not fit (an unknown query
    parameter included, even where it takes none): the document says so, so generated
    clients and schema checkers expect it."""
    paths = api_client().get(f"{V1}/openapi.json").json()["paths"]
    missing = [(path, method) for path, ops in paths.items() for method, op in ops.items()
               if "422" not in op["responses"]]
    assert not missing


def test_docs_page_is_served_without_a_cdn(api_client):
    response = api_client().get(f"{V1}/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower() and "https://" not in html
