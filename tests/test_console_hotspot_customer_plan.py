"""Console: a customer's own Wi-Fi plan, from their page (managers only, audited)."""

from __future__ import annotations

from ficha.core.models import AuditLog
from ficha.hotspot import services as hs
from ficha.hotspot.models import HotspotAccount

from .hotspot_support import make_plan


def test_a_manager_gives_a_customer_their_own_plan_and_takes_it_back(client, manager,
                                                                     make_customer):
    client.force_login(manager)
    make_plan(name="standard")
    vip = make_plan(name="vip", price_per_hour=100, is_default=False)
    alice = make_customer("alice")
    page = client.get(f"/console/customers/{alice.pk}/").content.decode()
    url = f"/console/hotspot/customers/{alice.pk}/plan/"
    assert url in page
    form = client.get(url).content.decode()
    assert "Plan that applies now: standard." in form
    resp = client.post(url, {"plan": vip.pk})
    assert resp.status_code == 302 and resp["Location"] == f"/console/customers/{alice.pk}/"
    assert hs.plan_for(alice, HotspotAccount.objects.get(customer=alice)) == vip
    assert "Plan that applies now: vip." in client.get(url).content.decode()
    assert client.post(url, {"plan": ""}).status_code == 302
    assert hs.plan_for(alice, HotspotAccount.objects.get(customer=alice)).name == "standard"
    assert AuditLog.objects.filter(action="hotspot.customer_plan").count() == 2
    assert client.post(url, {"plan": "999999"}).status_code == 400


def test_cashiers_see_no_plan_link_and_cannot_open_it(client, cashier, make_customer):
    client.force_login(cashier)
    alice = make_customer("alice")
    url = f"/console/hotspot/customers/{alice.pk}/plan/"
    page = client.get(f"/console/customers/{alice.pk}/")
    assert url not in page.content.decode()
    assert client.get(url).status_code == 403
    assert client.post(url, {"plan": ""}).status_code == 403
