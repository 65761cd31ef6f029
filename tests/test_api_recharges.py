"""The recharges and alerts API: batches, list, sale, unsale, delete, void, redemption,
printouts, CSV export, alerts; refusals, the role matrix, idempotency and throttling."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ficha.accounts import services as accounts
from ficha.core import audit, clock, codes, throttle
from ficha.core import services as core_services
from ficha.core.models import Alert, AuditLog
from ficha.ledger import services as ledger
from ficha.ledger.models import Transaction
from ficha.recharges import services as rs
from ficha.recharges.models import Batch, Recharge

from .conftest import actor_for
from .recharges_support import assert_books_balanced
from .test_api_fuzz import bent, bodies, queries, scalars, texts
from .test_printing import read_pdf

V1 = "/api/v1"
S = Recharge.Status
T0 = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


def detail(response) -> str:
    body = response.json()
    assert isinstance(body["detail"], str) and body["detail"]
    return body["detail"]


def code_of(response) -> str:
    return response.json()["code"]



@pytest.fixture
def batch(office):
    return rs.generate(office, count=10, amount=500, label="B500")


@pytest.fixture
def as_owner(api_client, owner):
    return api_client(user=owner)


@pytest.fixture
def as_manager(api_client, manager):
    return api_client(user=manager)


@pytest.fixture
def as_cashier(api_client, cashier):
    return api_client(user=cashier)


@pytest.fixture
def as_seller(api_client, seller):
    return api_client(user=seller)



def rows(batch, status=None) -> list[Recharge]:
    qs = batch.recharges.order_by("id")
    return list(qs.filter(status=status) if status else qs)


def sold_code(batch, desk) -> Recharge:
    row = rows(batch, S.UNSOLD)[0]
    rs.sell(desk, [row])
    row.refresh_from_db()
    return row


# --- batches ------------------------------------------------------------------------------
def test_generate_a_batch(as_manager, manager):
    response = as_manager.post(f"{V1}/recharges/batches",
                               {"count": 25, "amount": "1000", "label": "Week 48",
                                "valid_days": 30})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["label"] == "Week 48" and body["count"] == 25
    assert body["amount"]["amount_minor"] == 1000 and body["amount"]["currency"] == "XOF"
    assert body["counts"] == {"unsold": 25, "sold": 0, "used": 0, "expired": 0, "void": 0,
                              "deleted": 0}
    assert body["valid_days"] == 30 and body["created_by"] == "manu"
    expires = dt.datetime.fromisoformat(body["expires_at"])
    assert 29 <= (expires - clock.now()).days <= 31
    batch = Batch.objects.get(pk=body["id"])
    assert batch.recharges.count() == 25
    log = AuditLog.objects.get(action="recharges.generate")
    assert log.source == "api" and log.actor == manager


def test_generate_with_a_date_and_minor_units(as_owner):
    day = (clock.now() + dt.timedelta(days=10)).date()
    response = as_owner.post(f"{V1}/recharges/batches",
                             {"count": 2, "amount_minor": 300, "expires_at": day.isoformat()})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["amount"]["amount_minor"] == 300 and body["valid_days"] is None
    assert rs.local_time(dt.datetime.fromisoformat(body["expires_at"])).date() == day
    assert body["label"].endswith(f"-{body['id']}")  # default label


@pytest.mark.parametrize("payload,status,code,words", [
    ({"count": 5, "amount": "500", "valid_days": 7, "expires_at": "2030-01-01"}, 400,
     "recharge_error", "not both"),
    ({"count": 5, "amount": "500", "expires_at": "2001-01-01"}, 400, "recharge_error",
     "past"),
    ({"count": 5, "amount": "0"}, 400, "recharge_error", "more than zero"),
    ({"count": 5, "amount": "12.5"}, 400, "invalid_amount", ""),
    ({"count": 5, "amount": "500", "label": "B500"}, 400, "recharge_error", "B500"),
    ({"count": 0, "amount": "500"}, 422, "validation_error", "count"),
    ({"count": 100_001, "amount": "500"}, 422, "validation_error", "count"),
    ({"count": "5", "amount": "500"}, 422, "validation_error", "count"),
    ({"count": 5}, 422, "validation_error", "amount"),
    ({"count": 5, "amount": 500}, 422, "validation_error", "amount"),
    ({"count": 5, "amount": "500", "amount_minor": 500}, 422, "validation_error", "amount"),
    ({"count": 5, "amount": "500", "valid_days": 0}, 422, "validation_error", "valid_days"),
    ({"count": 5, "amount": "500", "expires_at": "9999-12-31"}, 422, "validation_error",
     "1 to 3650 days"),
    ({"count": 5, "amount": "500", "colour": "red"}, 422, "validation_error", "colour"),
])
def test_generate_refusals(as_owner, batch, payload, status, code, words):
    response = as_owner.post(f"{V1}/recharges/batches", payload)
    assert response.status_code == status, response.content
    assert code_of(response) == code
    assert words in detail(response)
    assert Batch.objects.count() == 1  # only the fixture's


def test_list_and_get_batches(as_seller, office, batch, desk):
    other = rs.generate(office, count=3, amount=200, label="Small")
    rs.sell(desk, rows(batch)[:4])
    body = as_seller.get(f"{V1}/recharges/batches").json()
    assert body["count"] == 2 and [b["label"] for b in body["items"]] == ["Small", "B500"]
    b500 = body["items"][1]
    assert b500["counts"]["unsold"] == 6 and b500["counts"]["sold"] == 4
    assert as_seller.get(f"{V1}/recharges/batches", {"q": "sma"}).json()["count"] == 1
    one = as_seller.get(f"{V1}/recharges/batches/{other.pk}")
    assert one.status_code == 200 and one.json()["counts"]["unsold"] == 3
    missing = as_seller.get(f"{V1}/recharges/batches/999999")
    assert missing.status_code == 404 and "999999" in detail(missing)


# --- list, get ----------------------------------------------------------------------------
def test_list_filters_pagination_and_totals(as_seller, office, batch, desk, make_customer):
    cheap = rs.generate(office, count=4, amount=200, label="Cheap")
    sold = rows(batch)[:3]
    rs.sell(desk, sold)
    rs.redeem(sold[0].code, customer=make_customer("ana"),
              source=rs.Source(ip="10.9.9.9"))
    body = as_seller.get(f"{V1}/recharges", {"page_size": 5}).json()
    assert body["count"] == 14 and body["pages"] == 3 and len(body["items"]) == 5
    totals = body["totals"]
    assert totals["unsold"]["count"] == 11
    assert totals["sold"]["count"] == 2
    assert totals["sold"]["value"]["amount_minor"] == 1000
    assert totals["used"]["count"] == 1
    assert totals["outstanding"]["count"] == 2
    assert totals["outstanding"]["value"]["amount_minor"] == 1000
    assert totals["total"]["value"]["amount_minor"] == 10 * 500 + 4 * 200
    # several statuses, a batch by label, totals follow the filter
    url = f"{V1}/recharges?" + urlencode([("status", "sold"), ("status", "used"),
                                          ("batch", "B500")])
    filtered = as_seller.get(url).json()
    assert filtered["count"] == 3
    assert {r["status"] for r in filtered["items"]} == {"sold", "used"}
    assert filtered["totals"]["unsold"]["count"] == 0
    assert filtered["totals"]["outstanding"]["count"] == 2
    used = filtered["items"][-1]
    assert used["status"] == "used" and used["used_by"]["username"] == "ana"
    assert used["sold_by"] == "cass" and used["sale_price"]["amount_minor"] == 500
    # amount in major or minor units, by batch id, code prefix as typed
    assert as_seller.get(f"{V1}/recharges", {"amount": "200"}).json()["count"] == 4
    assert as_seller.get(f"{V1}/recharges", {"amount_minor": 500}).json()["count"] == 10
    assert as_seller.get(f"{V1}/recharges", {"batch": cheap.pk}).json()["count"] == 4
    target = rows(cheap)[2].code
    prefix = codes.group(target)[:6]  # "1234 5"
    found = as_seller.get(f"{V1}/recharges", {"code": prefix}).json()["items"]
    assert target in [r["code"] for r in found]
    # a "prefix" without a digit would match every code: refused, not ignored
    for typed in ("abc", "-", "\u200b", "\x00"):
        response = as_seller.get(f"{V1}/recharges", {"code": typed})
        assert response.status_code == 422 and detail(response).startswith("code:"), typed
    # sold today, ordered by amount
    today = rs.local_time(clock.now()).date().isoformat()
    by_day = as_seller.get(f"{V1}/recharges", {"sold_from": today, "sold_to": today,
                                               "order": "-amount"}).json()
    assert by_day["count"] == 3
    assert as_seller.get(f"{V1}/recharges", {"sold_to": "2000-01-01"}).json()["count"] == 0
    ordered = as_seller.get(f"{V1}/recharges", {"order": "amount"}).json()["items"]
    assert [r["amount"]["amount_minor"] for r in ordered][:4] == [200] * 4


@pytest.mark.parametrize("query,field", [
    ({"status": "lost"}, "status"), ({"order": "price"}, "order"),
    ({"sold_from": "yesterday"}, "sold_from"), ({"page_size": 500}, "page_size"),
    ({"sold_to": "9999-12-31"}, "sold_to"), ({"used_from": "0001-01-01T00:00+12:00"},
                                               "used_from"),
    ({"created_to": "9999-12-31"}, "created_to"),
    ({"amount_minor": "5.5"}, "amount_minor"),
])
def test_list_refuses_bad_filters(as_seller, query, field):
    response = as_seller.get(f"{V1}/recharges", query)
    assert response.status_code == 422
    assert field in response.json()["errors"][0]["field"]  # list fields: "filters.status.0"


def test_list_amount_in_both_forms_is_refused(as_seller):
    response = as_seller.get(f"{V1}/recharges", {"amount": "5", "amount_minor": 5})
    assert response.status_code == 400 and "not both" in detail(response)


def test_get_a_recharge_by_its_code_as_typed(as_seller, batch):
    row = rows(batch)[0]
    for typed in (row.code, codes.group(row.code), f"{row.code[:4]}-{row.code[4:]}"):
        response = as_seller.get(f"{V1}/recharges/{quote(typed)}")
        assert response.status_code == 200, typed
        body = response.json()
        assert body["code"] == row.code and body["display_code"] == codes.group(row.code)
        assert body["status"] == "unsold" and body["batch"]["label"] == "B500"
        assert body["amount"]["amount_minor"] == 500 and body["sold_by"] is None
    missing = as_seller.get(f"{V1}/recharges/0000%200001")
    assert missing.status_code == 404 and code_of(missing) == "not_found"


# --- sale ---------------------------------------------------------------------------------
def test_sell_needs_an_open_shift(as_seller, batch):
    response = as_seller.post(f"{V1}/recharges/sell", {"codes": [rows(batch)[0].code]})
    assert response.status_code == 409 and code_of(response) == "no_open_shift"
    assert Recharge.objects.filter(status=S.SOLD).count() == 0


def test_seller_sells_codes_as_typed_and_ids(as_seller, seller, batch):
    ledger.open_shift(actor_for(seller), 0)
    first, second, third = rows(batch)[:3]
    response = as_seller.post(f"{V1}/recharges/sell",
                              {"codes": [codes.group(first.code), second.code],
                               "ids": [third.pk]})
    assert response.status_code == 200, response.content
    sale = response.json()
    assert sale["count"] == 3 and sale["payment_method"] == "cash"
    assert sale["paid"]["amount_minor"] == sale["face"]["amount_minor"] == 1500
    assert Transaction.objects.get(pk=sale["transaction_id"]).kind == "recharge.sale"
    for row in (first, second, third):
        row.refresh_from_db()
        assert row.status == S.SOLD and row.sold_by == seller and row.sale_price == 500
    assert ledger.balance(ledger.RECHARGE_LIABILITY) == 1500
    assert_books_balanced()


def test_sell_a_range_a_batch_and_at_a_price(as_cashier, desk, batch, office):
    ordered = rows(batch)
    response = as_cashier.post(f"{V1}/recharges/sell",
                               {"from": ordered[4].code, "to": ordered[2].code})
    assert response.json()["count"] == 3
    assert [r.status for r in rows(batch)[2:5]] == [S.SOLD] * 3
    response = as_cashier.post(f"{V1}/recharges/sell",
                               {"batch": "B500", "price": "450",
                                "payment_method": "mobile_money"})
    sale = response.json()
    assert (sale["count"], sale["paid"]["amount_minor"], sale["face"]["amount_minor"],
            sale["payment_method"]) == (7, 7 * 450, 7 * 500, "mobile_money")
    discounted = rows(batch)[0]
    assert discounted.sale_price == 450 and discounted.payment_method == "mobile_money"
    other = rs.generate(office, count=2, amount=100)
    response = as_cashier.post(f"{V1}/recharges/sell", {"batch": other.pk,
                                                        "price_minor": 100})
    assert response.json()["count"] == 2
    assert ledger.balance(ledger.RECHARGE_LIABILITY) == 10 * 500 + 2 * 100
    assert_books_balanced()


@pytest.mark.parametrize("payload,status,code,words", [
    ({}, 422, "validation_error", "Choose what to sell"),
    ({"ids": [1], "batch": "B500"}, 422, "validation_error", "Choose what to sell"),
    ({"from": "1234 5678"}, 422, "validation_error", "both from and to"),
    ({"ids": []}, 400, "recharge_error", "at least one"),
    ({"codes": ["9999 9999"]}, 404, "not_found", "9999 9999"),
    ({"batch": "Nope"}, 404, "not_found", "Nope"),
    ({"batch": "B500", "payment_method": "cheque"}, 422, "validation_error",
     "payment_method"),
    ({"batch": "B500", "price": "-1"}, 400, "invalid_amount", ""),
    ({"batch": "B500", "price": "1", "price_minor": 1}, 422, "validation_error", "not both"),
    ({"batch": "B500", "currency": "EUR"}, 400, "invalid_amount", "EUR"),
])
def test_sell_refusals(as_cashier, desk, batch, payload, status, code, words):
    if payload.get("currency"):
        payload = {**payload, "price": "500"}
    response = as_cashier.post(f"{V1}/recharges/sell", payload)
    assert response.status_code == status, response.content
    assert code_of(response) == code and words in detail(response)
    assert not Recharge.objects.filter(status=S.SOLD).exists()


def test_selling_what_cannot_be_sold_is_a_conflict(as_cashier, desk, batch):
    row = sold_code(batch, desk)
    response = as_cashier.post(f"{V1}/recharges/sell", {"codes": [row.code]})
    assert response.status_code == 409 and code_of(response) == "recharge_state"
    assert "unsold" in detail(response)
    ordered = rows(batch)
    response = as_cashier.post(f"{V1}/recharges/sell",
                               {"from": ordered[0].code, "to": "0000 0000"})
    assert response.status_code == 404


def test_sell_replayed_with_the_same_key_sells_once(as_cashier, desk, batch):
    payload = {"codes": [r.code for r in rows(batch)[:2]]}
    first = as_cashier.post(f"{V1}/recharges/sell", payload, key="sale-1")
    again = as_cashier.post(f"{V1}/recharges/sell", payload, key="sale-1")
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and first.json()["count"] == 2
    assert again["Idempotent-Replayed"] == "true"
    assert Transaction.objects.filter(kind="recharge.sale").count() == 1
    # the same key for another sale is refused, a new key sells
    other = as_cashier.post(f"{V1}/recharges/sell", {"codes": [rows(batch)[5].code]},
                            key="sale-1")
    assert other.status_code == 422 and code_of(other) == "idempotency_key_reused"
    # a refusal is final for its key too
    refused = as_cashier.post(f"{V1}/recharges/sell", payload, key="sale-2")
    assert refused.status_code == 409
    assert as_cashier.post(f"{V1}/recharges/sell", payload, key="sale-2").status_code == 409


# --- unsell, delete, void -----------------------------------------------------------------
def test_unsell_in_the_same_shift(as_cashier, desk, batch):
    row = sold_code(batch, desk)
    response = as_cashier.post(f"{V1}/recharges/unsell", {"codes": [codes.group(row.code)]})
    assert response.status_code == 200
    assert response.json()["count"] == 1
    assert response.json()["refund"]["amount_minor"] == row.sale_price
    row.refresh_from_db()
    assert row.status == S.UNSOLD and row.sold_by is None
    assert ledger.balance(ledger.RECHARGE_LIABILITY) == 0
    again = as_cashier.post(f"{V1}/recharges/unsell", {"ids": [row.pk]})
    assert again.status_code == 409 and code_of(again) == "recharge_state"
    assert "current shift" in detail(again)
    assert as_cashier.post(f"{V1}/recharges/unsell", {}).status_code == 422


def test_unsell_of_someone_elses_sale_is_refused(as_manager, manager, desk, batch):
    row = sold_code(batch, desk)
    no_shift = as_manager.post(f"{V1}/recharges/unsell", {"ids": [row.pk]})
    assert no_shift.status_code == 409 and code_of(no_shift) == "no_open_shift"
    ledger.open_shift(actor_for(manager), 0)
    response = as_manager.post(f"{V1}/recharges/unsell", {"ids": [row.pk]})
    assert response.status_code == 409 and code_of(response) == "recharge_state"
    row.refresh_from_db()
    assert row.status == S.SOLD


def test_delete_unsold_codes_only(as_manager, desk, batch):
    sold = sold_code(batch, desk)
    unsold = rows(batch, S.UNSOLD)
    response = as_manager.post(f"{V1}/recharges/delete",
                               {"codes": [sold.code, unsold[0].code], "ids": [unsold[1].pk]})
    assert response.json() == {"count": 2}
    assert Recharge.objects.filter(status=S.DELETED).count() == 2
    refused = as_manager.post(f"{V1}/recharges/delete", {"codes": [sold.code]})
    assert refused.status_code == 409 and code_of(refused) == "recharge_state"
    assert "void" in detail(refused)
    whole = as_manager.post(f"{V1}/recharges/delete", {"batch": batch.pk})
    assert whole.json() == {"count": 7}
    assert Recharge.objects.filter(status=S.DELETED).count() == 9
    sold.refresh_from_db()
    assert sold.status == S.SOLD
    assert as_manager.post(f"{V1}/recharges/delete", {"ids": [1], "batch": 1}).status_code == 422
    # a deleted code is still listed when asked for, and never by default
    assert as_manager.get(f"{V1}/recharges").json()["count"] == 1
    assert as_manager.get(f"{V1}/recharges", {"status": "deleted"}).json()["count"] == 9


def test_owner_voids_a_sold_code_with_a_reason(as_owner, owner, desk, batch):
    row = sold_code(batch, desk)
    url = f"{V1}/recharges/{quote(codes.group(row.code))}/void"
    no_reason = as_owner.post(url, {"reason": "  "})
    assert no_reason.status_code == 400 and "why" in detail(no_reason)
    no_shift = as_owner.post(url, {"reason": "card lost by the buyer"})
    assert no_shift.status_code == 409 and code_of(no_shift) == "no_open_shift"
    ledger.open_shift(actor_for(owner), 5_000)
    response = as_owner.post(url, {"reason": "card lost by the buyer"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "void" and body["void_reason"] == "card lost by the buyer"
    assert body["voided_by"] == "olga"
    assert ledger.balance(ledger.RECHARGE_LIABILITY) == 0
    again = as_owner.post(url, {"reason": "twice"})
    assert again.status_code == 409 and "already void" in detail(again)
    unsold = rows(batch, S.UNSOLD)[0]
    refused = as_owner.post(f"{V1}/recharges/{unsold.code}/void", {"reason": "x"})
    assert refused.status_code == 409 and "delete it instead" in detail(refused)
    missing = as_owner.post(f"{V1}/recharges/00000000/void", {"reason": "x"})
    assert missing.status_code == 404
    assert_books_balanced()


def test_a_used_code_is_never_voided(as_owner, owner, desk, batch, make_customer):
    row = sold_code(batch, desk)
    rs.redeem(row.code, customer=make_customer(), source=rs.Source(ip="10.2.2.2"))
    ledger.open_shift(actor_for(owner), 0)
    response = as_owner.post(f"{V1}/recharges/{row.code}/void", {"reason": "x"})
    assert response.status_code == 409 and "used code" in detail(response)


# --- redemption ---------------------------------------------------------------------------
def test_staff_redeems_a_code_for_a_customer(as_cashier, cashier, desk, batch, make_customer):
    customer = make_customer("awa")
    accounts.adjust(audit.SYSTEM, customer, 200, "seed")
    row = sold_code(batch, desk)
    response = as_cashier.post(f"{V1}/recharges/redeem",
                               {"code": codes.group(row.code), "customer_id": customer.pk})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["amount"]["amount_minor"] == 500 and body["balance"]["amount_minor"] == 700
    assert body["customer"] == {"id": customer.pk, "username": "awa"}
    assert body["code"] == row.code and body["transaction_id"]
    row.refresh_from_db()
    assert row.status == S.USED and row.used_by == customer and row.used_door == "api"
    log = AuditLog.objects.get(action="recharges.redeem")
    assert log.actor == cashier and log.source == "api"
    assert_books_balanced()


def test_redeem_by_username_and_unknown_customer(as_cashier, desk, batch, make_customer):
    make_customer("Binta")
    row = sold_code(batch, desk)
    missing = as_cashier.post(f"{V1}/recharges/redeem", {"code": row.code, "username": "x"})
    assert missing.status_code == 404 and code_of(missing) == "not_found"
    response = as_cashier.post(f"{V1}/recharges/redeem", {"code": row.code,
                                                          "username": "binta"})
    assert response.status_code == 200
    assert response.json()["customer"]["username"] == "Binta"
    for payload in ({"code": row.code}, {"code": row.code, "username": "binta",
                                         "customer_id": 1}):
        refused = as_cashier.post(f"{V1}/recharges/redeem", payload)
        assert refused.status_code == 422 and "customer_id or username" in detail(refused)


def test_unknown_and_unsold_codes_say_the_same(as_cashier, batch, make_customer):
    customer = make_customer()
    unsold = rows(batch)[0].code
    unknown = next(c for c in (f"{n:08d}" for n in range(10_000_000, 10_000_100))
                   if not Recharge.objects.filter(code=c).exists())
    answers = []
    for code in (unknown, unsold):
        response = as_cashier.post(f"{V1}/recharges/redeem",
                                   {"code": code, "customer_id": customer.pk})
        answers.append((response.status_code, response.json()))
    assert answers[0] == answers[1]
    status, body = answers[0]
    assert status == 400 and body["code"] == "invalid_code"
    assert body["detail"] == "Invalid code." and body["reason"] == "invalid"
    assert accounts.balance(customer) == 0
    # the unsold one raised a fraud alert naming the source
    alert = Alert.objects.get(kind="fraud")
    assert codes.group(unsold) in alert.message and "api" in alert.message


def test_expired_code_says_when(as_cashier, office, make_customer, cashier):
    core_services.update_settings(office, currency_locked=False, time_zone="Africa/Dakar")
    with clock.frozen(T0):
        b = rs.generate(office, count=1, amount=300, expires_at=dt.date(2026, 12, 1))
        ledger.open_shift(actor_for(cashier), 0)
        rs.sell(actor_for(cashier), b.recharges.all())
    code = b.recharges.get().code
    with clock.frozen(dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC)):
        response = as_cashier.post(f"{V1}/recharges/redeem",
                                   {"code": code, "customer_id": make_customer().pk})
    assert response.status_code == 410
    body = response.json()
    assert body["code"] == "code_expired" and body["reason"] == "expired"
    assert "01/12/2026" in body["detail"]  # the venue's date format, day first
    assert dt.datetime.fromisoformat(body["expired_at"]) == dt.datetime(
        2026, 12, 1, 23, 59, 59, tzinfo=dt.UTC)


def test_used_code_and_disabled_customer(as_cashier, desk, batch, make_customer):
    first, second = make_customer(), make_customer()
    row = sold_code(batch, desk)
    assert as_cashier.post(f"{V1}/recharges/redeem",
                           {"code": row.code, "customer_id": first.pk}).status_code == 200
    used = as_cashier.post(f"{V1}/recharges/redeem",
                           {"code": row.code, "customer_id": second.pk})
    assert used.status_code == 409 and code_of(used) == "code_used"
    assert "already been used" in detail(used)
    accounts.set_customer_status(audit.SYSTEM, second, False)
    other = sold_code(batch, desk)
    disabled = as_cashier.post(f"{V1}/recharges/redeem",
                               {"code": other.code, "customer_id": second.pk})
    assert disabled.status_code == 409 and code_of(disabled) == "customer_disabled"
    assert accounts.balance(second) == 0


@pytest.mark.parametrize("typed", ["123", "12345678901234", "abcd efgh", "  "])
def test_malformed_codes_cost_nothing(as_cashier, make_customer, batch, typed):
    response = as_cashier.post(f"{V1}/recharges/redeem",
                               {"code": typed, "customer_id": make_customer().pk})
    assert response.status_code == 400 and code_of(response) == "invalid_code_format"
    assert not throttle.retry_after("redeem", ["ip:127.0.0.1"])


def test_redeem_replayed_with_the_same_key_credits_once(as_cashier, desk, batch,
                                                        make_customer):
    customer = make_customer()
    row = sold_code(batch, desk)
    payload = {"code": row.code, "customer_id": customer.pk}
    first = as_cashier.post(f"{V1}/recharges/redeem", payload, key="redeem-7")
    again = as_cashier.post(f"{V1}/recharges/redeem", payload, key="redeem-7")
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert accounts.balance(customer) == 500
    assert Transaction.objects.filter(kind="recharge.redeem").count() == 1
    # without the key, a second try is a (correct) refusal, not a second credit
    assert as_cashier.post(f"{V1}/recharges/redeem", payload).status_code == 409
    assert accounts.balance(customer) == 500


def test_guessing_is_throttled_with_retry_after(as_cashier, desk, batch, make_customer):
    customer = make_customer("mallory")
    good = sold_code(batch, desk)
    guesses = (f"{n:08d}" for n in range(20_000_000, 20_001_000))
    statuses = []
    with clock.frozen(T0):
        for guess in guesses:
            if Recharge.objects.filter(code=guess).exists():
                continue
            response = as_cashier.post(f"{V1}/recharges/redeem",
                                       {"code": guess, "customer_id": customer.pk},
                                       key=f"guess-{guess}")
            statuses.append(response.status_code)
            if response.status_code == 429:
                break
        assert statuses[-1] == 429
        assert statuses[:-1] == [400] * (throttle.policy("redeem").free + 1)
        body = response.json()
        assert body["code"] == "throttled" and "Wait" in body["detail"]
        assert int(response["Retry-After"]) == body["retry_after"] >= 1
        # even the right code waits; the 429 is not stored, so the key can be retried
        right = {"code": good.code, "customer_id": customer.pk}
        locked = as_cashier.post(f"{V1}/recharges/redeem", right, key="right-one")
        assert locked.status_code == 429 and "Idempotent-Replayed" not in locked
    with clock.frozen(T0 + dt.timedelta(minutes=20)):  # within the staff idle timeout
        later = as_cashier.post(f"{V1}/recharges/redeem", right, key="right-one")
    assert later.status_code == 200, later.content
    assert accounts.balance(customer) == 500


# --- printouts and export -----------------------------------------------------------------
def test_batch_cards_pdf_has_every_printable_code(as_seller, desk, batch, office):
    rs.delete(office, rows(batch)[-1:])
    sold = sold_code(batch, desk)
    response = as_seller.get(f"{V1}/recharges/batches/{batch.pk}/cards.pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert 'filename="B500.pdf"' in response["Content-Disposition"]
    text = "\n".join(page.text for page in read_pdf(response.content))
    printable = rows(batch, S.UNSOLD) + [sold]
    assert len(printable) == 9
    for row in printable:
        assert codes.group(row.code) in text
    assert codes.group(rows(batch, S.DELETED)[0].code) not in text
    only_sold = as_seller.get(f"{V1}/recharges/batches/{batch.pk}/cards.pdf",
                              {"status": "sold"})
    text = "\n".join(page.text for page in read_pdf(only_sold.content))
    assert codes.group(sold.code) in text
    assert codes.group(rows(batch, S.UNSOLD)[0].code) not in text
    # a large batch in parts, in print order
    part = as_seller.get(f"{V1}/recharges/batches/{batch.pk}/cards.pdf",
                         {"offset": 2, "limit": 3})
    text = "\n".join(page.text for page in read_pdf(part.content))
    printed = [r for r in rows(batch) if r.status in (S.UNSOLD, S.SOLD)]
    assert [codes.group(r.code) in text for r in printed] == [False] * 2 + [True] * 3 + [
        False] * 4
    past_the_end = as_seller.get(f"{V1}/recharges/batches/{batch.pk}/cards.pdf",
                                 {"offset": 9})
    assert past_the_end.status_code == 404


def test_batch_tickets_escpos(as_seller, batch):
    response = as_seller.get(f"{V1}/recharges/batches/{batch.pk}/tickets.escpos",
                             {"width": "80"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    data = response.content
    assert data.startswith(b"\x1b@")
    for row in rows(batch):
        assert codes.group(row.code).encode() in data
        assert f"/recharge?code={row.code}".encode() in data  # the QR payload
    narrow = as_seller.get(f"{V1}/recharges/batches/{batch.pk}/tickets.escpos")
    assert narrow.status_code == 200 and narrow.content != data
    assert as_seller.get(f"{V1}/recharges/batches/{batch.pk}/tickets.escpos",
                         {"width": "70"}).status_code == 422


def test_print_selected_codes_and_nothing_to_print(as_seller, office, batch):
    chosen = rows(batch)[:2]
    query = urlencode([("code", codes.group(chosen[0].code)), ("id", chosen[1].pk)])
    pdf = as_seller.get(f"{V1}/recharges/cards.pdf?{query}")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    text = "\n".join(page.text for page in read_pdf(pdf.content))
    assert all(codes.group(r.code) in text for r in chosen)
    assert codes.group(rows(batch)[2].code) not in text
    tickets = as_seller.get(f"{V1}/recharges/tickets.escpos?{query}")
    assert tickets.status_code == 200 and codes.group(chosen[0].code).encode() in tickets.content
    assert as_seller.get(f"{V1}/recharges/cards.pdf").status_code == 400
    rs.delete(office, chosen)
    gone = as_seller.get(f"{V1}/recharges/cards.pdf?{query}")
    assert gone.status_code == 404 and "printed" in detail(gone)
    empty = rs.generate(office, count=1, amount=100)
    rs.delete(office, empty.recharges.all())
    nothing = as_seller.get(f"{V1}/recharges/batches/{empty.pk}/cards.pdf")
    assert nothing.status_code == 404 and "printable" in detail(nothing)


def test_qr_codes_point_to_the_public_portal(as_seller, batch, settings):
    settings.PUBLIC_URL = "https://wifi.example.sn"
    response = as_seller.get(f"{V1}/recharges/batches/{batch.pk}/tickets.escpos")
    row = rows(batch)[0]
    assert f"https://wifi.example.sn/recharge?code={row.code}".encode() in response.content


def test_export_csv(as_manager, manager, desk, batch, make_customer):
    sold = sold_code(batch, desk)
    rs.redeem(sold.code, customer=make_customer("awa"), source=rs.Source(ip="10.3.3.3"))
    response = as_manager.get(f"{V1}/recharges/export.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    table = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert table[0][:4] == ["code", "amount", "currency", "status"]
    assert len(table) == 11
    used = next(line for line in table if line[0] == sold.code)
    assert used[1:4] == ["500", "XOF", "used"] and used[7] == "cass" and used[-1] == "awa"
    only = as_manager.get(f"{V1}/recharges/export.csv", {"status": "used"})
    table = list(csv.reader(io.StringIO(b"".join(only.streaming_content).decode())))
    assert [line[0] for line in table[1:]] == [sold.code]
    log = AuditLog.objects.filter(action="recharges.export").order_by("id").last()
    assert log.actor == manager and log.after == {"filters": {"status": ["used"]},
                                                  "count": 1}


# --- alerts -------------------------------------------------------------------------------
def test_alerts_list_and_acknowledge(as_cashier, as_manager, manager, batch, make_customer):
    customer = make_customer()
    unsold = rows(batch)[:2]
    for row in unsold:
        as_cashier.post(f"{V1}/recharges/redeem", {"code": row.code,
                                                   "customer_id": customer.pk})
    body = as_manager.get(f"{V1}/alerts").json()
    assert body["count"] == 2
    first = body["items"][0]
    assert first["kind"] == "fraud" and first["kind_label"] == "Fraud"
    assert first["data"]["door"] == "api" and first["acknowledged_at"] is None
    assert as_manager.get(f"{V1}/alerts", {"kind": "bruteforce"}).json()["count"] == 0
    one = as_manager.get(f"{V1}/alerts/{first['id']}")
    assert one.status_code == 200 and one.json()["message"] == first["message"]
    response = as_manager.post(f"{V1}/alerts/{first['id']}/acknowledge",
                               {"note": "cards moved behind the counter"})
    assert response.status_code == 200
    done = response.json()
    assert done["acknowledged_by"] == "manu" and done["note"].startswith("cards")
    again = as_manager.post(f"{V1}/alerts/{first['id']}/acknowledge", {})
    assert again.status_code == 200 and again.json()["acknowledged_at"] == done["acknowledged_at"]
    assert as_manager.get(f"{V1}/alerts").json()["count"] == 1
    assert as_manager.get(f"{V1}/alerts", {"state": "acknowledged"}).json()["count"] == 1
    assert as_manager.get(f"{V1}/alerts", {"state": "all"}).json()["count"] == 2
    everything = as_manager.post(f"{V1}/alerts/acknowledge", {"kind": "fraud"})
    assert everything.json() == {"count": 1}
    assert as_manager.get(f"{V1}/alerts").json()["count"] == 0
    assert AuditLog.objects.filter(action="alert.acknowledge", actor=manager).count() == 2
    assert as_manager.post(f"{V1}/alerts/999999/acknowledge", {}).status_code == 404


# --- roles --------------------------------------------------------------------------------
ROLE_MATRIX = [
    # (operation, owner, manager, cashier, voucher seller)
    ("list", True, True, True, True),
    ("get", True, True, True, True),
    ("batches", True, True, True, True),
    ("sell", True, True, True, True),
    ("print", True, True, True, True),
    ("generate", True, True, False, False),
    ("unsell", True, True, True, False),
    ("delete", True, True, False, False),
    ("void", True, False, False, False),
    ("redeem", True, True, True, False),
    ("export", True, True, False, False),
    ("alerts", True, True, False, False),
    ("ack", True, True, False, False),
]


@pytest.mark.parametrize("op,owner_ok,manager_ok,cashier_ok,seller_ok", ROLE_MATRIX)
def test_role_matrix(api_client, api_token, office, make_customer, op, owner_ok, manager_ok,
                     cashier_ok, seller_ok):
    batch = rs.generate(office, count=4, amount=500, label="Matrix")
    customer = make_customer()
    for role, allowed in (("owner", owner_ok), ("manager", manager_ok),
                          ("cashier", cashier_ok), ("voucher_seller", seller_ok)):
        token, plaintext = api_token(role)
        who = actor_for(token.user)
        ledger.open_shift(who, 1_000)
        unsold = batch.recharges.filter(status=S.UNSOLD).order_by("id")
        row = unsold[0]
        if op in ("unsell", "void", "redeem"):
            rs.sell(who, [row])  # sold in this role's own shift
        alert = Alert.objects.create(kind="fraud", message="m")
        requests = {
            "list": ("GET", "/recharges", None),
            "get": ("GET", f"/recharges/{row.code}", None),
            "batches": ("GET", "/recharges/batches", None),
            "sell": ("POST", "/recharges/sell", {"ids": [row.pk]}),
            "print": ("GET", f"/recharges/batches/{batch.pk}/cards.pdf", None),
            "generate": ("POST", "/recharges/batches", {"count": 1, "amount": "100"}),
            "unsell": ("POST", "/recharges/unsell", {"ids": [row.pk]}),
            "delete": ("POST", "/recharges/delete", {"ids": [row.pk]}),
            "void": ("POST", f"/recharges/{row.code}/void", {"reason": "lost"}),
            "redeem": ("POST", "/recharges/redeem", {"code": row.code,
                                                     "customer_id": customer.pk}),
            "export": ("GET", "/recharges/export.csv", None),
            "alerts": ("GET", "/alerts", None),
            "ack": ("POST", f"/alerts/{alert.pk}/acknowledge", {}),
        }
        method, path, body = requests[op]
        client = api_client(token=plaintext)
        if method == "GET":
            response = client.get(V1 + path)
        else:
            response = client.post(V1 + path, body)
        if allowed:
            assert response.status_code in (200, 201), (role, op, response.content[:300])
        else:
            assert response.status_code == 403, (role, op, response.status_code)
            assert code_of(response) == "permission_denied" and "may not" in detail(response)
        shift = ledger.current_shift(token.user)
        ledger.close_shift(who, shift, ledger.shift_cash(shift))


def test_a_cashier_cannot_void_and_a_seller_cannot_redeem_for_others(
        as_cashier, as_seller, desk, batch, make_customer):
    row = sold_code(batch, desk)
    voided = as_cashier.post(f"{V1}/recharges/{row.code}/void", {"reason": "x"})
    assert voided.status_code == 403 and "Void sold recharges" in detail(voided)
    redeemed = as_seller.post(f"{V1}/recharges/redeem",
                              {"code": row.code, "customer_id": make_customer().pk})
    assert redeemed.status_code == 403
    row.refresh_from_db()
    assert row.status == S.SOLD


# --- documents and robustness -------------------------------------------------------------
def test_openapi_documents_every_recharge_and_alert_operation(api_client):
    schema = api_client().get(f"{V1}/openapi.json").json()
    expected = {
        ("/recharges/batches", "post"), ("/recharges/batches", "get"),
        ("/recharges/batches/{batch_id}", "get"),
        ("/recharges/batches/{batch_id}/cards.pdf", "get"),
        ("/recharges/batches/{batch_id}/tickets.escpos", "get"),
        ("/recharges", "get"), ("/recharges/{code}", "get"),
        ("/recharges/export.csv", "get"), ("/recharges/cards.pdf", "get"),
        ("/recharges/tickets.escpos", "get"),
        ("/recharges/sell", "post"), ("/recharges/unsell", "post"),
        ("/recharges/delete", "post"), ("/recharges/{code}/void", "post"),
        ("/recharges/redeem", "post"),
        ("/alerts", "get"), ("/alerts/{alert_id}", "get"),
        ("/alerts/{alert_id}/acknowledge", "post"), ("/alerts/acknowledge", "post"),
    }
    paths = schema["paths"]
    for path, method in expected:
        op = paths[V1 + path][method]
        assert op["summary"] and op["x-capability"], (path, method)
    redeem = paths[f"{V1}/recharges/redeem"]["post"]
    assert {"410", "429"} <= set(redeem["responses"])
    pdf = paths[f"{V1}/recharges/batches/{{batch_id}}/cards.pdf"]["get"]
    assert "application/pdf" in pdf["responses"]["200"]["content"]


VALID = {
    ("POST", "/recharges/batches"): {"count": 2, "amount": "100", "label": "fz"},
    ("POST", "/recharges/sell"): {"codes": ["CODE"], "payment_method": "cash"},
    ("POST", "/recharges/unsell"): {"ids": [1]},
    ("POST", "/recharges/delete"): {"codes": ["CODE"]},
    ("POST", "/recharges/redeem"): {"code": "CODE", "customer_id": 1},
    ("POST", "/void"): {"reason": "fuzz"},
    ("POST", "/acknowledge"): {"note": "n"},
}
EXTRA_FIELDS = ["count", "ids", "codes", "from", "to", "batch", "price", "price_minor",
                "payment_method", "code", "customer_id", "username", "reason", "note",
                "kind", "expires_at", "valid_days", "label"]
DATE_QUERY = ["sold_from", "sold_to", "used_from", "used_to", "created_from", "created_to"]
EXTRA_QUERY = ["status", "batch", "amount", "amount_minor", "code", "sold_from", "sold_to",
               "used_from", "used_to", "created_from", "created_to", "order", "id", "width",
               "state", "kind", "q", "page", "page_size"]


@pytest.mark.slow
def test_no_request_makes_the_recharge_api_fail(api_client, owner, office, make_customer):
    """The fuzz of tests/test_api_fuzz.py, aimed at real batches, codes and alerts."""
    ledger.open_shift(office, 10_000)
    batch = rs.generate(office, count=6, amount=500, label="Fuzz")
    live = list(batch.recharges.order_by("id"))
    rs.sell(office, live[:3])
    customer = make_customer("fuzz")
    alert = Alert.objects.create(kind="fraud", message="m")
    client = api_client(user=owner)
    schema = client.get(f"{V1}/openapi.json").json()
    operations = sorted((m.upper(), p) for p, ops in schema["paths"].items() for m in ops
                        if p.startswith((f"{V1}/recharges", f"{V1}/alerts")))
    assert len(operations) >= 19
    known = [r.code for r in live] + [codes.group(live[0].code)]
    code_values = st.one_of(st.sampled_from(known), texts)
    ids = st.one_of(st.sampled_from([str(batch.pk), str(alert.pk)]),
                    st.integers().map(str), texts)
    dates = st.one_of(
        st.sampled_from(["9999-12-31", "0001-01-01", "2026-01-01T00:00:00-12:00",
                         "0001-01-01T00:00+14:00", "2026-02-30", "20260101", "2026-W01"]),
        st.dates().map(dt.date.isoformat),
        st.datetimes(timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=-12)),
                                                dt.timezone(dt.timedelta(hours=14))]))
        .map(dt.datetime.isoformat))
    fields = st.sampled_from(EXTRA_FIELDS)
    values = st.one_of(scalars, dates, st.lists(st.one_of(st.sampled_from(known), scalars),
                                         max_size=3))

    def bend(valid):
        valid = json.loads(json.dumps(valid).replace("CODE", live[1].code)
                           .replace('"customer_id": 1', f'"customer_id": {customer.pk}'))
        return st.one_of(
            st.just(json.dumps(valid).encode()),
            bent(valid),
            st.lists(st.tuples(fields, values), max_size=3).map(
                lambda changes: json.dumps({**valid, **dict(changes)}).encode()),
        )

    @settings(max_examples=40, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(code=code_values, some_id=ids, data=st.data(),
           query=st.one_of(queries, st.lists(st.tuples(st.sampled_from(DATE_QUERY), dates),
                                             min_size=1, max_size=2),
                           st.lists(st.tuples(st.sampled_from(EXTRA_QUERY),
                                                       st.one_of(code_values, dates,
                                                                 texts)),
                                             max_size=4)))
    def run(op, code, some_id, data, query):
        method, template = op
        valid = next((body for (m, suffix), body in VALID.items()
                      if m == method and template.endswith(suffix)), {})
        body = data.draw(st.one_of(bodies, bend(valid)))
        path = template
        for name in ("{code}", "{batch_id}", "{alert_id}"):
            value = code if name == "{code}" else some_id
            path = path.replace(name, quote(value.encode("utf-8", "surrogatepass"), safe=""))
        qs = urlencode([(k.encode("utf-8", "surrogatepass"),
                         v.encode("utf-8", "surrogatepass")) for k, v in query])
        url = f"{path}?{qs}" if qs else path
        response = client.generic(method, url, body, content_type="application/json")
        assert response.status_code < 500, (method, url, body, response.content[:300])
        if response.status_code >= 400:
            assert detail(response)
        if getattr(response, "streaming", False):
            b"".join(response.streaming_content)

    for op in operations:  # each operation gets its own share of examples
        run(op)
    assert_books_balanced()


def test_a_printout_is_capped_at_the_consoles_part_size(as_seller, batch, monkeypatch):
    from ficha.recharges import printouts

    monkeypatch.setattr(printouts, "MAX_CARDS", 5)
    response = as_seller.get(f"{V1}/recharges/batches/{batch.pk}/cards.pdf")
    assert response.status_code == 422 and code_of(response) == "too_many_cards"
    assert "at most 5 cards" in detail(response)
    # the real number of cards asked for, not the cap plus one
    assert f"would have {len(rows(batch))}" in detail(response) and len(rows(batch)) > 6
    response = as_seller.get(f"{V1}/recharges/batches/{batch.pk}/cards.pdf", {"limit": 7})
    assert "would have 7;" in detail(response)
    ids = "&".join(f"id={r.pk}" for r in rows(batch)[:6])
    response = as_seller.get(f"{V1}/recharges/tickets.escpos?{ids}")
    assert response.status_code == 422 and "in parts" in detail(response)
    # within the cap, or printed in parts: fine
    part = as_seller.get(f"{V1}/recharges/batches/{batch.pk}/cards.pdf",
                         {"offset": 5, "limit": 5})
    assert part.status_code == 200
    ids = "&".join(f"id={r.pk}" for r in rows(batch)[:5])
    assert as_seller.get(f"{V1}/recharges/tickets.escpos?{ids}").status_code == 200


def test_codes_typed_in_another_script_work_at_the_api(as_cashier, desk, batch):
    row = rows(batch)[0]
    arabic = "".join(chr(0x660 + int(d)) for d in row.code)  # Arabic-Indic digits
    response = as_cashier.post(f"{V1}/recharges/sell", {"codes": [arabic[:4] + " " +
                                                                  arabic[4:]]})
    assert response.status_code == 200 and response.json()["count"] == 1
    got = as_cashier.get(f"{V1}/recharges/{arabic}")
    assert got.status_code == 200 and got.json()["code"] == row.code
