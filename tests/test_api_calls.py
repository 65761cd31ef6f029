"""/api/v1/calls: the PBX authorizes and ends booth calls (thin door over the services)."""

from __future__ import annotations

import pytest

from ficha.accounts import services as accounts
from ficha.core import roles
from ficha.ledger.models import Transaction

from .pbx_support import give_credit, make_booth, make_deck, open_booth

AUTH = "/api/v1/calls/authorize"


@pytest.fixture
def pbx(api_client, api_token):
    return api_client(token=api_token(roles.PBX)[1])


@pytest.fixture
def shop(db, make_customer):
    make_deck()
    make_booth("booth1", accountcode="B1")
    alice = make_customer("alice")
    give_credit(alice, 1000)
    return alice


def test_authorize_and_end_a_prepaid_call(pbx, shop):
    r = pbx.post(AUTH, {"booth": "booth1", "number": "0033140000000", "account": "alice",
                        "call_id": "1733130000.17"})
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["allowed"] is True and body["max_seconds"] == 600
    assert body["rate"]["destination"] == "France" and body["rate"]["billing"] == "60/60"
    assert body["rate"]["price_per_minute"] == "100"
    assert body["reserved"]["amount_minor"] == 1000
    call_id = body["id"]
    r = pbx.post(f"/api/v1/calls/{call_id}/end", {"billsec": 61})
    assert r.status_code == 200, r.content
    assert r.json()["cost"]["amount_minor"] == 200 and r.json()["debited"] is True
    again = pbx.post(f"/api/v1/calls/{call_id}/end", {"billsec": 61})
    assert again.status_code == 200 and again.json()["repeated"] is True
    assert again.json()["debited"] is True  # the first end's debit, not a new one
    assert accounts.balance(shop) == 800
    assert Transaction.objects.filter(kind="callshop.call").count() == 1
    got = pbx.get(f"/api/v1/calls/{call_id}")
    assert got.status_code == 200 and got.json()["state"] == "ended"


def test_a_refusal_is_an_answer_with_the_reason(pbx, shop):
    r = pbx.post(AUTH, {"booth": "booth1", "number": "0033140000000"})
    assert r.status_code == 200
    body = r.json()
    assert body["allowed"] is False and body["reason"] == "no_payer"
    assert body["max_seconds"] == 0 and "not open" in body["message"]


def test_postpaid_booth_session(pbx, shop):
    from ficha.callshop.models import Booth

    open_booth(Booth.objects.get(name="booth1"))
    body = pbx.post(AUTH, {"booth": "B1", "number": "+33 1 40 00 00 00"}).json()
    assert body["allowed"] and body["postpaid"] and body["credit"] is None
    end = pbx.post(f"/api/v1/calls/{body['id']}/end", {"billsec": 0}).json()
    assert end["cost"]["amount_minor"] == 0 and end["session_id"] is not None


@pytest.mark.parametrize("payload,status,field", [
    ({"number": "0033140000000"}, 422, "booth"),
    ({"booth": "booth1"}, 422, "number"),
    ({"booth": "booth1", "number": "0033", "pin": "1234", "account": "alice"}, 422, ""),
    ({"booth": "booth1", "number": "0033", "account_pin": "1234"}, 422, ""),
    ({"booth": "booth1", "number": "0033", "colour": "red"}, 422, "colour"),
    ({"booth": "booth1", "number": "x" * 81}, 422, "number"),
    ({"booth": "nowhere", "number": "0033140000000"}, 404, ""),
])
def test_bad_authorize_requests_are_4xx_with_a_message(pbx, shop, payload, status, field):
    r = pbx.post(AUTH, payload)
    assert r.status_code == status, r.content
    assert r.json()["detail"]
    if field:
        assert r.json()["errors"][0]["field"] == field


@pytest.mark.parametrize("payload", [{}, {"billsec": -1}, {"billsec": 1.5}, {"billsec": "60"},
                                     {"billsec": 10**9}, {"billsec": 60, "x": 1}])
def test_bad_end_requests_are_422(pbx, shop, payload):
    call_id = pbx.post(AUTH, {"booth": "booth1", "number": "0033140000000",
                              "account": "alice"}).json()["id"]
    r = pbx.post(f"/api/v1/calls/{call_id}/end", payload)
    assert r.status_code == 422 and r.json()["detail"]


def test_unknown_or_refused_calls_cannot_be_ended(pbx, shop):
    assert pbx.post("/api/v1/calls/999999/end", {"billsec": 1}).status_code == 404
    assert pbx.post("/api/v1/calls/0/end", {"billsec": 1}).status_code == 422
    refused = pbx.post(AUTH, {"booth": "booth1", "number": "0033140000000"}).json()
    r = pbx.post(f"/api/v1/calls/{refused['id']}/end", {"billsec": 1})
    assert r.status_code == 409 and r.json()["code"] == "rejected"


def test_idempotency_key_replays_the_authorization(pbx, shop):
    payload = {"booth": "booth1", "number": "0033140000000", "account": "alice"}
    first = pbx.post(AUTH, payload, key="k-1")
    second = pbx.post(AUTH, payload, key="k-1")
    assert second["Idempotent-Replayed"] == "true"
    assert first.json() == second.json()
    from ficha.callshop.models import Call

    assert Call.objects.count() == 1


@pytest.mark.parametrize("role", [roles.CASHIER, roles.VOUCHER_SELLER, roles.MANAGER])
def test_only_the_pbx_role_and_the_owner_may_call(api_client, api_token, shop, role):
    client = api_client(token=api_token(role)[1])
    r = client.post(AUTH, {"booth": "booth1", "number": "0033140000000"})
    assert r.status_code == 403


def test_the_pbx_token_can_do_nothing_else(pbx, shop):
    assert pbx.get("/api/v1/customers").status_code == 403
    assert pbx.get("/api/v1/me").status_code == 403
