"""API: a customer's own hotspot plan (the per-account override of the price group's),
audited, and what the next login gets with it."""

from __future__ import annotations

from ficha.core.models import AuditLog
from ficha.hotspot import services as hs

from .hotspot_support import give_credit, make_nas, make_plan

V1 = "/api/v1"


def post(client, url, body):
    return client.post(url, body, content_type="application/json")


def test_an_override_changes_what_the_next_login_buys_and_can_be_removed(
        client, manager, make_customer):
    client.force_login(manager)
    nas = make_nas()
    standard = make_plan(name="standard", price_per_hour=600)  # default
    cheap = make_plan(name="cheap", price_per_hour=300, is_default=False)
    alice = make_customer("alice", password="alice-secret-1")
    give_credit(alice, 600)
    url = f"{V1}/hotspot/customers/{alice.pk}/plan"
    body = client.get(url).json()
    assert body["override"] is None and body["plan"]["name"] == "standard"
    r = post(client, url, {"plan_id": cheap.pk})
    assert r.status_code == 200, r.content
    assert r.json()["override"]["name"] == "cheap" and r.json()["plan"]["name"] == "cheap"
    d = hs.authorize(nas, hs.AuthRequest(username="alice", password="alice-secret-1"))
    assert d.accept and d.plan == cheap and d.session_timeout == 7200
    assert AuditLog.objects.filter(action="hotspot.customer_plan").count() == 1
    r = post(client, url, {"plan_id": None})
    assert r.status_code == 200 and r.json()["override"] is None
    assert r.json()["plan"]["id"] == standard.pk


def test_bad_requests_are_4xx_with_a_message(client, manager, cashier, make_customer):
    client.force_login(manager)
    make_plan()
    alice = make_customer("alice")
    url = f"{V1}/hotspot/customers/{alice.pk}/plan"
    for body in ({"plan_id": 999999}, {"plan_id": "x"}, {}, {"plan_id": 1, "extra": 1}):
        r = post(client, url, body)
        assert r.status_code in (400, 422) and r.json()["detail"], body
    for r in (client.get(f"{V1}/hotspot/customers/999999/plan"),
              post(client, f"{V1}/hotspot/customers/999999/plan", {"plan_id": None})):
        assert r.status_code == 404
        assert r.json() == {"detail": "No customer with id 999999.", "code": "not_found"}
    client.force_login(cashier)
    assert client.get(url).status_code == 403
    assert post(client, url, {"plan_id": None}).status_code == 403
