"""API: gateways, plans and open sessions of the hotspot."""

from __future__ import annotations

import pytest

from ficha.hotspot import services as hs
from ficha.hotspot.models import CoaJob, HotspotSession, Nas, Plan

from .hotspot_support import acct, give_credit, make_nas, make_plan, post_json

V1 = "/api/v1"


@pytest.fixture
def api(client, manager):
    client.force_login(manager)
    return client


post = post_json


def test_gateways_are_created_listed_and_changed_without_showing_the_secret(api):
    r = post(api, f"{V1}/hotspot/nas", {"name": "hall", "address": "192.168.88.0/24",
                                         "secret": "a-long-secret", "vendor": "mikrotik"})
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["address"] == "192.168.88.0/24" and body["coa_port"] == 3799
    assert body["require_message_authenticator"] is True and "secret" not in body
    r = post(api, f"{V1}/hotspot/nas/{body['id']}", {"coa_port": 1700, "secret": "changed-1"})
    assert r.status_code == 200 and r.json()["coa_port"] == 1700
    assert Nas.objects.get().secret == "changed-1"
    listed = api.get(f"{V1}/hotspot/nas").json()
    assert [n["name"] for n in listed] == ["hall"]
    assert listed[0]["dropped"] == {"bad_authenticator": 0, "missing_authenticator": 0,
                                    "malformed": 0}


@pytest.mark.parametrize("body", [
    {"name": "x", "address": "not-an-ip", "secret": "a-long-secret"},
    {"name": "x", "address": "10.0.0.1", "secret": "short"},
    {"name": "x", "address": "10.0.0.1", "secret": "a-long-secret", "vendor": "cisco"},
    {"name": "x", "address": "10.0.0.1", "secret": "a-long-secret", "coa_port": 0},
    {"name": "x", "address": "10.0.0.1", "secret": "a-long-secret", "extra": 1},
])
def test_bad_gateways_are_refused_with_a_message(api, body):
    r = post(api, f"{V1}/hotspot/nas", body)
    assert r.status_code in (400, 422) and r.json()["detail"]  # 422: refused by the schema
    assert not Nas.objects.exists()


def test_a_gateway_speaks_one_of_the_console_languages_or_the_venues(api):
    nas = make_nas()
    r = post(api, f"{V1}/hotspot/nas/{nas.pk}", {"language": "klingon-long-value!"})
    assert r.status_code == 422
    assert r.json()["detail"] == ("language: Input should be '', 'en', 'fr', 'es', 'it', "
                                  "'pt' or 'de'")
    r = post(api, f"{V1}/hotspot/nas", {"name": "x", "address": "10.0.0.9",
                                         "secret": "a-long-secret", "language": "xx"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "language"
    nas.refresh_from_db()
    assert nas.language == "" and Nas.objects.count() == 1
    r = post(api, f"{V1}/hotspot/nas/{nas.pk}", {"language": "fr"})
    assert r.status_code == 200 and r.json()["language"] == "fr"
    r = post(api, f"{V1}/hotspot/nas/{nas.pk}", {"language": ""})  # back to the venue's
    assert r.status_code == 200 and r.json()["language"] == ""


def test_unknown_gateways_and_plans_are_404_naming_the_id(api):
    r = post(api, f"{V1}/hotspot/nas/999999", {"name": "x"})
    assert r.status_code == 404
    assert r.json() == {"detail": "No gateway with id 999999.", "code": "not_found"}
    r = post(api, f"{V1}/hotspot/plans/999999", {"name": "x"})
    assert r.status_code == 404
    assert r.json() == {"detail": "No plan with id 999999.", "code": "not_found"}


def test_a_negative_plan_price_is_refused_with_a_capitalised_message(api):
    r = post(api, f"{V1}/hotspot/plans", {"name": "Neg", "price_per_hour_minor": -300})
    assert r.status_code == 400
    assert r.json()["detail"] == "Price per hour must be a whole number, zero or more."
    plan = make_plan()
    r = post(api, f"{V1}/hotspot/plans/{plan.pk}", {"minimum_charge_minor": -1})
    assert r.status_code == 400
    assert r.json()["detail"] == "Minimum charge must be a whole number, zero or more."
    assert not Plan.objects.filter(name="Neg").exists()


def test_a_second_gateway_at_the_same_address_is_refused_naming_the_first(api):
    r = post(api, f"{V1}/hotspot/nas", {"name": "hall", "address": "127.0.0.1",
                                         "secret": "a-long-shared-secret", "vendor": "mikrotik"})
    assert r.status_code == 201, r.content
    r = post(api, f"{V1}/hotspot/nas", {"name": "n3", "address": "127.0.0.1/32",
                                         "secret": "sssssssssss"})
    assert r.status_code == 400, r.content
    assert r.json()["code"] == "invalid"
    assert "“hall”" in r.json()["detail"] and "127.0.0.1" in r.json()["detail"]
    assert list(Nas.objects.values_list("name", flat=True)) == ["hall"]
    r = post(api, f"{V1}/hotspot/nas", {"name": "n3", "address": "127.0.0.2",
                                         "secret": "sssssssssss"})
    assert r.status_code == 201
    n3 = r.json()["id"]
    r = post(api, f"{V1}/hotspot/nas/{n3}", {"address": "127.0.0.1"})
    assert r.status_code == 400 and "“hall”" in r.json()["detail"]
    r = post(api, f"{V1}/hotspot/nas/{n3}", {"address": "127.0.0.2/32", "coa_port": 1700})
    assert r.status_code == 200 and r.json()["address"] == "127.0.0.2"


def test_plans_take_money_in_either_form(api):
    r = post(api, f"{V1}/hotspot/plans", {"name": "Wi-Fi", "price_per_hour": "300",
                                           "minimum_charge_minor": 50,
                                           "increment_seconds": 300, "is_default": True})
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["price_per_hour"]["amount_minor"] == 300
    assert body["minimum_charge"]["amount_minor"] == 50
    plan = Plan.objects.get()
    r = post(api, f"{V1}/hotspot/plans/{plan.pk}", {"interim_interval": 30})
    assert r.status_code == 400 and "60" in r.json()["detail"]
    r = post(api, f"{V1}/hotspot/plans/{plan.pk}", {"price_per_mb": "1", "price_per_mb_minor": 1})
    assert r.status_code == 400
    r = post(api, f"{V1}/hotspot/plans", {"name": "Wi-Fi"})
    assert r.status_code == 400 and "exists" in r.json()["detail"]
    assert api.get(f"{V1}/hotspot/plans").json()[0]["name"] == "Wi-Fi"


def test_sessions_list_who_is_online(api, make_customer):
    nas = make_nas()
    make_plan(price_per_hour=3600)
    alice = make_customer("alice")
    give_credit(alice, 1000)
    hs.account(nas, acct("interim", t=60, i=7, o=9))
    rows = api.get(f"{V1}/hotspot/sessions").json()["items"]
    assert len(rows) == 1
    assert rows[0]["username"] == "alice" and rows[0]["debited"]["amount_minor"] == 60


def test_cashier_tokens_cannot_touch_the_hotspot(client, cashier):
    client.force_login(cashier)
    assert client.get(f"{V1}/hotspot/nas").status_code == 403


# --- live sessions and kick ------------------------------------------------------------------
@pytest.fixture
def online(db, make_customer, settings):
    settings.HOTSPOT_COA_SEND_NOW = False
    nas = make_nas(name="hall", vendor="mikrotik")
    make_plan(price_per_hour=3600, increment_seconds=60)
    alice = make_customer("alice")
    give_credit(alice, 1000)
    hs.account(nas, acct("interim", sid="s5", t=120))
    return HotspotSession.objects.get()


def test_live_sessions_show_what_the_credit_still_buys(api, online):
    [row] = api.get(f"{V1}/hotspot/sessions").json()["items"]
    assert row["id"] == online.pk and row["debited"]["amount_minor"] == 120
    # 1000 credit at 1 a second, billed per minute, buys 960 s from the start
    assert row["remaining_seconds"] is not None
    assert row["remaining_seconds"] + row["elapsed"] == 960
    assert row["disconnecting"] is False


def test_kick_queues_one_disconnect_and_is_idempotent(api, online):
    url = f"{V1}/hotspot/sessions/{online.pk}/kick"
    r = api.post(url, HTTP_IDEMPOTENCY_KEY="kick-1")
    assert r.status_code == 202, r.content
    assert r.json()["kind"] == "disconnect" and r.json()["state"] == "pending"
    again = api.post(url, HTTP_IDEMPOTENCY_KEY="kick-1")
    assert again.status_code == 202 and again["Idempotent-Replayed"] == "true"
    assert CoaJob.objects.count() == 1
    r = api.post(url)
    assert r.status_code == 409 and "already" in r.json()["detail"]
    assert api.get(f"{V1}/hotspot/sessions").json()["items"][0]["disconnecting"] is True
    [job] = api.get(f"{V1}/hotspot/coa").json()
    assert job["reason"] == "kick" and job["error_cause"] is None
    # the gateway went silent and the stale-session job closed it: not "disconnecting"
    HotspotSession.objects.filter(pk=online.pk).update(status="stale")
    assert api.get(f"{V1}/hotspot/sessions").json()["items"][0]["disconnecting"] is False


def test_kick_of_an_unknown_session_is_404_and_cashiers_are_refused(api, online, client,
                                                                     cashier):
    assert api.post(f"{V1}/hotspot/sessions/999999/kick").status_code == 404
    client.force_login(cashier)
    assert client.post(f"{V1}/hotspot/sessions/{online.pk}/kick").status_code == 403
    assert not CoaJob.objects.exists()


def test_a_plans_limits_are_one_or_more_and_null_removes_them(api):
    """0 would read as "no limit" to one gateway and "nothing" to another: refused; null
    removes a limit (the console's empty field); too large is a 4xx, never a 500."""
    r = post(api, f"{V1}/hotspot/plans", {"name": "Pass", "quota_bytes": 5_368_709_120,
                                           "validity_seconds": 5400, "rate_up_kbps": 512})
    assert r.status_code == 201, r.content
    pk = r.json()["id"]
    for field in ("quota_bytes", "validity_seconds", "rate_up_kbps", "rate_down_kbps",
                  "idle_timeout"):
        r = post(api, f"{V1}/hotspot/plans/{pk}", {field: 0})
        assert r.status_code == 422, (field, r.content)
        r = post(api, f"{V1}/hotspot/plans/{pk}", {field: 10**20})
        assert r.status_code == 422, (field, r.content)
    plan = Plan.objects.get(pk=pk)
    assert (plan.quota_bytes, plan.validity_seconds, plan.rate_up_kbps) == (
        5_368_709_120, 5400, 512)
    r = post(api, f"{V1}/hotspot/plans/{pk}", {"quota_bytes": None, "validity_seconds": None})
    assert r.status_code == 200, r.content
    assert (r.json()["quota_bytes"], r.json()["validity_seconds"],
            r.json()["rate_up_kbps"]) == (None, None, 512)
    plan.refresh_from_db()
    assert (plan.quota_bytes, plan.validity_seconds) == (None, None)


def test_the_plan_service_refuses_a_zero_limit_for_every_door(db):
    from ficha.core import audit

    with pytest.raises(hs.HotspotError, match="at least 1; leave it empty"):
        hs.create_plan(audit.SYSTEM, name="Zero", quota_bytes=0)
    with pytest.raises(hs.HotspotError, match="at most"):
        hs.create_plan(audit.SYSTEM, name="Huge", devices=2**40)
    assert not Plan.objects.exists()
