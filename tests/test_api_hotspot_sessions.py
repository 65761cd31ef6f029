"""API: session history with filters and pagination, one session with its accounting
records and debits, unknown senders; bad filters are 4xx with a message, never 500."""

from __future__ import annotations

import datetime as dt

import pytest

from ficha.core import clock
from ficha.hotspot import services as hs
from ficha.hotspot.models import HotspotSession, UnknownSource

from .hotspot_support import acct, give_credit, make_nas, make_plan

V1 = "/api/v1"
T0 = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def api(client, manager):
    client.force_login(manager)
    return client


@pytest.fixture
def sessions(db, make_customer, settings):
    """alice: a closed session on hall (day 1) and an open one on kiosk (day 2);
    bob: a session closed as stale on hall (day 2)."""
    settings.HOTSPOT_COA_SEND_NOW = False
    hall = make_nas(name="hall", address="10.0.0.1")
    kiosk = make_nas(name="kiosk", address="10.0.0.2")
    make_plan(price_per_hour=3600, increment_seconds=60)  # 60 per minute
    alice, bob = make_customer("alice"), make_customer("bob")
    give_credit(alice, 10_000)
    give_credit(bob, 10_000)
    with clock.frozen(T0):
        hs.account(hall, acct("start", sid="a1"))
    with clock.frozen(T0 + dt.timedelta(minutes=5)):
        hs.account(hall, acct("interim", sid="a1", t=300, i=10, o=20))
        hs.account(hall, acct("interim", sid="a1", t=300, i=10, o=20))  # retransmitted
    with clock.frozen(T0 + dt.timedelta(minutes=10)):
        hs.account(hall, acct("stop", sid="a1", t=600, i=11, o=22,
                              terminate_cause="User-Request"))
    day2 = T0 + dt.timedelta(days=1)
    with clock.frozen(day2):
        hs.account(kiosk, acct("start", sid="a2", mac="AA:BB:CC:00:00:09"))
        hs.account(hall, acct("interim", sid="b1", user="bob", t=120,
                              mac="AA:BB:CC:00:00:0B"))
    with clock.frozen(day2 + dt.timedelta(hours=1)):
        assert hs.close_stale_sessions() == 2
    # a2 was closed as stale too: one more, open, for alice
    with clock.frozen(day2 + dt.timedelta(hours=2)):
        hs.account(kiosk, acct("start", sid="a3", mac="AA:BB:CC:00:00:09"))
    return {s.acct_session_id: s for s in HotspotSession.objects.all()}


def sids(api, query: str = "") -> list[str]:
    resp = api.get(f"{V1}/hotspot/sessions{query}")
    assert resp.status_code == 200, resp.content
    by_pk = {s.pk: s.acct_session_id for s in HotspotSession.objects.all()}
    return [by_pk[row["id"]] for row in resp.json()["items"]]


def test_filters_pick_the_sessions_a_manager_asks_for(api, sessions):
    hall, kiosk = sessions["a1"].nas, sessions["a3"].nas
    alice = sessions["a1"].customer
    # newest first; b1's Start was lost: it began 2 minutes before its first record
    assert sids(api) == ["a3", "a2", "b1", "a1"]
    assert sids(api, "?status=open") == ["a3"]
    assert sids(api, "?status=closed") == ["a2", "b1", "a1"]
    assert sids(api, f"?customer_id={alice.pk}") == ["a3", "a2", "a1"]
    assert sids(api, "?username=BOB") == ["b1"]
    assert sids(api, f"?nas_id={hall.pk}") == ["b1", "a1"]
    assert sids(api, f"?nas_id={kiosk.pk}&status=closed") == ["a2"]
    assert sids(api, "?mac=aa-bb-cc-00-00-09") == ["a3", "a2"]
    day2 = (T0 + dt.timedelta(days=1)).isoformat()
    assert sids(api, f"?until={day2.replace('+', '%2B')}") == ["b1", "a1"]
    assert sids(api, f"?since={day2.replace('+', '%2B')}&status=closed") == ["a2"]
    assert sids(api, "?since=2026-11-26") == ["a3", "a2", "b1"]  # a date: venue midnight


def test_pages_like_every_list(api, sessions):
    body = api.get(f"{V1}/hotspot/sessions?page_size=3&page=2").json()
    assert (body["count"], body["page"], body["page_size"], body["pages"]) == (4, 2, 3, 2)
    assert len(body["items"]) == 1
    assert api.get(f"{V1}/hotspot/sessions?page=9").json()["items"] == []


def test_rows_say_how_a_session_ended_and_what_it_cost(api, sessions):
    by_sid = {s.pk: sid for sid, s in sessions.items()}
    rows = {by_sid[r["id"]]: r for r in api.get(f"{V1}/hotspot/sessions").json()["items"]}
    a1, b1, a3 = rows["a1"], rows["b1"], rows["a3"]
    assert (a1["status"], a1["terminate_cause"], a1["session_time"]) == (
        "closed", "User-Request", 600)
    assert a1["debited"]["amount_minor"] == 600 and a1["unpaid"]["amount_minor"] == 0
    assert a1["remaining_seconds"] is None and a1["elapsed"] == 600
    assert (b1["status"], b1["terminate_cause"]) == ("stale", "Stale")
    assert a3["status"] == "open" and a3["remaining_seconds"] is not None


def test_one_session_with_its_records_and_debits(api, sessions):
    a1 = sessions["a1"]
    resp = api.get(f"{V1}/hotspot/sessions/{a1.pk}")
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert [r["kind"] for r in body["records"]] == ["start", "interim", "stop"]
    assert [r["debit"]["amount_minor"] for r in body["records"]] == [0, 300, 300]
    assert [d["amount"]["amount_minor"] for d in body["debits"]] == [300, 300]
    assert {d["transaction_id"] for d in body["debits"]} == {
        r["transaction_id"] for r in body["records"] if r["transaction_id"]}
    assert body["records"][2]["terminate_cause"] == "User-Request"
    assert body["requests"] == []
    assert api.get(f"{V1}/hotspot/sessions/999999").status_code == 404


@pytest.mark.parametrize("query", [
    "?status=gone", "?customer_id=abc", "?customer_id=0", "?nas_id=-1", "?mac=zz:zz",
    "?mac=" + "A" * 200, "?since=yesterday", "?until=2026-13-45",
    "?since=2026-11-27&until=2026-11-25", "?page=0", "?page_size=100000", "?per_page=5",
    "?username=" + "x" * 500, "?since=2026-11-25T12:00:00%2B99:00",
])
def test_bad_filters_are_refused_with_a_message(api, sessions, query):
    resp = api.get(f"{V1}/hotspot/sessions{query}")
    assert resp.status_code in (400, 422), (query, resp.status_code)
    assert resp.json()["detail"]


def test_only_managers_see_sessions(client, cashier, sessions):
    client.force_login(cashier)
    assert client.get(f"{V1}/hotspot/sessions").status_code == 403
    assert client.get(f"{V1}/hotspot/sessions/{sessions['a1'].pk}").status_code == 403
    assert client.get(f"{V1}/hotspot/unknown-senders").status_code == 403
    client.logout()
    assert client.get(f"{V1}/hotspot/sessions").status_code in (401, 403)


def test_unknown_senders_are_listed(api, db):
    with clock.frozen(T0):
        UnknownSource.objects.create(address="203.0.113.9", dropped=7)
    [row] = api.get(f"{V1}/hotspot/unknown-senders").json()
    assert (row["address"], row["dropped"]) == ("203.0.113.9", 7)


def test_the_routes_are_in_the_openapi_document(api):
    paths = api.get(f"{V1}/openapi.json").json()["paths"]
    params = {p["name"] for p in paths["/api/v1/hotspot/sessions"]["get"]["parameters"]}
    assert {"status", "customer_id", "username", "nas_id", "mac", "since", "until", "page",
            "page_size"} <= params
    assert "/api/v1/hotspot/sessions/{session_id}" in paths
    assert "/api/v1/hotspot/unknown-senders" in paths
